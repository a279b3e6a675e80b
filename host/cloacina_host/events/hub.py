"""The live output streams of the embedded event plane: finished graph runs fan out from
worker threads (or the tenant worker's telemetry) to the event loop's watchers of
``/v1/ws/graph/{name}/outputs``."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque

from ..core.executor import GraphRun

WATCH_BUFFER = 10_000  # runs buffered per output-stream watcher before the oldest are dropped


class Watch:
    """One output-stream subscriber: runs arrive from worker threads, are read on the loop.
    A burst of runs costs one loop wake-up."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.event = asyncio.Event()
        self.dropped = 0
        self._buf: deque[GraphRun] = deque(maxlen=WATCH_BUFFER)
        self._lock = threading.Lock()
        self._scheduled = False

    def offer(self, run: GraphRun) -> None:
        with self._lock:
            if len(self._buf) == WATCH_BUFFER:
                self.dropped += 1
            self._buf.append(run)
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        with self._lock:
            self._scheduled = False
        self.event.set()

    async def take(self) -> list[GraphRun]:
        await self.event.wait()
        self.event.clear()
        with self._lock:
            runs = list(self._buf)
            self._buf.clear()
        return runs


class OutputHub:
    """Fans finished graph runs out to the ``/v1/ws/graph/{name}/outputs`` streams.

    Registered as a :class:`~.metrics.Metrics` run listener; with nobody watching a graph,
    a run costs one dict lookup."""

    def __init__(self) -> None:
        self._watchers: dict[tuple[str, str], tuple[Watch, ...]] = {}
        self._lock = threading.Lock()

    def __call__(self, tenant: str, run: GraphRun) -> None:
        watchers = self._watchers.get((tenant, run.graph))
        if watchers:
            for w in watchers:
                w.offer(run)

    def watch(self, tenant: str, graph: str) -> Watch:
        w = Watch(asyncio.get_running_loop())
        with self._lock:
            key = (tenant, graph)
            self._watchers[key] = (*self._watchers.get(key, ()), w)
        return w

    def unwatch(self, tenant: str, graph: str, w: Watch) -> None:
        with self._lock:
            key = (tenant, graph)
            rest = tuple(x for x in self._watchers.get(key, ()) if x is not w)
            if rest:
                self._watchers[key] = rest
            else:
                self._watchers.pop(key, None)
