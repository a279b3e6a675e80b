"""The frame protocol between the server (or daemon) and a tenant's worker process.

docs/isolation.md describes it for humans. In short: two pipes (one each way); each frame is a
4-byte big-endian length and that many bytes of msgpack (bytes stay bytes, so events and
libraries cross without JSON re-encoding). The worker speaks first (``hello``); then the
server sends requests and the worker answers each, in any order, by id:

- ``{"t": "hello", "v": VERSION, "pid": int, "tenant": str, "sandbox": {...}}``
- ``{"t": "req", "id": int, "op": str, "a": {args}}``
- ``{"t": "res", "id": int, "ok": true, "r": result, "tel": [...], "caches": {...}}``
- ``{"t": "res", "id": int, "ok": false, "e": {error}, "tel": [...], "caches": {...}}``

``tel`` carries what the worker's runtime measured while answering (reactor fires, graph
runs, accumulator wake-ups) and ``caches`` the input caches that changed, so the server's
metrics, live output streams and its copy of every reactor's cache are up to date the moment
the answer arrives. This module is the only one that encodes or decodes a frame; each side
has one module that speaks it (``worker`` in the child, ``supervisor`` in the parent).
"""

from __future__ import annotations

import contextlib
import os
import select
import struct
import threading
from collections import deque
from typing import Any

import msgpack

from ..core.executor import GraphRun
from ..core.records import UnloadReport
from ..core.views import TenantSample
from ..errors import CloacinaError
from ..types import PackageDecl

#: Bumped on any incompatible change; the server refuses a worker that says otherwise.
VERSION = 1
#: Upper bound on one frame (a library is the largest thing that crosses).
MAX_FRAME = 512 * 1024 * 1024

_LENGTH = struct.Struct(">I")


class ProtocolError(CloacinaError):
    """The other side sent something that is not a frame of this protocol."""

    code = "protocol_error"


class Channel:
    """Frames over a pair of pipes: :meth:`recv` from one reader thread, :meth:`send` from
    any thread (one frame at a time).

    With ``nonblocking_send`` (the supervisor's side) a send never blocks its caller: what
    the pipe cannot take at once is queued and written by a writer thread, so a worker that
    stops reading cannot stall the server's event loop."""

    def __init__(self, read_fd: int, write_fd: int, *, nonblocking_send: bool = False) -> None:
        self._read = os.fdopen(read_fd, "rb", buffering=1 << 16)
        self._wfd = write_fd
        self._send_lock = threading.Lock()
        self._packer = msgpack.Packer(use_bin_type=True, autoreset=True)
        self._closed = False
        self._backlog: deque[memoryview] = deque()
        self._ready = threading.Condition(self._send_lock)
        self._nonblocking = nonblocking_send
        if nonblocking_send:
            os.set_blocking(write_fd, False)
            threading.Thread(
                target=self._drain, name="cloacina-channel-writer", daemon=True
            ).start()

    @property
    def backlog(self) -> int:
        """Frames (or parts of one) waiting for the pipe."""
        return len(self._backlog)

    def send(self, message: dict[str, Any]) -> None:
        """Send one message; raises ``BrokenPipeError`` when the other side is gone."""
        with self._send_lock:
            if self._closed:
                raise BrokenPipeError("the channel is closed")
            body = self._packer.pack(message)
            data = memoryview(_LENGTH.pack(len(body)) + body)
            if not self._nonblocking:
                while data:
                    data = data[os.write(self._wfd, data) :]
                return
            if not self._backlog:
                with contextlib.suppress(BlockingIOError):
                    data = data[os.write(self._wfd, data) :]
                if not data:
                    return
            self._backlog.append(data)
            self._ready.notify()

    def _drain(self) -> None:
        while True:
            with self._send_lock:
                while not self._backlog and not self._closed:
                    self._ready.wait()
                if self._closed:
                    return
            try:
                select.select([], [self._wfd], [], 1.0)
                with self._send_lock:
                    while self._backlog:
                        head = self._backlog[0]
                        written = os.write(self._wfd, head)
                        if written < len(head):
                            self._backlog[0] = head[written:]
                            break
                        self._backlog.popleft()
            except BlockingIOError:
                continue
            except OSError:  # the other side is gone: the supervisor notices the death
                with self._send_lock:
                    self._backlog.clear()
                    self._closed = True
                return

    def recv(self) -> dict[str, Any] | None:
        """The next message, or None once the other side closed its end."""
        head = self._read.read(4)
        if not head:
            return None
        if len(head) < 4:
            raise ProtocolError("the channel closed in the middle of a frame's length")
        (length,) = _LENGTH.unpack(head)
        if length > MAX_FRAME:
            raise ProtocolError(f"a frame of {length} bytes is over the {MAX_FRAME}-byte limit")
        body = self._read.read(length)
        if len(body) < length:
            raise ProtocolError(f"the channel closed after {len(body)} of a {length}-byte frame")
        try:
            message = msgpack.unpackb(body, raw=False, strict_map_key=True)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
            raise ProtocolError(f"a frame is not valid msgpack: {exc}") from None
        if not isinstance(message, dict) or not isinstance(message.get("t"), str):
            raise ProtocolError(f"a frame is not a message object: {str(message)[:80]}")
        return message

    def close(self) -> None:
        with self._send_lock:
            if self._closed and self._wfd < 0:
                return
            self._closed = True
            self._backlog.clear()
            self._ready.notify_all()
            fd, self._wfd = self._wfd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            self._read.close()


# --------------------------------------------------------------------------- values


def run_to_wire(run: GraphRun) -> list[Any]:
    return [
        run.graph,
        run.reactor,
        run.fire,
        run.started_at,
        run.duration,
        run.outputs,
        run.error,
        [list(n) for n in run.node_seconds],
    ]


def run_from_wire(value: list[Any]) -> GraphRun:
    graph, reactor, fire, started, duration, outputs, error, nodes = value
    return GraphRun(
        graph, reactor, fire, started, duration, outputs, error, tuple((n, s) for n, s in nodes)
    )


def report_to_wire(report: UnloadReport) -> list[Any]:
    return [report.package, report.unbound, list(report.torn_down)]


def report_from_wire(value: list[Any]) -> UnloadReport:
    package, unbound, torn_down = value
    return UnloadReport(package, dict(unbound), tuple(torn_down))


def decl_from_wire(value: dict[str, Any]) -> PackageDecl:
    return PackageDecl.from_dict(value)


def sample_from_wire(value: list[Any]) -> TenantSample:
    return TenantSample.from_wire(value)
