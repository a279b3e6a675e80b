"""The event plane as the server sees it: :class:`EventPlane`, and the embedded default.

Everything that moves events or reads what they did goes through one interface: pushes
(one event over HTTP, frames over a WebSocket), reactor commands and fires, the views of
reactors, graphs and accumulators, and a graph's live output stream. The embedded plane
(:class:`EmbeddedEvents`) is the path the host always had: the replica that accepts an
event pushes it into its own tenant runtime and answers with the fires it caused. The
JetStream plane (:mod:`.jetstream`) publishes instead, and reads the saved state.
Framework-free (the server's routes call it from the event loop)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson

from .hub import OutputHub, Watch

if TYPE_CHECKING:
    from ..control.plane import ControlPlane

Kind = Literal["embedded", "jetstream"]


def split_frames(frames: list[bytes]) -> tuple[list[bytes], list[dict[str, str]]]:
    """The frames that are JSON (in order), and an error frame for each that is not."""
    errors: list[dict[str, str]] = []
    valid: list[bytes] = []
    loads = orjson.loads
    for frame in frames:
        try:
            loads(frame)
        except orjson.JSONDecodeError as exc:
            errors.append(
                {
                    "type": "error",
                    "code": "invalid_json",
                    "error": f"event is not valid JSON: {exc}",
                }
            )
        else:
            valid.append(frame)
    return valid, errors


class Follower(Protocol):
    """A graph's live runs from the moment of following (JSON-encoded ``GraphRun``\\ s)."""

    async def take(self) -> list[bytes]:
        """The runs that arrived since the last take, waiting for one."""

    async def close(self) -> None: ...


class EventPlane(Protocol):
    """How events reach a tenant's reactors, and how what they did is read."""

    kind: Kind

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def push(
        self, tenant: str, accumulator: str, body: bytes, msg_id: str | None
    ) -> dict[str, Any]:
        """One event (HTTP): the answer's body (``fires`` when the plane knows them at
        once, ``sequence`` when the broker confirmed it)."""

    async def push_frames(
        self, tenant: str, accumulator: str, frames: list[bytes]
    ) -> tuple[list[int], list[dict[str, str]]]:
        """WebSocket frames, in order: the broker sequence of each accepted frame (none
        for the embedded plane), and an error frame for each refused one."""

    async def command(self, tenant: str, reactor: str, message: dict[str, Any]) -> dict[str, Any]:
        """A reactor command whose form and role the caller has checked."""

    async def fire(
        self, tenant: str, reactor: str, inputs: dict[str, Any] | None
    ) -> list[dict[str, Any]]: ...

    async def reactor_views(self, tenant: str) -> list[dict[str, Any]]: ...

    async def reactor_view(self, tenant: str, name: str) -> dict[str, Any]: ...

    async def graph_views(self, tenant: str, only: str | None = None) -> list[dict[str, Any]]: ...

    async def accumulator_views(self, tenant: str) -> list[dict[str, Any]]: ...

    async def follow(self, tenant: str, graph: str) -> Follower: ...

    def status(self) -> dict[str, Any]:
        """What this replica's event plane is doing (``GET /v1/replicas``)."""


class _HubFollower:
    def __init__(self, hub: OutputHub, tenant: str, graph: str) -> None:
        self.hub, self.tenant, self.graph = hub, tenant, graph
        self.watch: Watch = hub.watch(tenant, graph)

    async def take(self) -> list[bytes]:
        return [orjson.dumps(run.to_dict()) for run in await self.watch.take()]

    async def close(self) -> None:
        self.hub.unwatch(self.tenant, self.graph, self.watch)


class EmbeddedEvents:
    """Events pushed straight into the accepting replica's tenant runtime (the default)."""

    kind: Kind = "embedded"

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        #: fed every finished run (a run listener of the server's metrics observer)
        self.hub = OutputHub()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def push(
        self, tenant: str, accumulator: str, body: bytes, msg_id: str | None
    ) -> dict[str, Any]:
        fires = await self.plane.runtime(tenant).push_async(accumulator, body)
        return {"accumulator": accumulator, "fires": fires}

    async def push_frames(
        self, tenant: str, accumulator: str, frames: list[bytes]
    ) -> tuple[list[int], list[dict[str, str]]]:
        valid, errors = split_frames(frames)
        if valid:
            result = await self.plane.runtime(tenant).push_frames_async(accumulator, valid)
            errors += result.errors
        return [], errors

    async def command(self, tenant: str, reactor: str, message: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self.plane.runtime(tenant).command, reactor, message)

    async def fire(
        self, tenant: str, reactor: str, inputs: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        runs = await asyncio.to_thread(self.plane.runtime(tenant).fire, reactor, inputs)
        return [r.to_dict() for r in runs]

    async def reactor_views(self, tenant: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.plane.runtime(tenant).reactor_views)

    async def reactor_view(self, tenant: str, name: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.plane.runtime(tenant).reactor_view, name)

    async def graph_views(self, tenant: str, only: str | None = None) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.plane.runtime(tenant).graph_views, only)

    async def accumulator_views(self, tenant: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.plane.runtime(tenant).accumulator_views)

    async def follow(self, tenant: str, graph: str) -> Follower:
        return _HubFollower(self.hub, tenant, graph)

    def status(self) -> dict[str, Any]:
        return {"kind": self.kind}
