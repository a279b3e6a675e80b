"""The pure graph model and registry: no libraries involved."""

from __future__ import annotations

import pytest

from cloacina_host.errors import (
    BindingError,
    DuplicateNameError,
    GuardError,
    ReactorNotLoadedError,
    TopologyError,
)
from cloacina_host.graph import plan_graph
from cloacina_host.registry import Registry
from cloacina_host.types import GraphDecl, NodeDecl, PackageDecl, ReactorDecl


def graph(*nodes: NodeDecl, trigger: str | None = "R") -> GraphDecl:
    return GraphDecl("g", trigger, nodes)


def test_order_and_upstream_follow_declaration_order() -> None:
    plan = plan_graph(
        graph(
            NodeDecl("join", inputs=("a",)),
            NodeDecl("right", next=("join",)),
            NodeDecl("split", inputs=("a",), next=("left", "right")),
            NodeDecl("left", next=("join",)),
        ),
        "p",
    )
    assert plan.entries == ("split",)
    assert plan.terminals == ("join",)
    assert plan.order.index("split") < plan.order.index("left") < plan.order.index("join")
    assert plan.upstream["join"] == ("right", "left")


@pytest.mark.parametrize(
    ("nodes", "text"),
    [
        ((), "has no nodes"),
        ((NodeDecl("a", next=("b",)), NodeDecl("b", next=("a",))), "cycle detected"),
        ((NodeDecl("a", next=("a",)),), "points to itself"),
        ((NodeDecl("a", next=("zzz",)),), "points to unknown node 'zzz'"),
        ((NodeDecl("a"), NodeDecl("a")), "declares node 'a' twice"),
        ((NodeDecl("a", has_function=False),), "node 'a' has no function"),
        ((NodeDecl("a", next=("b",), routes=(("X", "b"),)), NodeDecl("b")), "both next and routes"),
        (
            (NodeDecl("a", routes=(("X", "b"), ("X", "b"))), NodeDecl("b")),
            "route variant more than once",
        ),
        ((NodeDecl("a", inputs=("x", "x")),), "lists an input more than once"),
    ],
)
def test_invalid_topologies(nodes: tuple[NodeDecl, ...], text: str) -> None:
    with pytest.raises(TopologyError, match=text):
        plan_graph(graph(*nodes), "p")


def pkg(
    name: str, reactors: tuple[ReactorDecl, ...] = (), graphs: tuple[GraphDecl, ...] = ()
) -> PackageDecl:
    return PackageDecl(name, "1", 1, reactors=reactors, graphs=graphs)


def test_registry_binding_and_guard() -> None:
    reg = Registry("t")
    r = ReactorDecl("R", ("a", "b"))
    g = GraphDecl("g", "R", (NodeDecl("n", inputs=("a",)),))
    with pytest.raises(ReactorNotLoadedError, match="reactor 'R' not loaded"):
        reg.check_binding("sub", g, {})
    reg.check_names(pkg("pub", (r,)))
    reg.add_reactor("pub", r)
    with pytest.raises(DuplicateNameError, match="by package 'pub'"):
        reg.check_names(pkg("other", (ReactorDecl("X", ("b",)),)))
    reg.check_binding("sub", g, {})
    reg.add_graph("sub", g)
    with pytest.raises(GuardError, match=r"has 1 bound subscriber\(s\): \['g'\]"):
        reg.check_teardown("pub", ["R"])
    reg.check_teardown("sub", [])  # the subscriber may go
    bad = GraphDecl("h", "R", (NodeDecl("n", inputs=("gamma",)),))
    with pytest.raises(BindingError, match="'gamma'"):
        reg.check_binding("sub2", bad, {})
    assert reg.remove_graph("g") == "R"
    reg.check_teardown("pub", ["R"])
    reg.remove_reactor("R")
    assert reg.size() == 0
