"""One running worker process, as the supervisor holds it: how it is spawned, the channel to
it, the requests waiting for an answer, and how its end is observed.

A worker is a fresh interpreter (``python -m cloacina_host.isolation.worker``), spawned from
the supervisor's long-lived spawner thread (the parent-death signal follows the thread that
spawned, see :func:`~.sandbox.die_with_parent`), in a session and process group of its own,
with only its two pipes, its call slots and its crash file open, a minimal environment
(:func:`~..spawn.child_environment`) and a scratch directory of its own as working directory.
Its end is seen by ``wait4`` on a reaper thread, at once, whatever the worker did (a stray it
forked may keep the pipes open, so their end of file proves nothing).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..errors import WorkerUnavailableError, from_wire
from ..spawn import child_command, child_environment, kill_group
from . import slots
from .protocol import VERSION, Channel, ProtocolError
from .slots import Slot, SlotReader

#: Called with every answer before its caller sees it: telemetry and caches first.
AnswerHook = Callable[[dict[str, Any]], None]


@dataclass
class Ended:
    """How a worker process ended, as ``wait4`` told it."""

    status: int  # exit status, or minus the signal number
    peak_rss: int  # bytes (``ru_maxrss``)
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Spawn:
    """Everything a worker is started with."""

    tenant: str
    threads: int
    address_space: int | None
    user: str | None
    read_paths: tuple[str, ...]
    env: dict[str, str]
    log_level: str
    tick_seconds: float = 0.1


class WorkerProcess:
    """A spawned worker: its channel, pending requests, slots and crash file."""

    def __init__(self, spawn: Spawn) -> None:
        self.spawn = spawn
        self.slot_count = spawn.threads + 2
        self._slots_fd = slots.create(self.slot_count)
        self._crash_fd = os.memfd_create("cloacina-crash", 0)
        self.scratch = Path(tempfile.mkdtemp(prefix=f"cloacina-worker-{spawn.tenant}-"))
        requests_r, requests_w = os.pipe2(os.O_CLOEXEC)
        replies_r, replies_w = os.pipe2(os.O_CLOEXEC)
        child_fds = (requests_r, replies_w, self._slots_fd, self._crash_fd)
        if spawn.user:
            import pwd  # only a root server hands workers to another user

            entry = pwd.getpwnam(spawn.user)
            os.chown(self.scratch, entry.pw_uid, entry.pw_gid)
        config = {
            "tenant": spawn.tenant,
            "parent": os.getpid(),
            "request_fd": requests_r,
            "reply_fd": replies_w,
            "slots_fd": self._slots_fd,
            "slots": self.slot_count,
            "crash_fd": self._crash_fd,
            "scratch": str(self.scratch),
            "threads": spawn.threads,
            "address_space": spawn.address_space,
            "user": spawn.user,
            "read_paths": list(spawn.read_paths),
            "log_level": spawn.log_level,
            "tick_seconds": spawn.tick_seconds,
        }
        try:
            self.popen = subprocess.Popen(
                child_command("cloacina_host.isolation.worker", orjson.dumps(config).decode()),
                pass_fds=child_fds,
                env=child_environment(spawn.env),
                cwd=self.scratch,
                stdin=subprocess.DEVNULL,
                stdout=sys.stderr,  # a plugin's prints land in the server's log stream
                start_new_session=True,
            )
        finally:
            for fd in (requests_r, replies_w):
                os.close(fd)
        self.pid = self.popen.pid
        self.channel = Channel(replies_r, requests_w, nonblocking_send=True)
        self.slots = SlotReader(self._slots_fd, self.slot_count)
        self.started_at = time.monotonic()
        self.hello: dict[str, Any] = {}
        self.ended: Ended | None = None
        self.kill_reason: tuple[str, list[Slot]] | None = None  # set when the supervisor kills
        self._pending: dict[int, tuple[Future[Any], float]] = {}
        self._lock = threading.Lock()
        self._ids = 0
        self._gone = threading.Event()

    # ------------------------------------------------------------------ start

    def handshake(self, timeout: float) -> dict[str, Any]:
        """Wait for the worker's hello (its sandbox report); raises when it does not come."""
        box: list[dict[str, Any] | BaseException | None] = []

        def read() -> None:
            try:
                box.append(self.channel.recv())
            except BaseException as exc:
                box.append(exc)

        reader = threading.Thread(target=read, name="cloacina-hello", daemon=True)
        reader.start()
        reader.join(timeout)
        message = box[0] if box else None
        if isinstance(message, BaseException):
            raise message
        if message is None or message.get("t") != "hello":
            raise WorkerUnavailableError(
                f"the worker of tenant '{self.spawn.tenant}' did not start "
                f"(no hello within {timeout:g}s); see the server log"
            )
        if message.get("v") != VERSION:
            raise ProtocolError(
                f"the worker of tenant '{self.spawn.tenant}' speaks protocol "
                f"{message.get('v')!r}; this server speaks {VERSION}"
            )
        self.hello = message
        return message

    def serve(self, on_answer: AnswerHook, on_end: Callable[[WorkerProcess], None]) -> None:
        """Start the reader and the reaper threads."""
        threading.Thread(
            target=self._read, args=(on_answer,), name="cloacina-worker-reader", daemon=True
        ).start()
        threading.Thread(
            target=self._reap, args=(on_end,), name="cloacina-worker-reaper", daemon=True
        ).start()

    # ------------------------------------------------------------------ requests

    def submit(self, op: str, args: dict[str, Any], limit: int) -> Future[Any]:
        """Send a request; the future gets its answer, or the error that ended the worker."""
        future: Future[Any] = Future()
        with self._lock:
            if self._gone.is_set():
                raise WorkerUnavailableError(self.gone_message())
            if len(self._pending) >= limit:
                raise WorkerUnavailableError(
                    f"the worker of tenant '{self.spawn.tenant}' has {len(self._pending)} "
                    "requests in flight; try again shortly"
                )
            self._ids += 1
            rid = self._ids
            self._pending[rid] = (future, time.monotonic())
        try:
            self.channel.send({"t": "req", "id": rid, "op": op, "a": args})
        except OSError:
            with self._lock:
                self._pending.pop(rid, None)
            raise WorkerUnavailableError(self.gone_message()) from None
        return future

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def oldest_request(self) -> float | None:
        """When the oldest unanswered request was sent (monotonic seconds)."""
        with self._lock:
            return min((t for _, t in self._pending.values()), default=None)

    def _read(self, on_answer: AnswerHook) -> None:
        try:
            while (message := self.channel.recv()) is not None:
                kind = message.get("t")
                if kind == "tel":  # what the worker's own ticks measured
                    on_answer(message)
                    continue
                if kind != "res":
                    continue
                with self._lock:
                    entry = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
                if entry is None:
                    continue
                on_answer(message)
                future = entry[0]
                if message.get("ok"):
                    future.set_result(message.get("r"))
                else:
                    error = message.get("e")
                    future.set_exception(
                        from_wire(error if isinstance(error, dict) else {}, "the worker refused")
                    )
        except (ProtocolError, OSError, ValueError):
            pass  # a garbled or closed channel: the reaper tells why the worker ended

    def _reap(self, on_end: Callable[[WorkerProcess], None]) -> None:
        while True:
            try:
                _, status, usage = os.wait4(self.pid, 0)
            except ChildProcessError:
                status, usage = 0, None
            except InterruptedError:
                continue
            break
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        self.popen.returncode = code  # reaped here: Popen must not wait for it again
        peak = usage.ru_maxrss * 1024 if usage is not None else 0
        self.ended = Ended(code, peak)
        kill_group(self.pid)  # strays a plugin forked
        on_end(self)

    def fail_pending(self, error: Exception) -> None:
        """Every request still waiting gets ``error``; later ones are refused."""
        with self._lock:
            self._gone.set()
            pending, self._pending = self._pending, {}
        for future, _ in pending.values():
            if not future.done():
                future.set_exception(error)

    def gone_message(self) -> str:
        return f"the worker of tenant '{self.spawn.tenant}' is not running"

    # ------------------------------------------------------------------ observation

    def crash_report(self) -> str:
        """What ``faulthandler`` wrote when a fatal signal hit the worker (may be empty)."""
        with contextlib.suppress(OSError):
            os.lseek(self._crash_fd, 0, os.SEEK_SET)
            return os.read(self._crash_fd, 1 << 16).decode("utf-8", "replace")
        return ""

    def resident_bytes(self) -> int | None:
        """The worker's resident memory now (``/proc/PID/statm``), None when it is gone."""
        try:
            with open(f"/proc/{self.pid}/statm", "rb") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            return None

    def kill(self, reason: str, culprits: list[Slot]) -> None:
        """SIGKILL the worker (and its group) for ``reason``; the reaper does the rest."""
        if self.kill_reason is None:
            self.kill_reason = (reason, culprits)
        kill_group(self.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, 9)

    def release(self) -> None:
        """Close what the dead worker's handle still holds."""
        self.channel.close()
        self.slots.close()
        for fd in (self._slots_fd, self._crash_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self.scratch, ignore_errors=True)
