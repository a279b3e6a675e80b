"""The runtime's semantics with real C plugins: criteria, strategies, routing, fan-in,
accumulator kinds, trigger-less graphs, reactor commands, failures, hooks, tenants."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloacina_host import (
    Host,
    InvalidInputError,
    NotFoundError,
    ReactorNotLoadedError,
    Runtime,
)
from cloacina_host.errors import StateError


@pytest.fixture
def multi(rt: Runtime, c_plugins: dict[str, Path]) -> Runtime:
    rt.load(c_plugins["test_multi"])
    return rt


def test_when_all_waits_for_all(multi: Runtime) -> None:
    assert multi.push("a", 1) == 0
    assert multi.push("a", 2) == 0
    assert multi.push("b", 3) == 1
    assert multi.outputs("all_graph")[-1].outputs == {"both": [2, 3]}
    assert multi.push("b", 4) == 0  # flags were cleared by the fire
    assert multi.push("a", 5) == 1
    assert multi.outputs("all_graph")[-1].outputs == {"both": [5, 4]}


def test_sequential_fires_once_per_boundary(multi: Runtime) -> None:
    assert multi.push_many("s", [1, 2, 3]) == 3
    assert [r.outputs for r in multi.outputs("seq_graph")] == [
        {"each": [1]},
        {"each": [2]},
        {"each": [3]},
    ]
    # latest coalesces the same batch into one fire with the newest value
    assert multi.push_many("l", [1, 2, 3]) == 1
    assert multi.outputs("latest_graph")[-1].outputs == {"each": [{"tagged": 3}]}


def test_sequential_when_all_pairs_boundaries(multi: Runtime) -> None:
    assert multi.push_many("x", [1, 2]) == 0
    assert multi.push_many("y", [10, 20, 30]) == 2
    assert [r.outputs for r in multi.outputs("seq_all_graph")] == [
        {"both": [1, 10]},
        {"both": [2, 20]},
    ]
    assert multi.push("x", 3) == 1
    assert multi.outputs("seq_all_graph")[-1].outputs == {"both": [3, 30]}


def test_routing_takes_one_branch(multi: Runtime) -> None:
    multi.push("level", {"value": 50})
    assert multi.outputs("router")[-1].outputs == {"alert": {"value": 50}}
    multi.push("level", {"value": 1})
    assert multi.outputs("router")[-1].outputs == {"note": {"value": 1}}
    # a bare string is a unit variant: its route runs with null
    assert multi.outputs("unit_router")[-1].outputs == {"quiet": None}


def test_fan_out_and_fan_in(multi: Runtime) -> None:
    multi.push("level", {"value": 7})
    # join gets its cache input first, then left and right in declaration order
    v = {"value": 7}
    assert multi.outputs("diamond")[-1].outputs == {"join": [v, [v], [v]]}


def test_state_and_batch_accumulators(multi: Runtime) -> None:
    for i in range(5):
        multi.push("window", i)
    assert multi.outputs("window_graph")[-1].outputs == {"window_out": [2, 3, 4], "batch_out": None}
    fires = multi.reactor("WindowReactor").stats.fires
    assert multi.push("batch", '"a"') == 0  # text is JSON: the string "a"; buffering
    assert multi.push("batch", ["b"]) == 1  # max_buffer_size 2 reached
    assert multi.outputs("window_graph")[-1].outputs["batch_out"] == ["a", ["b"]]
    multi.push("batch", {"c": 1})
    multi.tick(now=10**9)  # flush interval passed (the package's poller polls too)
    assert multi.outputs("window_graph")[-1].outputs["batch_out"] == [{"c": 1}]
    assert multi.reactor("WindowReactor").stats.fires == fires + 2


def test_polling_accumulator(multi: Runtime) -> None:
    start = 10.0**6
    assert multi.tick(now=start) == 1  # first poll: {"poll": 1}
    assert multi.outputs("poll_graph")[-1].outputs == {"polled": [{"poll": 1}]}
    assert multi.tick(now=start + 0.5) == 0  # interval (1 s) not reached: no poll
    assert multi.tick(now=start + 1.0) == 0  # second poll answers null: no boundary
    assert multi.tick(now=start + 2.0) == 1
    assert multi.outputs("poll_graph")[-1].outputs == {"polled": [{"poll": 3}]}
    acc = multi.reactor("PollReactor").accumulators["poller"]
    assert acc.events_total == 2


def test_trigger_less_graph_on_demand(multi: Runtime) -> None:
    run = multi.invoke("adder", {"p": 1, "q": [2]})
    assert run.ok and run.outputs == {"adder": [1, [2]]}
    assert multi.invoke("adder").outputs == {"adder": [None, None]}
    with pytest.raises(NotFoundError):
        multi.invoke("router")


def test_force_fire_fire_with_pause_resume(multi: Runtime) -> None:
    runs = multi.fire("AllReactor")
    assert [r.outputs for r in runs] == [{"both": [None, None]}]
    runs = multi.fire("AllReactor", {"a": {"k": 1}})
    assert runs[0].outputs == {"both": [{"k": 1}, None]}
    with pytest.raises(InvalidInputError, match="has no accumulator 'zzz'"):
        multi.fire("AllReactor", {"zzz": 1})
    multi.pause("SeqReactor")
    assert multi.push_many("s", [1, 2]) == 0
    with pytest.raises(StateError):
        multi.pause("SeqReactor")
    assert multi.resume("SeqReactor") == 2
    state = multi.reactor("SeqReactor").state_snapshot()
    assert state["cache"] == {"s": 2} and state["state"] == "running"


def test_failing_graph_is_isolated(rt: Runtime, c_plugins: dict[str, Path]) -> None:
    rt.load(c_plugins["test_failing"])
    runs = {r.graph: r for r in rt.fire("FailReactor", {"x": {"n": 1}})}
    assert runs["good_graph"].outputs == {"good": {"n": 1}}
    assert "bad node refused the input" in (runs["bad_graph"].error or "")
    assert "plugin_error" in (runs["bad_graph"].error or "")
    assert "returned invalid JSON" in (runs["garbage_graph"].error or "")
    assert "over the 16777216-byte output limit" in (runs["huge_graph"].error or "")
    assert "(panic): (no message)" in (runs["silent_graph"].error or "")
    assert "variant 'Sideways', which has no route" in (runs["variant_graph"].error or "")
    sub = rt.reactor("FailReactor").subscribers
    assert sub["good_graph"].ok_total == 1 and sub["bad_graph"].failed_total == 1
    # the host keeps serving
    rt.push("x", 2)
    assert rt.outputs("good_graph")[-1].outputs == {"good": 2}


def test_every_buffer_is_released_exactly_once(rt: Runtime, c_plugins: dict[str, Path]) -> None:
    rt.load(c_plugins["test_hooks"])
    for _ in range(50):
        rt.push("h", 1)
    # the 51st call reports the ledger of the first 50 buffers
    rt.push("h", 1)
    assert rt.outputs("ledger_graph")[-1].outputs == {
        "ledger": {"allocated": 50, "released": 50, "double": 0}
    }


def test_init_context_and_shutdown_hook(
    rt: Runtime, c_plugins: dict[str, Path], tmp_path: Path
) -> None:
    log = tmp_path / "shutdown.log"
    rt.load(c_plugins["test_hooks"], config={"shutdown_log": str(log)})
    rt.push("h", 1)
    rt.push("h", 1)
    assert rt.outputs("hook_graph")[-1].outputs == {"count": {"calls": 2}}
    rt.unload("test-hooks")
    assert log.read_text() == "shutdown after 2 calls\n"
    from cloacina_host import PluginCallError

    with pytest.raises(PluginCallError, match="init hook in package 'test-hooks' failed"):
        rt.load(c_plugins["test_hooks"], config={"fail": True})
    assert rt.counts()["packages"] == 0


def test_tenants_are_isolated(host: Host, c_plugins: dict[str, Path]) -> None:
    a, b = host.runtime("a"), host.runtime("b")
    a.load(c_plugins["pricing-publisher"])
    with pytest.raises(ReactorNotLoadedError):
        b.load(c_plugins["pricing-subscriber"])
    b.load(c_plugins["pricing-publisher"])  # same names coexist in another tenant
    b.load(c_plugins["pricing-subscriber"])
    a.push("raw_prices", {"price": 1})
    assert a.reactor("PriceReactor").stats.fires == 1
    assert b.reactor("PriceReactor").stats.fires == 0
    with pytest.raises(NotFoundError):
        a.outputs("price_consumer")


def test_same_package_twice_is_refused(pricing: Runtime, c_plugins: dict[str, Path]) -> None:
    from cloacina_host import LoadError

    with pytest.raises(LoadError, match="package 'pricing-publisher' is already loaded"):
        pricing.load(c_plugins["pricing-publisher"])
    pricing.push("raw_prices", {"price": 4})
    assert pricing.outputs("price_consumer")[-1].ok
