"""The reactor: its input cache, criteria (``when_any``/``when_all``), input strategy
(``latest``/``sequential``), pause/resume, and fires that run every bound graph."""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ..errors import InvalidInputError, PluginCallError, StateError
from ..log import get_logger
from ..types import Criteria, InputStrategy, ReactorDecl
from .accumulator import Accumulator
from .executor import GraphRun, LiveGraph, timed_run

log = get_logger()


class Observer(Protocol):
    """Receives runtime measurements as plain values (the server's metrics implement it; a
    tenant worker forwards them to the server)."""

    def reactor_fired(
        self, tenant: str, reactor: str, criteria: str, duration: float, subscribers: int
    ) -> None: ...

    def graph_finished(self, tenant: str, run: GraphRun) -> None: ...

    def accumulator_event(
        self, tenant: str, reactor: str, accumulator: str, kind: str, ok: bool
    ) -> None: ...


class NullObserver:
    """Measures nothing."""

    def reactor_fired(
        self, tenant: str, reactor: str, criteria: str, duration: float, subscribers: int
    ) -> None:
        pass

    def graph_finished(self, tenant: str, run: GraphRun) -> None:
        pass

    def accumulator_event(
        self, tenant: str, reactor: str, accumulator: str, kind: str, ok: bool
    ) -> None:
        pass


class ReactorState(enum.Enum):
    """Lifecycle of a reactor. Illegal transitions raise :class:`StateError`."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


_ALLOWED = {
    ReactorState.RUNNING: {ReactorState.PAUSED, ReactorState.STOPPED},
    ReactorState.PAUSED: {ReactorState.RUNNING, ReactorState.STOPPED},
    ReactorState.STOPPED: set(),
}


@dataclass
class ReactorStats:
    fires: int = 0
    last_fire_at: float | None = None
    fire_seconds_total: float = 0.0


class Reactor:
    """A running reactor: its cache, criteria, strategy and bound graphs.

    All state changes happen under ``lock``; graphs run on the caller's thread.
    """

    def __init__(
        self,
        decl: ReactorDecl,
        package: str,
        tenant: str,
        accumulators: dict[str, Accumulator],
        observer: Observer | None = None,
    ) -> None:
        self.decl = decl
        self.package = package
        self.tenant = tenant
        self.accumulators = accumulators
        self.observer: Observer = observer or NullObserver()
        self._observe = not isinstance(self.observer, NullObserver)
        self.lock = threading.RLock()
        self.state = ReactorState.RUNNING
        self.cache: dict[str, bytes | None] = dict.fromkeys(decl.accumulators)
        #: Bumped whenever a boundary arrives, so a copy of the cache can tell it is stale.
        self.cache_version = 0
        self._criteria = frozenset(decl.criteria_set)
        self._dirty: set[str] = set()
        self._any = decl.criteria is Criteria.WHEN_ANY
        self._sequential = decl.input_strategy is InputStrategy.SEQUENTIAL
        self._queue: deque[tuple[str, bytes]] = deque()  # sequential, when_any: arrival order
        self._queues: dict[str, deque[bytes]] = {a: deque() for a in decl.accumulators}
        #: The graphs this reactor fires, changed under ``lock`` so that an unbind waits for
        #: a fire in flight (the registry records who is bound; this is what runs).
        self.subscribers: dict[str, LiveGraph] = {}
        self.stats = ReactorStats()
        #: When set (under ``lock``), every run of a fire is appended here too.
        self.collect: list[GraphRun] | None = None

    # ------------------------------------------------------------------ lifecycle

    def transition(self, new: ReactorState) -> None:
        with self.lock:
            if new not in _ALLOWED[self.state]:
                raise StateError(
                    f"reactor '{self.decl.name}' cannot go from {self.state.value} to {new.value}",
                    tenant=self.tenant,
                    reactor=self.decl.name,
                )
            self.state = new

    def pause(self) -> None:
        self.transition(ReactorState.PAUSED)

    def resume(self) -> int:
        with self.lock:
            self.transition(ReactorState.RUNNING)
            return self._drain()

    def _stopped(self) -> StateError:
        return StateError(
            f"reactor '{self.decl.name}' is stopped", tenant=self.tenant, reactor=self.decl.name
        )

    def stop(self) -> None:
        with self.lock:
            if self.state is not ReactorState.STOPPED:
                self.transition(ReactorState.STOPPED)
            self.subscribers.clear()

    # ------------------------------------------------------------------ binding

    def bind(self, graph: LiveGraph) -> None:
        """Fire ``graph`` from now on (a new binding, or one kept across a hot replace)."""
        with self.lock:
            self.subscribers[graph.name] = graph

    def unbind(self, graph: str) -> None:
        """Stop firing ``graph``; waits for a fire in flight to finish."""
        with self.lock:
            self.subscribers.pop(graph, None)

    # ------------------------------------------------------------------ events

    def push(
        self,
        accumulator: str,
        events: Iterable[bytes],
        errors: list[PluginCallError] | None = None,
    ) -> int:
        """Feed events to one of this reactor's accumulators in one wake-up; returns the
        number of fires.

        An event the accumulator refuses raises :class:`PluginCallError` (the events before
        it stay applied); with ``errors``, the refusal is recorded there instead and the
        remaining events are still pushed."""
        acc = self.accumulators[accumulator]
        with self.lock:
            if self.state is ReactorState.STOPPED:
                raise self._stopped()
            try:
                for event in events:
                    try:
                        boundaries = acc.ingest(event)
                    except PluginCallError as exc:
                        self.observer.accumulator_event(
                            self.tenant, self.decl.name, acc.name, acc.decl.kind.label, False
                        )
                        if errors is None:
                            raise
                        errors.append(exc)
                        continue
                    for boundary in boundaries:
                        self._offer(accumulator, boundary)
            finally:
                fires = self._drain()
            if self._observe:
                self.observer.accumulator_event(
                    self.tenant, self.decl.name, acc.name, acc.decl.kind.label, True
                )
            return fires

    def tick(self, now: float) -> int:
        with self.lock:
            if self.state is ReactorState.STOPPED:
                return 0
            for name, acc in self.accumulators.items():
                for boundary in acc.tick(now):
                    self._offer(name, boundary)
            return self._drain()

    def _offer(self, accumulator: str, boundary: bytes) -> None:
        self.cache_version += 1
        if self._sequential:
            if self._any:
                self._queue.append((accumulator, boundary))
            else:
                self._queues[accumulator].append(boundary)
        else:
            self.cache[accumulator] = boundary
            self._dirty.add(accumulator)

    def _drain(self) -> int:
        if self.state is not ReactorState.RUNNING:
            return 0
        fires = 0
        if not self._sequential:
            dirty = self._dirty
            if not dirty.isdisjoint(self._criteria) if self._any else dirty >= self._criteria:
                self._fire()
                fires += 1
            return fires
        if self._any:
            while self._queue:
                acc, boundary = self._queue.popleft()
                self.cache[acc] = boundary
                if acc in self._criteria:
                    self._fire()
                    fires += 1
            return fires
        for name, queue in self._queues.items():
            if name not in self._criteria:
                while queue:
                    self.cache[name] = queue.popleft()
        while all(self._queues[c] for c in self._criteria):
            for c in self._criteria:
                self.cache[c] = self._queues[c].popleft()
            self._fire()
            fires += 1
        return fires

    def fire(self, inputs: dict[str, bytes] | None = None) -> list[GraphRun]:
        """Force a fire now (``force_fire``), or replace the cache first (``fire_with``)."""
        with self.lock:
            if self.state is ReactorState.STOPPED:
                raise self._stopped()
            for name, value in (inputs or {}).items():
                if name not in self.cache:
                    raise InvalidInputError(
                        f"reactor '{self.decl.name}' has no accumulator '{name}' "
                        f"(it has {list(self.decl.accumulators)})",
                        tenant=self.tenant,
                        reactor=self.decl.name,
                    )
                self.cache[name] = value
                self.cache_version += 1
            return self._fire()

    def _fire(self) -> list[GraphRun]:
        t0 = time.perf_counter()
        snapshot = dict(self.cache)
        self._dirty.clear()
        stats = self.stats
        stats.fires += 1
        fire_id = stats.fires
        stats.last_fire_at = time.time()
        runs = []
        for sub in tuple(self.subscribers.values()):
            run = timed_run(
                sub.executor, snapshot, self.decl.name, fire_id, stats.last_fire_at, locked=True
            )
            sub.record(run)
            if not run.ok:
                log.warning(
                    "graph_failed",
                    tenant=self.tenant,
                    package=sub.package,
                    graph=sub.name,
                    reactor=self.decl.name,
                    error=run.error,
                )
            if self._observe:
                self.observer.graph_finished(self.tenant, run)
            runs.append(run)
        if self.collect is not None:
            self.collect.extend(runs)
        duration = time.perf_counter() - t0
        stats.fire_seconds_total += duration
        if self._observe:
            self.observer.reactor_fired(
                self.tenant, self.decl.name, self.decl.criteria.label, duration, len(runs)
            )
        return runs

    def state_snapshot(self) -> dict[str, Any]:
        """The cache as JSON values, flags and counters (``get_state``)."""
        with self.lock:
            return {
                "reactor": self.decl.name,
                "state": self.state.value,
                "cache": {
                    k: (orjson.loads(v) if v is not None else None) for k, v in self.cache.items()
                },
                "dirty": sorted(self._dirty),
                "queued": len(self._queue) + sum(len(q) for q in self._queues.values()),
                "fires": self.stats.fires,
                "last_fire_at": self.stats.last_fire_at,
                "subscribers": list(self.subscribers),
            }

    # ------------------------------------------------------------------ saved state

    def export(self) -> dict[str, Any]:
        """Everything this reactor holds, as plain values (boundaries stay bytes): state,
        cache, pending flags and queues, counters, its accumulators' contents and its
        bound graphs' run counts. An event plane saves it so another process can
        :meth:`adopt` it."""
        with self.lock:
            return {
                "state": self.state.value,
                "cache": dict(self.cache),
                "dirty": sorted(self._dirty),
                "queue": [[a, b] for a, b in self._queue],
                "queues": {a: list(q) for a, q in self._queues.items() if q},
                "fires": self.stats.fires,
                "last_fire_at": self.stats.last_fire_at,
                "fire_seconds_total": self.stats.fire_seconds_total,
                "accumulators": {n: a.export() for n, a in self.accumulators.items()},
                "graphs": {
                    n: {"ok": g.ok_total, "failed": g.failed_total}
                    for n, g in self.subscribers.items()
                },
            }

    def adopt(self, saved: dict[str, Any]) -> None:
        """Become exactly what :meth:`export` saved, without firing (``{}``: a fresh
        reactor). Accumulators, cache slots and graphs this reactor no longer has are
        ignored (a newer version may differ); those it has and the save lacks start empty."""
        with self.lock:
            if self.state is ReactorState.STOPPED:
                raise self._stopped()
            state = ReactorState(saved.get("state", ReactorState.RUNNING.value))
            if state is not ReactorState.STOPPED:
                self.state = state
            cache = saved.get("cache", {})
            for name in self.cache:
                value = cache.get(name)
                self.cache[name] = None if value is None else bytes(value)
            self._dirty = {a for a in saved.get("dirty", ()) if a in self.cache}
            self._queue = deque((a, bytes(b)) for a, b in saved.get("queue", ()) if a in self.cache)
            for name, queue in self._queues.items():
                queue.clear()
                queue.extend(bytes(b) for b in saved.get("queues", {}).get(name, ()))
            self.stats.fires = int(saved.get("fires", 0))
            self.stats.last_fire_at = saved.get("last_fire_at")
            self.stats.fire_seconds_total = float(saved.get("fire_seconds_total", 0.0))
            accumulators = saved.get("accumulators", {})
            for name, acc in self.accumulators.items():
                acc.adopt(accumulators.get(name, {}))
            graphs = saved.get("graphs", {})
            for name, graph in self.subscribers.items():
                counts = graphs.get(name, {})
                graph.ok_total = int(counts.get("ok", 0))
                graph.failed_total = int(counts.get("failed", 0))
            self.cache_version += 1
