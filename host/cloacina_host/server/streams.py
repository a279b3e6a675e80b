"""Queues between the native side (worker threads) and the event loop: the live output
streams of ``/v1/ws/graph/{name}/outputs`` and the frame inbox of an accumulator socket."""

import asyncio
import contextlib
import threading
from collections import deque

from ..core.executor import GraphRun

WATCH_BUFFER = 10_000  # runs buffered per output-stream watcher before the oldest are dropped
WS_QUEUE = 4096  # frames read ahead of the pusher; a full queue stops reading (backpressure)


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


class Inbox:
    """Frames read from a socket, waiting for the pusher: a deque and two events rather than
    an ``asyncio.Queue`` (this is per frame, so it is kept cheap). Bounded: a full inbox stops
    the reader, and so the socket (TCP backpressure)."""

    def __init__(self, limit: int = WS_QUEUE) -> None:
        self.limit = limit
        self.frames: deque[bytes] = deque()
        self.closed = False
        self._ready = asyncio.Event()
        self._space = asyncio.Event()

    async def put(self, frame: bytes) -> None:
        frames = self.frames
        frames.append(frame)
        if not self._ready.is_set():
            self._ready.set()
        if len(frames) >= self.limit:
            self._space.clear()
            await self._space.wait()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def take(self, most: int) -> list[bytes]:
        """Up to ``most`` frames, waiting for one; [] once closed and drained."""
        frames = self.frames
        while not frames:
            if self.closed:
                return []
            self._ready.clear()
            await self._ready.wait()
        if len(frames) <= most:
            batch = list(frames)
            frames.clear()
        else:
            batch = [frames.popleft() for _ in range(most)]
        self._space.set()
        return batch
