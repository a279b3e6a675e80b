"""A tenant's runtime as the control plane and the server see it: :class:`TenantRuntime`.

Everything crosses it as plain values (declarations, JSON-ready dicts, bytes), so the same
calls work whether the runtime lives in this process (:class:`~.local.LocalTenant`,
``--isolation none``) or in the tenant's supervised worker process
(:class:`~.supervisor.WorkerTenant`, ``--isolation tenant``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..core.executor import GraphRun
from ..core.records import UnloadReport
from ..core.registry import Kind
from ..core.views import TenantSample
from ..types import PackageDecl

__all__ = ["LibraryRef", "PushResult", "TenantRuntime"]


@dataclass(frozen=True)
class LibraryRef:
    """A package version to load: its identity, content hash and library file."""

    name: str
    version: str
    sha256: str
    path: Path


@dataclass(frozen=True)
class PushResult:
    """What one push of WebSocket frames did: fires, and an error frame per refused event."""

    fires: int
    errors: list[dict[str, str]]


class TenantRuntime(Protocol):
    """One tenant's loaded packages, reactors and graphs, behind plain values."""

    @property
    def tenant(self) -> str: ...

    # ------------------------------------------------------------------ packages

    def load(self, ref: LibraryRef) -> PackageDecl: ...

    def replace(self, ref: LibraryRef) -> PackageDecl: ...

    def unload(self, package: str) -> UnloadReport: ...

    def packages(self) -> list[PackageDecl]: ...

    def close(self) -> None:
        """Unload everything (subscribers first) and release the runtime."""

    # ------------------------------------------------------------------ events

    def push(self, accumulator: str, event: bytes) -> int:
        """Push one event (JSON bytes, validated here); the fires it caused."""

    async def push_async(self, accumulator: str, event: bytes) -> int:
        """:meth:`push` for the event loop: never blocks it."""

    def push_frames(self, accumulator: str, frames: list[bytes]) -> PushResult:
        """Push frames the caller checked are JSON, in one reactor wake-up; a frame the
        accumulator refuses becomes an error frame and the rest are still pushed."""

    async def push_frames_async(self, accumulator: str, frames: list[bytes]) -> PushResult:
        """:meth:`push_frames` for the event loop: never blocks it."""

    def command(self, reactor: str, message: dict[str, Any]) -> dict[str, Any]:
        """One reactor command (``get_state``, ``force_fire``, ``fire_with``, ``pause``,
        ``resume``); the caller has checked the caller's role."""

    def fire(self, reactor: str, inputs: dict[str, Any] | None) -> list[GraphRun]: ...

    def tick(self) -> int:
        """Time-driven work (batch flushes, polling accumulators); returns fires."""

    # ------------------------------------------------------------------ an event plane's calls

    async def apply_async(
        self, reactor: str, batches: list[tuple[str, list[bytes]]], tick: bool = False
    ) -> dict[str, Any]:
        """Apply delivered events to one reactor in order (each batch: one accumulator's
        consecutive events), then its time-driven work when ``tick``; returns ``{"fires",
        "errors", "runs", "state"}`` with the reactor's state after them."""

    async def apply_command_async(self, reactor: str, message: dict[str, Any]) -> dict[str, Any]:
        """A reactor command at its owner: ``{"reply", "runs", "state"}``."""

    async def export_reactor_async(self, reactor: str) -> dict[str, Any]:
        """Everything the reactor holds, as plain values (to save)."""

    async def adopt_reactor_async(self, reactor: str, state: dict[str, Any]) -> None:
        """Take over saved state, without firing."""

    # ------------------------------------------------------------------ views

    def has(self, kind: Kind, name: str) -> bool: ...

    def reactor_views(self) -> list[dict[str, Any]]: ...

    def reactor_view(self, name: str) -> dict[str, Any]: ...

    def graph_views(self, only: str | None = None) -> list[dict[str, Any]]: ...

    def accumulator_views(self) -> list[dict[str, Any]]: ...

    def subscribers(self, reactor: str) -> list[str]: ...

    def sample(self) -> TenantSample | None:
        """What ``/metrics`` reads at scrape time (None when it cannot be had right now)."""

    def counts(self) -> dict[str, int]:
        """Sizes of the runtime's tables (leak checks)."""
