"""The reactor on its own: criteria, input strategies, pause/resume and fires, with
function-less accumulators and a Python stand-in for a graph. No library is loaded."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from cloacina_host.core.accumulator import Accumulator
from cloacina_host.core.executor import LiveGraph
from cloacina_host.core.reactor import Reactor, ReactorState
from cloacina_host.errors import DeclarationError, InvalidInputError, PluginCallError, StateError
from cloacina_host.types import (
    AccumulatorDecl,
    AccumulatorKind,
    Criteria,
    InputStrategy,
    ReactorDecl,
    Status,
)


class Recorder:
    """Stands in for a GraphExecutor: records each snapshot it is run with."""

    time_nodes = False

    def __init__(self, name: str = "g", fail: bool = False) -> None:
        self.plan = type("Plan", (), {"name": name})()
        self.fail = fail
        self.seen: list[dict[str, Any]] = []

    def run_locked(self, snapshot: Mapping[str, bytes | None], timing: Any = None) -> Any:
        self.seen.append({k: None if v is None else orjson.loads(v) for k, v in snapshot.items()})
        if self.fail:
            raise PluginCallError("node 'n' of graph 'g' in package 'p' failed", Status.PANIC)
        return {"n": len(self.seen)}


def reactor(
    *accs: str,
    criteria: Criteria = Criteria.WHEN_ANY,
    on: tuple[str, ...] = (),
    strategy: InputStrategy = InputStrategy.LATEST,
    kinds: dict[str, AccumulatorDecl] | None = None,
) -> Reactor:
    decl = ReactorDecl("R", accs, criteria, on, strategy)
    kinds = kinds or {}
    accumulators = {a: Accumulator(kinds.get(a, AccumulatorDecl(a)), "R", "p") for a in accs}
    return Reactor(decl, "p", "t", accumulators)


def bind(r: Reactor, name: str = "g", fail: bool = False) -> Recorder:
    recorder = Recorder(name, fail)
    r.bind(LiveGraph(name, "p", recorder, deque(maxlen=10)))  # type: ignore[arg-type]
    return recorder


def push(r: Reactor, acc: str, *values: Any) -> int:
    return r.push(acc, [orjson.dumps(v) for v in values])


def test_when_any_latest_coalesces_a_wake_up() -> None:
    r = reactor("a", "b")
    g = bind(r)
    assert push(r, "a", 1, 2, 3) == 1  # one wake-up, one fire, newest value
    assert g.seen == [{"a": 3, "b": None}]
    assert push(r, "b", "x") == 1
    assert g.seen[-1] == {"a": 3, "b": "x"}
    assert r.stats.fires == 2 and r.subscribers["g"].ok_total == 2


def test_when_all_waits_for_every_criteria_accumulator() -> None:
    r = reactor("a", "b", "c", criteria=Criteria.WHEN_ALL, on=("a", "b"))
    g = bind(r)
    assert push(r, "a", 1) == 0
    assert push(r, "c", "ignored by the criteria") == 0
    assert push(r, "b", 2) == 1
    assert g.seen == [{"a": 1, "b": 2, "c": "ignored by the criteria"}]
    assert push(r, "a", 3) == 0  # the flags were cleared by the fire


def test_sequential_fires_once_per_boundary_in_arrival_order() -> None:
    r = reactor("a", "b", strategy=InputStrategy.SEQUENTIAL)
    g = bind(r)
    assert push(r, "a", 1, 2) == 2
    assert push(r, "b", "x") == 1
    assert [s["a"] for s in g.seen] == [1, 2, 2]
    assert g.seen[-1]["b"] == "x"


def test_sequential_when_all_pairs_boundaries() -> None:
    r = reactor("a", "b", criteria=Criteria.WHEN_ALL, strategy=InputStrategy.SEQUENTIAL)
    g = bind(r)
    assert push(r, "a", 1, 2, 3) == 0
    assert push(r, "b", "x", "y") == 2
    assert [(s["a"], s["b"]) for s in g.seen] == [(1, "x"), (2, "y")]
    assert r.state_snapshot()["queued"] == 1  # a's third boundary waits for a partner


def test_a_reactor_without_subscribers_still_counts_fires() -> None:
    r = reactor("a")
    assert push(r, "a", 1) == 1 and r.stats.fires == 1


def test_pause_holds_fires_and_resume_drains_them() -> None:
    r = reactor("a", strategy=InputStrategy.SEQUENTIAL)
    g = bind(r)
    r.pause()
    assert push(r, "a", 1, 2) == 0 and g.seen == []
    assert r.state_snapshot()["state"] == "paused"
    assert r.resume() == 2 and [s["a"] for s in g.seen] == [1, 2]
    with pytest.raises(StateError, match="cannot go from running to running"):
        r.transition(ReactorState.RUNNING)


def test_force_fire_and_fire_with() -> None:
    r = reactor("a", "b")
    g = bind(r)
    (run,) = r.fire()
    assert run.ok and run.outputs == {"n": 1} and g.seen == [{"a": None, "b": None}]
    r.fire({"b": b'"given"'})
    assert g.seen[-1] == {"a": None, "b": "given"}
    with pytest.raises(InvalidInputError, match="has no accumulator 'zzz'"):
        r.fire({"zzz": b"1"})


def test_a_failing_graph_does_not_stop_the_others() -> None:
    r = reactor("a")
    bad, good = bind(r, "bad", fail=True), bind(r, "good")
    assert push(r, "a", 1) == 1
    assert len(bad.seen) == len(good.seen) == 1
    assert r.subscribers["bad"].failed_total == 1 and r.subscribers["good"].ok_total == 1
    assert r.subscribers["bad"].runs[-1].error is not None


def test_unbind_and_stop() -> None:
    r = reactor("a")
    g = bind(r)
    r.unbind("g")
    push(r, "a", 1)
    assert g.seen == []
    r.stop()
    with pytest.raises(StateError, match="is stopped"):
        push(r, "a", 2)
    with pytest.raises(StateError, match="is stopped"):
        r.fire()


def test_state_and_batch_accumulators_without_functions() -> None:
    kinds = {
        "w": AccumulatorDecl("w", AccumulatorKind.STATE, {"capacity": 2}),
        "b": AccumulatorDecl("b", AccumulatorKind.BATCH, {"max_buffer_size": 3}),
    }
    r = reactor("w", "b", kinds=kinds)
    g = bind(r)
    push(r, "w", 1, 2, 3)
    assert g.seen[-1]["w"] == [2, 3]  # a window of the last two
    assert push(r, "b", 1, 2) == 0 and r.accumulators["b"].buffer_depth == 2
    assert push(r, "b", 3) == 1 and g.seen[-1]["b"] == [1, 2, 3]
    push(r, "b", 4)
    assert r.tick(r.accumulators["b"]._last_flush + 1.0) == 1  # flush_interval_ms: 1000
    assert g.seen[-1]["b"] == [4]


def test_a_setting_the_library_check_would_refuse_is_refused_again() -> None:
    # the library check (core/configs.py) refuses it first; an accumulator made without it
    # does not run with a value it cannot use
    decl = AccumulatorDecl("b", AccumulatorKind.BATCH, {"max_buffer_size": "2"})
    with pytest.raises(DeclarationError, match="'max_buffer_size' = '2' did not pass the library"):
        Accumulator(decl, "R", "p")


# ---------------------------------------------------------------------- saved state


def test_export_then_adopt_carries_everything_without_firing() -> None:
    """What an event plane saves: another reactor that adopts it is the same reactor."""
    kinds = {
        "w": AccumulatorDecl("w", AccumulatorKind.STATE, {"capacity": 2}),
        "b": AccumulatorDecl("b", AccumulatorKind.BATCH, {"max_buffer_size": 5}),
    }
    a = reactor("q", "w", "b", strategy=InputStrategy.SEQUENTIAL, kinds=kinds)
    bind(a)
    push(a, "q", {"n": 1}, {"n": 2})
    push(a, "w", 1, 2, 3)
    push(a, "b", "x", "y")  # still filling: no boundary yet
    a.pause()
    push(a, "q", {"n": 3})  # queued while paused
    saved = a.export()
    b = reactor("q", "w", "b", strategy=InputStrategy.SEQUENTIAL, kinds=kinds)
    other = bind(b)
    b.adopt(saved)
    assert other.seen == []  # adopting fires nothing
    assert b.export() == saved
    assert b.state is ReactorState.PAUSED and b.stats.fires == a.stats.fires == 5
    assert b.subscribers["g"].ok_total == graph_ok(a)
    assert b.resume() == 1  # the queued boundary fires on the adopter
    assert other.seen[-1]["q"] == {"n": 3}
    push(b, "w", 4)  # the window carried over
    assert other.seen[-1]["w"] == [3, 4]
    assert push(b, "b", "z", "u", "v") == 1  # and the filling batch: 2 + 3 = 5 flushes
    assert other.seen[-1]["b"] == ["x", "y", "z", "u", "v"]


def graph_ok(r: Reactor) -> int:
    return r.subscribers["g"].ok_total


def test_adopting_nothing_is_a_fresh_reactor() -> None:
    r = reactor("a")
    bind(r)
    push(r, "a", 1, 2)
    r.adopt({})
    assert (r.stats.fires, r.cache, graph_ok(r)) == (0, {"a": None}, 0)
    assert r.accumulators["a"].events_total == 0


def test_a_save_from_another_version_keeps_what_still_exists() -> None:
    old = reactor("a", "gone")
    push(old, "a", {"v": 1})
    new = reactor("a", "added")
    new.adopt(old.export())
    assert new.cache == {"a": b'{"v":1}', "added": None}
    assert new.stats.fires == 1
