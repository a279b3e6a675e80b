"""The supervisor: starts each tenant's worker, watches it, and restarts it when it dies.

- **Detection.** A reaper thread per worker waits in ``wait4``: any death (a signal, any
  exit status, ``exit(0)`` included) is seen at once.
- **The culprit.** The worker's call slots say which native call each thread was in, and
  ``faulthandler``'s report says which thread took a fatal signal; together they name the
  node, accumulator, hook or load that ended the worker. :meth:`Supervisor` hands that
  :class:`Death` to its owner (the control plane quarantines the package), fails every
  request still waiting with :class:`~..errors.WorkerUnavailableError`, and restarts the
  worker after a backoff (doubling up to 60 s). After 5 straight failures the tenant is
  ``crashed`` and stays down until an operator restarts it.
- **Watchdog.** Every 50 ms: a native call past its deadline gets the worker killed and the
  call's package quarantined as ``hung``; a worker over its memory limit is killed too.
"""

from __future__ import annotations

import contextlib
import enum
import queue
import re
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..core.ffi import CallSite
from ..core.reactor import NullObserver, Observer
from ..errors import StateError, WorkerUnavailableError
from ..log import get_logger
from .process import Spawn, WorkerProcess
from .protocol import run_from_wire
from .settings import MiB, WorkerSettings

log = get_logger()


class WorkerState(enum.Enum):
    """Lifecycle of a tenant's worker. Illegal transitions raise :class:`StateError`."""

    STOPPED = "stopped"  # no worker (nothing loaded yet, or stopped)
    STARTING = "starting"
    READY = "ready"
    RECOVERING = "recovering"  # restarted: reloading the tenant's packages
    BACKOFF = "backoff"  # died: waiting to restart
    CRASHED = "crashed"  # died too often: down until an operator restarts it


_MOVES = {
    WorkerState.STOPPED: {WorkerState.STARTING},
    WorkerState.STARTING: {WorkerState.READY, WorkerState.RECOVERING, WorkerState.BACKOFF},
    WorkerState.READY: {WorkerState.BACKOFF, WorkerState.STOPPED, WorkerState.CRASHED},
    WorkerState.RECOVERING: {WorkerState.READY, WorkerState.BACKOFF, WorkerState.CRASHED},
    WorkerState.BACKOFF: {WorkerState.STARTING, WorkerState.CRASHED, WorkerState.STOPPED},
    WorkerState.CRASHED: {WorkerState.STARTING, WorkerState.STOPPED},
}


@dataclass(frozen=True)
class Death:
    """Why a tenant's worker ended, and whose call it was in."""

    tenant: str
    status: int  # exit status, or minus the signal
    cause: str  # "crashed", "hung", "memory", "exited" or "stopped"
    culprit: CallSite | None  # the call that ended it, when one can be named
    message: str

    @property
    def quarantine(self) -> str | None:
        """The status its culprit's package gets: ``hung``, or ``crashed`` for the rest."""
        if self.culprit is None or self.cause == "stopped":
            return None
        return "hung" if self.cause == "hung" else "crashed"


def describe_status(status: int) -> str:
    if status < 0:
        try:
            return signal.Signals(-status).name
        except ValueError:
            return f"signal {-status}"
    return f"exit status {status}"


_CURRENT_THREAD = re.compile(r"Current thread 0x([0-9a-fA-F]+)")


def analyse(proc: WorkerProcess, settings: WorkerSettings, deadline: float) -> Death:
    """Name the cause of a worker's end and the call it ended in."""
    ended = proc.ended
    assert ended is not None
    tenant, status = proc.spawn.tenant, ended.status
    how = describe_status(status)
    if proc.kill_reason is not None:
        cause, culprits = proc.kill_reason
    else:
        cause, culprits = "", proc.slots.busy()
        match = _CURRENT_THREAD.search(proc.crash_report())
        if match is not None:
            crashed = int(match[1], 16)
            culprits = [s for s in culprits if s.thread == crashed] or culprits
        limit = settings.memory_limit
        if limit is not None and ended.peak_rss >= limit and status < 0:
            cause = "memory"
        else:
            cause = "crashed" if status < 0 else "exited"
    site = culprits[0].site if len(culprits) == 1 else None
    if cause == "stopped":
        return Death(tenant, status, cause, None, f"the worker of tenant '{tenant}' was stopped")
    if site is None:
        where = (
            "in one of several calls: " + "; ".join(s.site.prefix for s in culprits)
            if culprits
            else "outside any plugin call"
        )
        return Death(tenant, status, cause, None, _sentence(cause, tenant, where, how, settings))
    text = {
        "hung": f"{site.prefix} did not return within {deadline:g}s; the worker was killed",
        "memory": f"{site.prefix} took the worker past its memory limit of "
        f"{(settings.memory_limit or 0) // MiB} MiB (peak {ended.peak_rss // MiB} MiB); "
        "the worker was killed",
        "crashed": f"{site.prefix} crashed the worker ({how})",
        "exited": f"{site.prefix} ended the worker process ({how})",
    }[cause]
    return Death(tenant, status, cause, site, text)


def _sentence(cause: str, tenant: str, where: str, how: str, settings: WorkerSettings) -> str:
    what = {
        "hung": "stopped answering and was killed",
        "memory": f"went past its memory limit of {(settings.memory_limit or 0) // MiB} MiB",
        "crashed": f"crashed ({how})",
        "exited": f"ended ({how})",
    }[cause]
    return f"the worker of tenant '{tenant}' {what} {where}"


Hook = Callable[[str, Death], None]
ReadyHook = Callable[[str], None]


class WorkerTenant:
    """One tenant's worker: its state, the process when there is one, and its counters.
    The :class:`~.tenant.TenantRuntime` calls are in :class:`~.remote.RemoteTenant`."""

    def __init__(self, supervisor: Supervisor, tenant: str) -> None:
        self.supervisor = supervisor
        self.tenant = tenant
        self.state = WorkerState.STOPPED
        self.process: WorkerProcess | None = None
        self.deadline: float | None = None  # this tenant's call deadline, when configured
        self.failures = 0  # straight failures
        self.restarts = 0
        self.crashes: dict[str, int] = {}  # by cause
        self.deadline_kills = 0
        self.quarantines = 0
        self.last_death: Death | None = None
        self.restart_at = 0.0
        self.ready_since = 0.0
        #: A copy of every reactor's input cache, for a replacement worker.
        self.caches: dict[str, dict[str, bytes | None]] = {}
        self._lock = threading.RLock()
        self._recovering_thread: int | None = None
        self._waiting = threading.BoundedSemaphore(supervisor.settings.max_waiting)
        self._watch: dict[int, tuple[int, float]] = {}  # slot -> (seq, first seen busy)

    # ------------------------------------------------------------------ state

    def _move(self, new: WorkerState) -> None:
        if new not in _MOVES[self.state]:
            raise StateError(
                f"the worker of tenant '{self.tenant}' cannot go from {self.state.value} "
                f"to {new.value}",
                tenant=self.tenant,
            )
        log.info("worker_state", tenant=self.tenant, old=self.state.value, new=new.value)
        self.state = new
        if new is WorkerState.READY:
            self.ready_since = time.monotonic()

    @property
    def call_deadline(self) -> float:
        return self.deadline or self.supervisor.settings.call_deadline

    def unavailable(self) -> WorkerUnavailableError:
        state, death = self.state, self.last_death
        why = f": {death.message}" if death is not None else ""
        if state is WorkerState.CRASHED:
            text = (
                f"tenant '{self.tenant}' is crashed: its worker failed "
                f"{self.failures} times in a row{why}; restart it with "
                f"`cloacinactl tenant restart {self.tenant}`"
            )
        elif state is WorkerState.STARTING and death is None and not self.restarts:
            text = f"the worker of tenant '{self.tenant}' is starting; retry shortly"
        elif state in (WorkerState.BACKOFF, WorkerState.STARTING, WorkerState.RECOVERING):
            text = f"the worker of tenant '{self.tenant}' is restarting{why}; retry shortly"
        else:
            text = f"the worker of tenant '{self.tenant}' is {state.value}"
        return WorkerUnavailableError(text, tenant=self.tenant)

    # ------------------------------------------------------------------ requests

    def running(self) -> WorkerProcess | None:
        """The process to send a request to; None when the tenant has no worker (stopped);
        raises :class:`WorkerUnavailableError` while it is down or recovering (except for
        the thread that reloads it)."""
        with self._lock:
            state, proc = self.state, self.process
            if state is WorkerState.READY and proc is not None:
                return proc
            if (
                state is WorkerState.RECOVERING
                and proc is not None
                and self._recovering_thread == threading.get_ident()
            ):
                return proc
            if state is WorkerState.STOPPED:
                return None
            raise self.unavailable()

    def submit(self, op: str, args: dict[str, Any], *, start: bool = False) -> Future[Any]:
        """Send a request; with ``start``, a stopped tenant gets its worker first."""
        proc = self.running()
        if proc is None:
            if not start:
                raise WorkerUnavailableError(f"tenant '{self.tenant}' has no worker")
            proc = self.start()
        return proc.submit(op, args, self.supervisor.settings.max_in_flight)

    def call(self, op: str, args: dict[str, Any], *, start: bool = False) -> Any:
        """Send a request and wait for its answer (from a thread, never the event loop).

        At most ``max_waiting`` threads wait on one tenant's worker at a time; more are
        refused at once, so a hung tenant cannot take the server's request threads."""
        if not self._waiting.acquire(blocking=False):
            raise WorkerUnavailableError(
                f"{self.supervisor.settings.max_waiting} requests are waiting for the worker "
                f"of tenant '{self.tenant}'; try again shortly",
                tenant=self.tenant,
            )
        try:
            future = self.submit(op, args, start=start)
            timeout = self.supervisor.settings.request_timeout
            try:
                return future.result(timeout)
            except TimeoutError:
                raise self.stuck(timeout) from None
        finally:
            self._waiting.release()

    def stuck(self, timeout: float) -> WorkerUnavailableError:
        proc = self.process
        if proc is not None:
            proc.kill("hung", proc.slots.busy())
        return WorkerUnavailableError(
            f"the worker of tenant '{self.tenant}' did not answer within {timeout:g}s; "
            "it was killed and is restarting",
            tenant=self.tenant,
        )

    # ------------------------------------------------------------------ start, end

    def start(self, *, recover: bool = False) -> WorkerProcess:
        """Spawn the worker and wait for its hello; with ``recover``, reload the tenant's
        packages (the supervisor's ``on_ready``) and restore the reactor caches."""
        with self._lock:
            if self.state is WorkerState.READY and self.process is not None:
                return self.process
            self._move(WorkerState.STARTING)
        try:
            proc = self.supervisor.spawn(self._spawn())
            proc.handshake(self.supervisor.settings.hello_timeout)
        except Exception as exc:
            log.error("worker_start_failed", tenant=self.tenant, error=str(exc))
            with self._lock:
                self._failed(None)
            raise WorkerUnavailableError(
                f"the worker of tenant '{self.tenant}' could not start: {exc}", tenant=self.tenant
            ) from exc
        with self._lock:
            self.process = proc
            self._watch.clear()
            proc.serve(self._on_answer, self._on_end)
            log.info(
                "worker_started",
                tenant=self.tenant,
                pid=proc.pid,
                sandbox=proc.hello.get("sandbox"),
            )
            if not recover:
                self._move(WorkerState.READY)
                return proc
            self._move(WorkerState.RECOVERING)
            self._recovering_thread = threading.get_ident()
        try:
            self.supervisor.on_ready(self.tenant)
            if self.caches:
                proc.submit("restore", {"caches": self.caches}, 1 << 30).result(
                    self.supervisor.settings.request_timeout
                )
        except Exception as exc:
            log.warning("worker_recovery_failed", tenant=self.tenant, error=str(exc))
        finally:
            self._recovering_thread = None
        with self._lock:
            if self.state is WorkerState.RECOVERING and self.process is proc:
                self._move(WorkerState.READY)
        return proc

    def _spawn(self) -> Spawn:
        s = self.supervisor.settings
        return Spawn(
            self.tenant,
            s.threads,
            s.address_space(),
            s.user,
            s.read_paths,
            s.env,
            s.log_level,
            s.tick_seconds,
        )

    def _on_answer(self, message: dict[str, Any]) -> None:
        observer = self.supervisor.observer
        tenant = self.tenant
        for item in message.get("tel") or ():
            kind = item[0]
            if kind == "g":
                observer.graph_finished(tenant, run_from_wire(item[1]))
            elif kind == "f":
                observer.reactor_fired(tenant, item[1], item[2], item[3], item[4])
            elif kind == "a":
                observer.accumulator_event(tenant, item[1], item[2], item[3], item[4])
        caches = message.get("caches")
        if caches:
            self.caches.update(caches)

    def _on_end(self, proc: WorkerProcess) -> None:
        death = analyse(proc, self.supervisor.settings, self.call_deadline)
        stopping = death.cause == "stopped"
        if not stopping:
            self.last_death = death
            self.crashes[death.cause] = self.crashes.get(death.cause, 0) + 1
            if death.cause == "hung":
                self.deadline_kills += 1
            if death.quarantine is not None:
                self.quarantines += 1
            log.error(
                "worker_died",
                tenant=self.tenant,
                pid=proc.pid,
                status=describe_status(death.status),
                cause=death.cause,
                culprit=None if death.culprit is None else death.culprit.prefix,
                error=death.message,
            )
            try:
                self.supervisor.on_death(self.tenant, death)
            except Exception as exc:  # the owner's trouble must not stop the restart
                log.error("worker_death_hook_failed", tenant=self.tenant, error=str(exc))
        proc.fail_pending(
            WorkerUnavailableError(
                death.message if not stopping else proc.gone_message(), tenant=self.tenant
            )
        )
        proc.release()
        with self._lock:
            if self.process is proc:
                self.process = None
            if stopping:
                if self.state is not WorkerState.STOPPED:
                    self._move(WorkerState.STOPPED)
                return
            self._failed(death)

    def _failed(self, death: Death | None) -> None:
        """After a death or a failed start: back off, or give up after too many."""
        s = self.supervisor.settings
        self.failures += 1
        if self.failures >= s.max_failures:
            self._move(WorkerState.CRASHED)
            log.error("tenant_crashed", tenant=self.tenant, failures=self.failures)
            return
        delay = min(s.backoff * 2 ** (self.failures - 1), s.backoff_max)
        self.restart_at = time.monotonic() + delay
        self._move(WorkerState.BACKOFF)

    def stop(self) -> None:
        """Stop the worker (its packages unload first if it answers in time)."""
        with self._lock:
            proc = self.process
            if proc is None:
                if self.state in (WorkerState.BACKOFF, WorkerState.CRASHED):
                    self._move(WorkerState.STOPPED)
                return
        proc.kill_reason = ("stopped", [])  # before close: its exit is not a death
        with contextlib.suppress(Exception):
            proc.submit("close", {}, 1 << 30).result(5.0)
        proc.kill("stopped", [])
        deadline = time.monotonic() + 10.0
        while proc.ended is None and time.monotonic() < deadline:
            time.sleep(0.01)

    def restart(self) -> None:
        """An operator's restart: forget the failures, start again and reload."""
        self.stop()
        with self._lock:
            self.failures = 0
            self.last_death = None
            if self.state is not WorkerState.STOPPED:
                self._move(WorkerState.STOPPED)
        self.start(recover=True)

    # ------------------------------------------------------------------ watchdog

    def watch(self, now: float) -> None:
        """One watchdog look at this tenant (the supervisor's thread, every 50 ms)."""
        s = self.supervisor.settings
        proc = self.process
        if proc is not None and proc.ended is None:
            for slot in proc.slots.busy():
                seen = self._watch.get(slot.index)
                if seen is None or seen[0] != slot.seq:
                    self._watch[slot.index] = (slot.seq, now)
                elif now - seen[1] >= self.call_deadline:
                    log.error("call_deadline", tenant=self.tenant, call=slot.site.prefix)
                    proc.kill("hung", [slot])
                    return
            limit = s.memory_limit
            if limit is not None:
                resident = proc.resident_bytes()
                if resident is not None and resident > limit:
                    proc.kill("memory", proc.slots.busy())
                    return
            oldest = proc.oldest_request()
            if oldest is not None and now - oldest > s.request_timeout:
                proc.kill("hung", proc.slots.busy())
                return
        with self._lock:
            state = self.state
            if (
                state is WorkerState.READY
                and self.failures
                and now - self.ready_since > (s.stable_after)
            ):
                self.failures = 0
            if state is WorkerState.BACKOFF and now >= self.restart_at:
                self.restarts += 1
                threading.Thread(
                    target=self._restart_quietly, name="cloacina-restart", daemon=True
                ).start()
                self.restart_at = float("inf")

    def _restart_quietly(self) -> None:
        try:
            self.start(recover=True)
        except Exception as exc:
            log.warning("worker_restart_failed", tenant=self.tenant, error=str(exc))

    def status(self) -> dict[str, Any]:
        """The worker's state for the API, ``/ready`` and the metrics."""
        proc = self.process
        death = self.last_death
        return {
            "state": self.state.value,
            "pid": proc.pid if proc is not None else None,
            "restarts": self.restarts,
            "failures": self.failures,
            "crashes": dict(self.crashes),
            "deadline_kills": self.deadline_kills,
            "quarantines": self.quarantines,
            "in_flight": proc.in_flight + proc.channel.backlog if proc is not None else 0,
            "call_deadline_seconds": self.call_deadline,
            "last_death": None if death is None else death.message,
            "sandbox": proc.hello.get("sandbox") if proc is not None else None,
        }


class Supervisor:
    """Every tenant worker of one process (a server or a daemon)."""

    def __init__(
        self,
        settings: WorkerSettings | None = None,
        observer: Observer | None = None,
        *,
        on_death: Hook | None = None,
        on_ready: ReadyHook | None = None,
    ) -> None:
        self.settings = settings or WorkerSettings()
        self.observer: Observer = observer or NullObserver()
        self._on_death = on_death
        self._on_ready = on_ready
        self.tenants: dict[str, WorkerTenant] = {}
        self._lock = threading.Lock()
        self._spawns: queue.Queue[tuple[Spawn, Future[WorkerProcess]] | None] = queue.Queue()
        self._stop = threading.Event()
        # Workers die with the thread that spawned them: one long-lived spawner thread.
        self._spawner = threading.Thread(
            target=self._spawn_loop, name="cloacina-spawner", daemon=True
        )
        self._spawner.start()
        self._watchdog = threading.Thread(
            target=self._watch_loop, name="cloacina-watchdog", daemon=True
        )
        self._watchdog.start()

    def on_death(self, tenant: str, death: Death) -> None:
        if self._on_death is not None:
            self._on_death(tenant, death)

    def on_ready(self, tenant: str) -> None:
        if self._on_ready is not None:
            self._on_ready(tenant)

    def tenant(self, name: str) -> WorkerTenant:
        with self._lock:
            worker = self.tenants.get(name)
            if worker is None:
                worker = self.tenants[name] = WorkerTenant(self, name)
            return worker

    def spawn(self, spawn: Spawn) -> WorkerProcess:
        """Start a worker process on the spawner thread."""
        future: Future[WorkerProcess] = Future()
        self._spawns.put((spawn, future))
        return future.result()

    def _spawn_loop(self) -> None:
        while (item := self._spawns.get()) is not None:
            spawn, future = item
            try:
                future.set_result(WorkerProcess(spawn))
            except BaseException as exc:
                future.set_exception(exc)

    def _watch_loop(self) -> None:
        interval = self.settings.watch_interval
        while not self._stop.wait(interval):
            now = time.monotonic()
            for worker in list(self.tenants.values()):
                try:
                    worker.watch(now)
                except Exception as exc:  # keep watching the others
                    log.error("watchdog_failed", tenant=worker.tenant, error=str(exc))

    def drop(self, name: str) -> None:
        with self._lock:
            worker = self.tenants.pop(name, None)
        if worker is not None:
            worker.stop()

    def close(self) -> None:
        """Stop every worker, then the supervisor's threads."""
        for name in list(self.tenants):
            self.drop(name)
        self._stop.set()
        self._spawns.put(None)
