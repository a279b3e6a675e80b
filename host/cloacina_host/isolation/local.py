"""A tenant's runtime in this process (``--isolation none``, and inside a tenant worker).

:class:`LocalTenant` turns a :class:`~..core.runtime.Runtime` into the plain-value
:class:`~.tenant.TenantRuntime`: the worker process serves exactly these calls over its
channel, so both isolation modes share one implementation of what each call means.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..core import views
from ..core.executor import GraphRun
from ..core.reactor import Observer
from ..core.records import UnloadReport
from ..core.registry import Kind
from ..core.runtime import Runtime
from ..core.views import TenantSample
from ..errors import CloacinaError, InvalidInputError, PluginCallError
from ..types import PackageDecl
from .tenant import LibraryRef, PushResult

#: Reactor commands, and whether each needs a key that may write.
COMMANDS = {
    "get_state": False,
    "force_fire": True,
    "fire_with": True,
    "pause": True,
    "resume": True,
}


def error_frame(exc: CloacinaError) -> dict[str, str]:
    """The WebSocket error frame for a refused event or command."""
    return {"type": "error", "code": exc.code, "error": str(exc)}


class LocalTenant:
    """One tenant's :class:`Runtime`, as a :class:`~.tenant.TenantRuntime`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @classmethod
    def create(cls, tenant: str, observer: Observer | None = None) -> LocalTenant:
        return cls(Runtime(tenant, observer=observer))

    @property
    def tenant(self) -> str:
        return self.runtime.tenant

    # ------------------------------------------------------------------ packages

    def load(self, ref: LibraryRef) -> PackageDecl:
        return self.runtime.load(ref.path)

    def replace(self, ref: LibraryRef) -> PackageDecl:
        return self.runtime.replace(ref.path)

    def unload(self, package: str) -> UnloadReport:
        return self.runtime.unload(package)

    def packages(self) -> list[PackageDecl]:
        return self.runtime.packages()

    def close(self) -> None:
        self.runtime.close()

    # ------------------------------------------------------------------ events

    def push(self, accumulator: str, event: bytes) -> int:
        return self.runtime.push(accumulator, event)

    async def push_async(self, accumulator: str, event: bytes) -> int:
        return await asyncio.to_thread(self.push, accumulator, event)

    def push_frames(self, accumulator: str, frames: list[bytes]) -> PushResult:
        refused: list[PluginCallError] = []
        try:
            reactor = self.runtime.reactor_of(accumulator)
            fires = reactor.push(accumulator, frames, refused) if frames else 0
        except CloacinaError as exc:
            return PushResult(0, [error_frame(exc)])
        return PushResult(fires, [error_frame(e) for e in refused])

    async def push_frames_async(self, accumulator: str, frames: list[bytes]) -> PushResult:
        return await asyncio.to_thread(self.push_frames, accumulator, frames)

    def command(self, reactor: str, message: dict[str, Any]) -> dict[str, Any]:
        command = message.get("command")
        rt = self.runtime
        if command == "get_state":
            return {"type": "state", **rt.reactor(reactor).state_snapshot()}
        if command == "force_fire":
            runs = rt.fire(reactor)
            return {"type": "fired", "reactor": reactor, "runs": [r.to_dict() for r in runs]}
        if command == "fire_with":
            inputs = message.get("inputs")
            if not isinstance(inputs, dict):
                raise InvalidInputError('fire_with needs "inputs": {accumulator: value}')
            runs = rt.fire(reactor, inputs)
            return {"type": "fired", "reactor": reactor, "runs": [r.to_dict() for r in runs]}
        if command == "pause":
            rt.pause(reactor)
            return {"type": "paused", "reactor": reactor}
        if command == "resume":
            return {"type": "resumed", "reactor": reactor, "fires": rt.resume(reactor)}
        raise InvalidInputError(f"unknown command {command!r}: use one of {', '.join(COMMANDS)}")

    def fire(self, reactor: str, inputs: dict[str, Any] | None) -> list[GraphRun]:
        return self.runtime.fire(reactor, inputs)

    def tick(self) -> int:
        return self.runtime.tick()

    # ------------------------------------------------------------------ views

    def has(self, kind: Kind, name: str) -> bool:
        return self.runtime.registry.has(kind, name)

    def reactor_views(self) -> list[dict[str, Any]]:
        return views.reactor_views(self.runtime)

    def reactor_view(self, name: str) -> dict[str, Any]:
        return views.reactor_view(self.runtime.reactor(name), detail=True)

    def graph_views(self, only: str | None = None) -> list[dict[str, Any]]:
        return views.graph_views(self.runtime, only)

    def accumulator_views(self) -> list[dict[str, Any]]:
        return views.accumulator_views(self.runtime)

    def subscribers(self, reactor: str) -> list[str]:
        return self.runtime.registry.subscribers(reactor)

    def sample(self) -> TenantSample | None:
        return views.sample(self.runtime)

    def counts(self) -> dict[str, int]:
        return self.runtime.counts()

    # ------------------------------------------------------------------ an event plane's calls

    def apply(
        self, reactor: str, batches: list[tuple[str, list[bytes]]], tick: bool = False
    ) -> dict[str, Any]:
        """Apply events an event plane delivered to one reactor, in order (each batch is
        one accumulator's consecutive events), then its time-driven work when ``tick``.

        Returns ``{"fires", "errors", "runs", "state"}``: the runs of every fire (as
        dicts), an error frame per refused event, and the reactor's state after them
        (:meth:`~..core.reactor.Reactor.export`), taken under the same lock."""
        r = self.runtime.reactor(reactor)
        runs: list[GraphRun] = []
        errors: list[dict[str, str]] = []
        fires = 0
        with r.lock:
            r.collect = runs
            try:
                for accumulator, frames in batches:
                    if accumulator not in r.accumulators:
                        errors.append(
                            error_frame(
                                InvalidInputError(
                                    f"reactor '{reactor}' has no accumulator '{accumulator}'"
                                )
                            )
                        )
                        continue
                    refused: list[PluginCallError] = []
                    fires += r.push(accumulator, frames, refused)
                    errors += [error_frame(e) for e in refused]
                if tick:
                    fires += r.tick(time.monotonic())
            finally:
                r.collect = None
            state = r.export()
        return {
            "fires": fires,
            "errors": errors,
            "runs": [run.to_dict() for run in runs],
            "state": state,
        }

    def apply_command(self, reactor: str, message: dict[str, Any]) -> dict[str, Any]:
        """A reactor command at the reactor's owner: ``{"reply", "runs", "state"}``."""
        r = self.runtime.reactor(reactor)
        runs: list[GraphRun] = []
        with r.lock:
            r.collect = runs
            try:
                reply = self.command(reactor, message)
            finally:
                r.collect = None
            state = r.export()
        return {"reply": reply, "runs": [run.to_dict() for run in runs], "state": state}

    def export_reactor(self, reactor: str) -> dict[str, Any]:
        return self.runtime.reactor(reactor).export()

    def adopt_reactor(self, reactor: str, state: dict[str, Any]) -> None:
        self.runtime.reactor(reactor).adopt(state)

    async def apply_async(
        self, reactor: str, batches: list[tuple[str, list[bytes]]], tick: bool = False
    ) -> dict[str, Any]:
        return await asyncio.to_thread(self.apply, reactor, batches, tick)

    async def apply_command_async(self, reactor: str, message: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self.apply_command, reactor, message)

    async def export_reactor_async(self, reactor: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.export_reactor, reactor)

    async def adopt_reactor_async(self, reactor: str, state: dict[str, Any]) -> None:
        await asyncio.to_thread(self.adopt_reactor, reactor, state)

    # ------------------------------------------------------------------ worker-side extras

    def caches(self, seen: dict[str, int]) -> dict[str, dict[str, bytes | None]]:
        """The input cache of every reactor whose cache changed since the version in
        ``seen`` (updated), so a supervisor can hand it to a replacement worker."""
        changed = {}
        for reactor in self.runtime.reactors():
            name = reactor.decl.name
            if seen.get(name) != reactor.cache_version:
                seen[name] = reactor.cache_version
                changed[name] = dict(reactor.cache)
        return changed

    def restore(self, caches: dict[str, dict[str, bytes | None]]) -> list[str]:
        """Put input caches back without firing; returns the reactors restored."""
        restored = []
        for name, cache in caches.items():
            entry = self.runtime.registry.reactor(name)
            if entry is None:
                continue
            reactor = entry.live
            with reactor.lock:
                for acc, value in cache.items():
                    if acc in reactor.cache:
                        reactor.cache[acc] = value
            restored.append(name)
        return restored
