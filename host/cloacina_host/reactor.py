"""The reactor runtime: accumulators, the input cache, criteria, strategies and fires."""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import structlog

from . import ffi
from .errors import InvalidInputError, PluginCallError, StateError
from .executor import GraphExecutor, GraphRun, timed_run
from .types import (
    AccumulatorDecl,
    AccumulatorKind,
    Criteria,
    InputStrategy,
    ReactorDecl,
    Status,
)

log = structlog.get_logger("cloacina")


class Observer(Protocol):
    """Receives runtime measurements (the server's metrics implement it)."""

    def reactor_fired(
        self, tenant: str, reactor: ReactorDecl, duration: float, subscribers: int
    ) -> None: ...

    def graph_finished(self, tenant: str, run: GraphRun) -> None: ...

    def accumulator_event(
        self, tenant: str, reactor: str, acc: AccumulatorDecl, ok: bool
    ) -> None: ...


class NullObserver:
    """Measures nothing."""

    def reactor_fired(
        self, tenant: str, reactor: ReactorDecl, duration: float, subscribers: int
    ) -> None:
        pass

    def graph_finished(self, tenant: str, run: GraphRun) -> None:
        pass

    def accumulator_event(self, tenant: str, reactor: str, acc: AccumulatorDecl, ok: bool) -> None:
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


def _int_setting(decl: AccumulatorDecl, key: str, default: int) -> int:
    value = decl.config.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInputError(
            f"accumulator '{decl.name}': setting '{key}' must be an integer, got {value!r}"
        )
    return value


class Accumulator:
    """Turns events into boundaries, calling the plugin's function when it has one."""

    def __init__(
        self,
        decl: AccumulatorDecl,
        reactor: str,
        package: str,
        lib: ffi.NativeLibrary | None,
        fn: Any,
    ) -> None:
        self.decl = decl
        self.reactor = reactor
        self.package = package
        self._lib = lib
        self._fn = fn
        self._site = ffi.CallSite(package, f"accumulator '{decl.name}'")
        self._passthrough = decl.kind is AccumulatorKind.PASSTHROUGH
        self.events_total = 0
        self.errors_total = 0
        self.last_event_at: float | None = None
        self.last_error: str | None = None
        kind = decl.kind
        capacity = _int_setting(decl, "capacity", -1) if kind is AccumulatorKind.STATE else -1
        self._window: deque[bytes] = deque(maxlen=capacity if capacity > 0 else None)
        self._batch: list[bytes] = []
        self._max_batch = (
            _int_setting(decl, "max_buffer_size", 100) if kind is AccumulatorKind.BATCH else 0
        )
        self._flush_every = _int_setting(decl, "flush_interval_ms", 1000) / 1000.0
        self._poll_every = _int_setting(decl, "interval_ms", 5000) / 1000.0
        self._last_flush = self._last_poll = time.monotonic()

    @property
    def name(self) -> str:
        return self.decl.name

    def _call(self, inputs: list[bytes]) -> bytes:
        # Called under the reactor's lock, which teardown takes before the library can be
        # closed, so no lease is needed; only non-thread-safe libraries are serialized.
        lib = self._lib
        assert lib is not None
        if not lib.serialize:
            return ffi.call(self._fn, lib.ctx, inputs, self._site)
        with lib.call_lock:
            return ffi.call(self._fn, lib.ctx, inputs, self._site)

    def ingest(self, event: bytes) -> list[bytes]:
        """Boundaries produced by one event (none while a batch is filling)."""
        self.last_event_at = time.time()
        try:
            if self._fn is None:
                boundary = event
            else:
                boundary = self._call([event])
                orjson.loads(boundary)  # a plugin's boundary must be JSON too
        except (PluginCallError, orjson.JSONDecodeError) as exc:
            self.errors_total += 1
            self.last_error = str(exc)
            if isinstance(exc, PluginCallError):
                raise
            raise PluginCallError(
                f"accumulator '{self.name}' in package '{self.package}' returned invalid JSON",
                Status.INTERNAL,
                package=self.package,
            ) from exc
        self.events_total += 1
        if self._passthrough:
            return [boundary]
        kind = self.decl.kind
        if kind is AccumulatorKind.STATE:
            self._window.append(boundary)
            return [b"[" + b",".join(self._window) + b"]"]
        if kind is AccumulatorKind.BATCH:
            self._batch.append(boundary)
            if len(self._batch) >= self._max_batch:
                return self.flush()
            return []
        return [boundary]

    def flush(self) -> list[bytes]:
        """Emit the pending batch as one JSON array boundary."""
        self._last_flush = time.monotonic()
        if not self._batch:
            return []
        out = b"[" + b",".join(self._batch) + b"]"
        self._batch.clear()
        return [out]

    def tick(self, now: float) -> list[bytes]:
        """Time-driven work: batch flush intervals and polling."""
        if self.decl.kind is AccumulatorKind.BATCH and now - self._last_flush >= self._flush_every:
            return self.flush()
        if (
            self.decl.kind is AccumulatorKind.POLLING
            and self._fn is not None
            and now - self._last_poll >= self._poll_every
        ):
            self._last_poll = now
            try:
                out = self._call([])
            except PluginCallError as exc:
                self.errors_total += 1
                self.last_error = str(exc)
                log.warning(
                    "accumulator_poll_failed",
                    accumulator=self.name,
                    package=self.package,
                    error=str(exc),
                )
                return []
            if out.strip() in (b"", b"null"):
                return []
            self.events_total += 1
            return [out]
        return []

    @property
    def buffer_depth(self) -> int:
        return len(self._batch)


@dataclass
class Subscriber:
    """A graph bound to a reactor, with its recent runs."""

    graph: str
    package: str
    executor: GraphExecutor
    runs: deque[GraphRun]
    ok_total: int = 0
    failed_total: int = 0


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
        observer: Observer,
        keep_outputs: int = 100,
    ) -> None:
        self.decl = decl
        self.package = package
        self.tenant = tenant
        self.accumulators = accumulators
        self.observer = observer
        self._observe = not isinstance(observer, NullObserver)
        self.keep_outputs = keep_outputs
        self.lock = threading.RLock()
        self.state = ReactorState.RUNNING
        self.cache: dict[str, bytes | None] = dict.fromkeys(decl.accumulators)
        self._criteria = frozenset(decl.criteria_set)
        self._dirty: set[str] = set()
        self._any = decl.criteria is Criteria.WHEN_ANY
        self._sequential = decl.input_strategy is InputStrategy.SEQUENTIAL
        self._queue: deque[tuple[str, bytes]] = deque()  # sequential, when_any: arrival order
        self._queues: dict[str, deque[bytes]] = {a: deque() for a in decl.accumulators}
        self.subscribers: dict[str, Subscriber] = {}
        self.stats = ReactorStats()

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

    def stop(self) -> None:
        with self.lock:
            if self.state is not ReactorState.STOPPED:
                self.transition(ReactorState.STOPPED)
            self.subscribers.clear()

    # ------------------------------------------------------------------ binding

    def bind(self, graph: str, package: str, executor: GraphExecutor) -> None:
        with self.lock:
            self.subscribers[graph] = Subscriber(
                graph, package, executor, deque(maxlen=self.keep_outputs)
            )

    def unbind(self, graph: str) -> None:
        with self.lock:
            self.subscribers.pop(graph, None)

    def attach(self, subscriber: Subscriber) -> None:
        """Re-attach a subscriber kept across a hot replace of this reactor's package."""
        with self.lock:
            self.subscribers[subscriber.graph] = subscriber

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
                raise StateError(
                    f"reactor '{self.decl.name}' is stopped",
                    tenant=self.tenant,
                    reactor=self.decl.name,
                )
            try:
                for event in events:
                    try:
                        boundaries = acc.ingest(event)
                    except PluginCallError as exc:
                        self.observer.accumulator_event(
                            self.tenant, self.decl.name, acc.decl, False
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
                self.observer.accumulator_event(self.tenant, self.decl.name, acc.decl, True)
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
                raise StateError(
                    f"reactor '{self.decl.name}' is stopped",
                    tenant=self.tenant,
                    reactor=self.decl.name,
                )
            for name, value in (inputs or {}).items():
                if name not in self.cache:
                    raise InvalidInputError(
                        f"reactor '{self.decl.name}' has no accumulator '{name}' "
                        f"(it has {list(self.decl.accumulators)})",
                        tenant=self.tenant,
                        reactor=self.decl.name,
                    )
                self.cache[name] = value
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
            sub.runs.append(run)
            if run.ok:
                sub.ok_total += 1
            else:
                sub.failed_total += 1
                log.warning(
                    "graph_failed",
                    tenant=self.tenant,
                    package=sub.package,
                    graph=sub.graph,
                    reactor=self.decl.name,
                    error=run.error,
                )
            if self._observe:
                self.observer.graph_finished(self.tenant, run)
            runs.append(run)
        duration = time.perf_counter() - t0
        stats.fire_seconds_total += duration
        if self._observe:
            self.observer.reactor_fired(self.tenant, self.decl, duration, len(runs))
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
