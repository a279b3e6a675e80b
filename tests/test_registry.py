"""The pure per-tenant registry: names, owners, bindings, the guard, and the live object
behind each name. Plain values stand in for reactors and graphs; no library is loaded."""

from __future__ import annotations

import pytest

from cloacina_host.core.registry import Registry, guard_message, not_loaded_message
from cloacina_host.errors import BindingError, DuplicateNameError, GuardError, ReactorNotLoadedError
from cloacina_host.types import GraphDecl, NodeDecl, PackageDecl, ReactorDecl

R = ReactorDecl("R", ("a", "b"))
G = GraphDecl("g", "R", (NodeDecl("n", inputs=("a",)),))


def pkg(
    name: str, reactors: tuple[ReactorDecl, ...] = (), graphs: tuple[GraphDecl, ...] = ()
) -> PackageDecl:
    return PackageDecl(name, "1", 1, reactors=reactors, graphs=graphs)


def registry() -> Registry[str, str]:
    return Registry("t")


def test_the_exact_texts() -> None:
    assert guard_message("PriceReactor", ["price_consumer"]) == (
        "reactor 'PriceReactor' has 1 bound subscriber(s): ['price_consumer']; unbind them first"
    )
    assert not_loaded_message("price_consumer", "PriceReactor") == (
        "Error loading reactor-bound CG 'price_consumer': reactor 'PriceReactor' not loaded"
    )


def test_a_misspelt_reactor_name_suggests_the_nearest_loaded_one() -> None:
    reg = registry()
    reg.check_names(pkg("pub", (ReactorDecl("PriceReactor", ("a",)),)))
    reg.add_reactor("pub", ReactorDecl("PriceReactor", ("a",)), "live")
    typo = GraphDecl("g", "PriceReactr", (NodeDecl("n", inputs=("a",)),))
    with pytest.raises(ReactorNotLoadedError) as err:
        reg.check_binding("sub", typo, {})
    assert str(err.value) == (
        "Error loading reactor-bound CG 'g': reactor 'PriceReactr' not loaded"
        " (did you mean 'PriceReactor'?)"
    )
    # a reactor of the graph's own package counts; nothing close: the tutorial's exact text
    own = {"OwnReactr": ReactorDecl("OwnReactr", ("a",))}
    far = GraphDecl("g", "Unrelated", (NodeDecl("n", inputs=("a",)),))
    with pytest.raises(ReactorNotLoadedError) as err:
        reg.check_binding("sub", far, own)
    assert str(err.value) == not_loaded_message("g", "Unrelated")


def test_binding_and_guard() -> None:
    reg = registry()
    with pytest.raises(ReactorNotLoadedError, match="reactor 'R' not loaded"):
        reg.check_binding("sub", G, {})
    reg.check_names(pkg("pub", (R,)))
    reg.add_reactor("pub", R, "live-R")
    with pytest.raises(DuplicateNameError, match="by package 'pub'"):
        reg.check_names(pkg("other", (ReactorDecl("X", ("b",)),)))
    reg.check_binding("sub", G, {})
    reg.add_graph("sub", G, "live-g")
    with pytest.raises(GuardError, match=r"has 1 bound subscriber\(s\): \['g'\]"):
        reg.check_teardown("pub", ["R"])
    reg.check_teardown("sub", [])  # the subscriber may go
    bad = GraphDecl("h", "R", (NodeDecl("n", inputs=("gamma",)),))
    with pytest.raises(BindingError, match="'gamma'"):
        reg.check_binding("sub2", bad, {})
    removed = reg.remove_graph("g")
    assert removed is not None and removed.reactor == "R" and removed.live == "live-g"
    reg.check_teardown("pub", ["R"])
    assert reg.remove_reactor("R") is not None
    assert reg.size() == 0


def test_one_book_holds_the_live_objects() -> None:
    reg = registry()
    entry = reg.add_reactor("pub", R, "live-R")
    reg.add_graph("sub", G, "live-g")
    trigger_less = GraphDecl("t", None, (NodeDecl("n"),))
    reg.add_graph("pub", trigger_less, "live-t")
    assert reg.reactor("R") is entry and entry.live == "live-R" and entry.owner == "pub"
    assert reg.reactor_of("a") is entry and reg.reactor_of("b") is entry
    assert reg.reactor_of("c") is None
    assert reg.graph("g") is not None and reg.graph("g").live == "live-g"  # type: ignore[union-attr]
    assert [g.decl.name for g in reg.bound("R")] == ["g"]  # the trigger-less graph is not bound
    assert reg.subscribers("R") == ["g"]
    assert reg.foreign_subscribers("R", "pub") == ["g"]
    assert reg.foreign_subscribers("R", "sub") == []
    assert reg.has("reactor", "R") and reg.has("accumulator", "b") and reg.has("graph", "t")
    assert not reg.has("reactor", "g") and not reg.has("accumulator", "R")
    assert reg.counts() == {"reactors": 1, "accumulators": 2, "graphs": 2, "bindings": 1}


def test_a_refused_operation_changes_nothing() -> None:
    reg = registry()
    reg.add_reactor("pub", R, "live-R")
    reg.add_graph("sub", G, "live-g")
    before = reg.counts()
    with pytest.raises(DuplicateNameError):
        reg.check_names(pkg("copycat", graphs=(G,)))
    with pytest.raises(DuplicateNameError, match="graph 'g' is already registered"):
        reg.add_graph("copycat", G, "other")
    with pytest.raises(GuardError):
        reg.check_teardown("pub", ["R"])
    assert reg.counts() == before
    assert reg.graph("g").live == "live-g"  # type: ignore[union-attr]


def test_replacing_a_package_may_take_over_its_names() -> None:
    reg = registry()
    reg.add_reactor("pub", R, "v1")
    reg.check_names(pkg("pub", (R,)))  # its own names are its own
    reg.check_names(pkg("pub-next", (R,)), replacing="pub")
    with pytest.raises(DuplicateNameError):
        reg.check_names(pkg("pub-next", (R,)))


def test_bindings_survive_their_reactor_being_replaced() -> None:
    """A hot replace removes and re-adds a reactor: graphs bound to it stay in the book and
    count as its subscribers again once the new reactor is registered."""
    reg = registry()
    reg.add_reactor("pub", R, "v1")
    reg.add_graph("sub", G, "live-g")
    reg.remove_reactor("R")
    assert reg.subscribers("R") == [] and reg.counts()["bindings"] == 0
    reg.add_reactor("pub", R, "v2")
    assert reg.subscribers("R") == ["g"] and reg.reactor("R").live == "v2"  # type: ignore[union-attr]


def test_own_reactors_bind_before_they_are_registered() -> None:
    reg = registry()
    reg.check_binding("pub", G, {"R": R})  # step 5 sees step 3's reactors of the same package
    reg.add_reactor("pub", R, "v1")
    # a new version of pub that no longer declares R cannot bind to the R it replaces
    with pytest.raises(ReactorNotLoadedError):
        reg.check_binding("pub", G, {}, replacing="pub")
    reg.check_binding("other", G, {})  # anyone else binds to the registered R
