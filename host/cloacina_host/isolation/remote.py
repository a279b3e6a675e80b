"""A tenant's runtime in its worker process (``--isolation tenant``): :class:`RemoteTenant`
is the :class:`~.tenant.TenantRuntime` whose every call is a request on the worker's
channel (:mod:`.protocol`), answered by the worker's :class:`~.local.LocalTenant`.

A tenant without a worker (nothing loaded yet) is answered by an empty local runtime, so
its views are empty and its names unknown exactly as they would be in the worker; the first
load starts the worker. When the last package is unloaded the worker stops again.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

from ..core.executor import GraphRun
from ..core.records import UnloadReport
from ..core.registry import Kind
from ..core.views import TenantSample
from ..errors import WorkerUnavailableError
from ..types import PackageDecl
from . import protocol
from .local import LocalTenant
from .supervisor import WorkerState, WorkerTenant
from .tenant import LibraryRef, PushResult

#: How long ``/metrics`` waits for a worker's sample before leaving the tenant out.
SAMPLE_TIMEOUT = 2.0


class RemoteTenant:
    """A :class:`~.tenant.TenantRuntime` served by the tenant's worker."""

    def __init__(self, worker: WorkerTenant) -> None:
        self.worker = worker
        self._empty = LocalTenant.create(worker.tenant)
        #: Versions being loaded right now, by package (to name what a death interrupted).
        self.loading: dict[str, LibraryRef] = {}
        #: Set when the last package went and the worker is being stopped on purpose (until
        #: the next load): a view that meets the stopping worker answers what the tenant now
        #: has, nothing, rather than "unavailable".
        self._emptied = False

    @property
    def tenant(self) -> str:
        return self.worker.tenant

    def _local(self) -> LocalTenant | None:
        """The empty runtime when the tenant has no worker (raises while it is down)."""
        return self._empty if self.worker.running() is None else None

    # ------------------------------------------------------------------ packages

    def _library(self, op: str, ref: LibraryRef) -> PackageDecl:
        args = {
            "name": ref.name,
            "version": ref.version,
            "sha256": ref.sha256,
            "library": ref.path.read_bytes(),
        }
        self.loading[ref.name] = ref
        self._emptied = False
        try:
            return protocol.decl_from_wire(self.worker.call(op, args, start=True))
        finally:
            self.loading.pop(ref.name, None)

    def load(self, ref: LibraryRef) -> PackageDecl:
        return self._library("load", ref)

    def replace(self, ref: LibraryRef) -> PackageDecl:
        return self._library("replace", ref)

    def unload(self, package: str) -> UnloadReport:
        local = self._local()
        if local is not None:
            return local.unload(package)  # raises not found: nothing is loaded
        report = protocol.report_from_wire(self.worker.call("unload", {"package": package}))
        if not self.worker.call("packages", {}):
            self._emptied = True
            self.worker.stop()  # nothing left to run: the worker goes until the next load
        return report

    def packages(self) -> list[PackageDecl]:
        if self.worker.state is WorkerState.CRASHED:
            return []  # down until an operator acts: nothing is loaded
        local = self._local()
        if local is not None:
            return []
        return [protocol.decl_from_wire(d) for d in self.worker.call("packages", {})]

    def close(self) -> None:
        self.worker.stop()

    # ------------------------------------------------------------------ events

    def push(self, accumulator: str, event: bytes) -> int:
        local = self._local()
        if local is not None:
            return local.push(accumulator, event)
        return int(self.worker.call("push", {"accumulator": accumulator, "event": event}))

    async def push_async(self, accumulator: str, event: bytes) -> int:
        if self.worker.state is WorkerState.STOPPED:
            return self._empty.push(accumulator, event)
        future = self.worker.submit("push", {"accumulator": accumulator, "event": event})
        return int(await self._wait(future))

    async def _wait(self, future: Future[Any]) -> Any:
        timeout = self.worker.supervisor.settings.request_timeout
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            raise self.worker.stuck(timeout) from None

    def push_frames(self, accumulator: str, frames: list[bytes]) -> PushResult:
        local = self._local()
        if local is not None:
            return local.push_frames(accumulator, frames)
        fires, errors = self.worker.call(
            "push_frames", {"accumulator": accumulator, "frames": frames}
        )
        return PushResult(int(fires), list(errors))

    async def push_frames_async(self, accumulator: str, frames: list[bytes]) -> PushResult:
        try:
            future = self.worker.submit(
                "push_frames", {"accumulator": accumulator, "frames": frames}
            )
        except WorkerUnavailableError as exc:
            if self.worker.state is WorkerState.STOPPED:
                return self._empty.push_frames(accumulator, frames)
            return PushResult(0, [{"type": "error", "code": exc.code, "error": str(exc)}])
        try:
            fires, errors = await self._wait(future)
        except WorkerUnavailableError as exc:
            return PushResult(0, [{"type": "error", "code": exc.code, "error": str(exc)}])
        return PushResult(int(fires), list(errors))

    def command(self, reactor: str, message: dict[str, Any]) -> dict[str, Any]:
        local = self._local()
        if local is not None:
            return local.command(reactor, message)
        result: dict[str, Any] = self.worker.call(
            "command", {"reactor": reactor, "message": message}
        )
        return result

    def fire(self, reactor: str, inputs: dict[str, Any] | None) -> list[GraphRun]:
        local = self._local()
        if local is not None:
            return local.fire(reactor, inputs)
        runs = self.worker.call("fire", {"reactor": reactor, "inputs": inputs})
        return [protocol.run_from_wire(r) for r in runs]

    def tick(self) -> int:
        return 0  # a worker ticks itself (batch flushes, polling) and reports its fires

    # ------------------------------------------------------------------ an event plane's calls

    async def _call_async(self, op: str, args: dict[str, Any]) -> Any:
        return await self._wait(self.worker.submit(op, args))

    async def apply_async(
        self, reactor: str, batches: list[tuple[str, list[bytes]]], tick: bool = False
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call_async(
            "apply", {"reactor": reactor, "batches": batches, "tick": tick}
        )
        return result

    async def apply_command_async(self, reactor: str, message: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call_async(
            "apply_command", {"reactor": reactor, "message": message}
        )
        return result

    async def export_reactor_async(self, reactor: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call_async("export_reactor", {"reactor": reactor})
        return result

    async def adopt_reactor_async(self, reactor: str, state: dict[str, Any]) -> None:
        await self._call_async("adopt_reactor", {"reactor": reactor, "state": state})

    # ------------------------------------------------------------------ views

    def _view(self, op: str, args: dict[str, Any], empty: Any) -> Any:
        try:
            local = self._local()
            if local is not None:
                return empty(local)
            return self.worker.call(op, args)
        except WorkerUnavailableError:
            if self._emptied:  # it is stopping because nothing is left: an empty tenant
                return empty(self._empty)
            raise

    def has(self, kind: Kind, name: str) -> bool:
        return bool(self._view("has", {"kind": kind, "name": name}, lambda t: t.has(kind, name)))

    def reactor_views(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._view("reactor_views", {}, LocalTenant.reactor_views)
        return result

    def reactor_view(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._view(
            "reactor_view", {"name": name}, lambda t: t.reactor_view(name)
        )
        return result

    def graph_views(self, only: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._view(
            "graph_views", {"only": only}, lambda t: t.graph_views(only)
        )
        return result

    def accumulator_views(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._view(
            "accumulator_views", {}, LocalTenant.accumulator_views
        )
        return result

    def subscribers(self, reactor: str) -> list[str]:
        result: list[str] = self._view(
            "subscribers", {"reactor": reactor}, lambda t: t.subscribers(reactor)
        )
        return result

    def sample(self) -> TenantSample | None:
        try:
            proc = self.worker.running()
            if proc is None:
                return None
            value = proc.submit("sample", {}, 1 << 30).result(SAMPLE_TIMEOUT)
        except (WorkerUnavailableError, TimeoutError):
            return None
        return None if value is None else protocol.sample_from_wire(value)

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = self._view("counts", {}, LocalTenant.counts)
        return result
