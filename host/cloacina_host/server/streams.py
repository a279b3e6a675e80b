"""The frame inbox of an accumulator socket: frames read from the socket, waiting for the
pusher (the live output streams are the event plane's, :mod:`..events.hub`)."""

import asyncio
from collections import deque

WS_QUEUE = 4096  # frames read ahead of the pusher; a full queue stops reading (backpressure)


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
