"""The Rust SDK through the host: the tutorial's crates built unchanged, mixed C/Rust
bindings in both directions, routing / fan-in / when_all, and panics that come back
as errors while the host keeps serving. Every graph test runs twice: through the
fused whole-graph function and node by node (``use_fused=False``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloacina_host import (
    GuardError,
    Host,
    PluginCallError,
    ReactorNotLoadedError,
    Runtime,
)
from cloacina_host.core import ffi
from cloacina_host.types import AccumulatorKind, Criteria, InputStrategy


@pytest.fixture(params=[True, False], ids=["fused", "node-by-node"])
def rrt(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    host = Host(use_fused=request.param)
    yield host.runtime("acme")
    host.close()


def test_mirror_layout_matches_cffi(rust_mirror_layout: dict[str, dict[str, int]]) -> None:
    assert rust_mirror_layout == ffi.layout()


def test_declarations_read_from_rust_libraries(rrt: Runtime, rust_plugins: dict[str, Path]) -> None:
    pub = rrt.load(rust_plugins["pricing-publisher"])
    assert (pub.name, pub.version, pub.abi_version, pub.thread_safe) == (
        "pricing-publisher",
        "0.1.0",
        1,
        True,
    )
    (reactor,) = pub.reactors
    assert reactor.name == "PriceReactor"
    assert reactor.accumulators == ("raw_prices", "normalized_prices")
    assert reactor.criteria == Criteria.WHEN_ANY
    assert reactor.input_strategy == InputStrategy.LATEST
    assert {(a.name, a.kind, a.has_function) for a in pub.accumulators} == {
        ("raw_prices", AccumulatorKind.PASSTHROUGH, True),
        ("normalized_prices", AccumulatorKind.PASSTHROUGH, True),
    }
    assert pub.graphs == ()
    sub = rrt.load(rust_plugins["pricing-subscriber"])
    (graph,) = sub.graphs
    assert (graph.name, graph.trigger_reactor) == ("price_consumer", "PriceReactor")
    assert [n.to_dict() for n in graph.nodes] == [
        {"name": "score", "inputs": ["raw_prices", "normalized_prices"], "next": ["publish"]},
        {"name": "publish", "inputs": []},
    ]
    assert sub.reactors == () and sub.accumulators == ()


def test_rust_tutorial_flow(rrt: Runtime, rust_plugins: dict[str, Path]) -> None:
    with pytest.raises(ReactorNotLoadedError) as err:
        rrt.load(rust_plugins["pricing-subscriber"])
    assert str(err.value) == (
        "Error loading reactor-bound CG 'price_consumer': reactor 'PriceReactor' not loaded"
    )
    rrt.load(rust_plugins["pricing-publisher"])
    rrt.load(rust_plugins["pricing-subscriber"])
    assert rrt.push("raw_prices", {"symbol": "BTCUSD", "price": 42000}) == 1
    run = rrt.outputs("price_consumer")[-1]
    assert run.ok, run.error
    # normalized_prices never produced a boundary: the score node got null -> 0.0
    assert run.outputs == {"publish": {"signal": 0.0}}
    rrt.push("normalized_prices", '{"symbol":"BTCUSD","price":21000}')
    assert rrt.outputs("price_consumer")[-1].outputs == {"publish": {"signal": 2.0}}
    # a normalized price of 0 is guarded, not a division by zero
    rrt.push("normalized_prices", {"price": 0})
    assert rrt.outputs("price_consumer")[-1].outputs == {"publish": {"signal": 0.0}}
    assert rrt.reactor("PriceReactor").stats.fires == 3

    with pytest.raises(GuardError) as guard:
        rrt.unload("pricing-publisher")
    assert str(guard.value) == (
        "reactor 'PriceReactor' has 1 bound subscriber(s): ['price_consumer']; unbind them first"
    )
    assert rrt.unload("pricing-subscriber").lines() == [
        "reactor PriceReactor now has 0 subscribers"
    ]
    assert rrt.unload("pricing-publisher").lines() == ["reactor PriceReactor torn down"]
    assert set(rrt.counts().values()) == {0}


def test_rust_graph_binds_to_c_reactor(
    rrt: Runtime, rust_plugins: dict[str, Path], c_plugins: dict[str, Path]
) -> None:
    rrt.load(c_plugins["pricing-publisher"])
    rrt.load(rust_plugins["pricing-subscriber"])
    assert rrt.registry.subscribers("PriceReactor") == ["price_consumer"]
    rrt.push("raw_prices", {"symbol": "ETHUSD", "price": 3000})
    rrt.push("normalized_prices", {"symbol": "ETHUSD", "price": 1000})
    runs = rrt.outputs("price_consumer")
    assert [r.outputs for r in runs] == [{"publish": {"signal": 0.0}}, {"publish": {"signal": 3.0}}]
    with pytest.raises(GuardError):
        rrt.unload("pricing-publisher")
    rrt.unload("pricing-subscriber")
    rrt.unload("pricing-publisher")


def test_c_graph_binds_to_rust_reactor(
    rrt: Runtime, rust_plugins: dict[str, Path], c_plugins: dict[str, Path]
) -> None:
    rrt.load(rust_plugins["pricing-publisher"])
    rrt.load(c_plugins["pricing-subscriber"])
    rrt.push("raw_prices", {"symbol": "BTCUSD", "price": 42000})
    rrt.push("normalized_prices", {"symbol": "BTCUSD", "price": 21000})
    assert rrt.outputs("price_consumer")[-1].outputs == {"publish": {"signal": 2}}
    with pytest.raises(GuardError, match=r"\['price_consumer'\]; unbind them first"):
        rrt.unload("pricing-publisher")
    rrt.unload("pricing-subscriber")
    rrt.unload("pricing-publisher")
    assert set(rrt.counts().values()) == {0}


ORDER = {"id": "o-1", "symbol": "btcusd", "quantity": 2, "price": 100.0}


@pytest.fixture
def routing(rrt: Runtime, rust_plugins: dict[str, Path]) -> Runtime:
    rrt.load(rust_plugins["routing-publisher"])
    decl = rrt.load(rust_plugins["routing-subscriber"])
    (graph,) = decl.graphs
    check = graph.nodes[0]
    assert check.name == "check"
    assert check.routes == (("Approved", "execute"), ("Rejected", "reject"))
    return rrt


def test_when_all_waits_for_both_accumulators(routing: Runtime) -> None:
    assert routing.push("orders", ORDER) == 0
    assert routing.outputs("order_router") == []
    assert routing.push("limits", {"max_notional": 1000}) == 1


def test_routing_takes_one_branch_and_fans_in(routing: Runtime) -> None:
    routing.push("limits", {"max_notional": 1000})
    routing.push("orders", ORDER)
    run = routing.outputs("order_router")[-1]
    assert run.ok, run.error
    # Approved -> execute -> settle + audit; reject did not run, settle got null for it
    assert run.outputs == {
        "settle": {"status": "filled", "id": "o-1", "notional": 200.0},
        "audit": "o-1 filled for 200",
    }
    routing.push("limits", {"max_notional": 1000})
    routing.push("orders", {**ORDER, "id": "o-2", "quantity": 50})
    run = routing.outputs("order_router")[-1]
    # Rejected -> reject -> settle; execute and audit did not run
    assert run.outputs == {
        "settle": {
            "status": "rejected",
            "id": "o-2",
            "reason": "notional 5000 exceeds the limit 1000",
        }
    }


def test_typed_accumulator_refuses_a_bad_event(routing: Runtime) -> None:
    with pytest.raises(PluginCallError) as err:
        routing.push("orders", {"id": "o-3", "symbol": "x", "price": 1.0})
    message = str(err.value)
    assert "accumulator `orders`: cannot decode parameter `order`" in message
    assert "missing field `quantity`" in message
    assert routing.reactor("OrderReactor").stats.fires == 0


@pytest.fixture
def panicky(rrt: Runtime, rust_plugins: dict[str, Path]) -> Runtime:
    rrt.load(rust_plugins["panicky"])
    return rrt


def test_panicking_node_is_an_error_of_that_graph(panicky: Runtime) -> None:
    assert panicky.push("volatile", {"panic": True}) == 1
    fragile = panicky.outputs("fragile")[-1]
    assert fragile.outputs is None
    assert fragile.error is not None
    assert "node `explode` of graph `fragile` panicked: node explode was asked to panic" in (
        fragile.error
    )
    assert "src/lib.rs:" in fragile.error  # the panic's location
    # the other graph on the same reactor ran, and the host keeps serving
    assert panicky.outputs("steady")[-1].outputs == {"count": 1}
    panicky.push("volatile", {"n": 1})
    assert panicky.outputs("fragile")[-1].outputs == {"report": {"seen": {"n": 1}}}


def test_panicking_accumulator_is_an_error_of_that_push(panicky: Runtime) -> None:
    with pytest.raises(PluginCallError) as err:
        panicky.push("touchy", {"panic": True})
    assert "accumulator `touchy` panicked: touchy accumulator was asked to panic" in str(err.value)
    assert panicky.reactor("PanicReactor").stats.fires == 0
    assert panicky.push("touchy", {"calm": True}) == 1
    assert panicky.outputs("steady")[-1].outputs == {"count": 1}
    # unloading a library that has panicked is still clean
    panicky.unload("panicky")
    assert set(panicky.counts().values()) == {0}
