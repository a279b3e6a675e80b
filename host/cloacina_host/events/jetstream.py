"""The JetStream event plane (``--events nats://…``): any replica accepts events, exactly one
owns each reactor, and every replica shows the same state.

- **Ingress.** An accepted event is published to its reactor's subject with a message id
  (the caller's ``Idempotency-Key``, else a fresh one) and acknowledged to the caller once
  the broker confirmed it, with its sequence. Which reactor an accumulator feeds is read
  from this replica's own runtime (every replica loads every tenant's packages).
- **Ownership.** Every ``poll_seconds`` a replica looks at each reactor it has loaded: a
  free lease is taken at once by the reactor's preferred replica (rendezvous over the live
  replicas, :mod:`.ownership`) and by any other after ``grace_seconds``; a lease held too
  long away from its preferred replica is handed back. The owner's work is
  :class:`~.owner.ReactorOwner`'s.
- **Reads.** A reactor's state, fires and cache, its accumulators' counts and its graphs'
  run counts come from the saved state; a graph's runs from the runs stream; the live
  output stream from the runs subject. Commands (fire, pause, resume) go to the owner by
  request; ``get_state`` is read from the saved state, owner or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import TYPE_CHECKING, Any

import orjson

from ..core.runtime import encode_event
from ..errors import CloacinaError, NotFoundError, from_wire
from ..log import get_logger
from .broker import Broker, EventSettings, EventsUnavailableError, NoOwnerError
from .naming import command_subject, event_subject, reactor_key, runs_subject
from .owner import ReactorOwner, Streams
from .ownership import preferred
from .plane import Follower, Kind, split_frames
from .snapshot import (
    Saved,
    accumulator_overlay,
    graph_overlay,
    reactor_overlay,
    state_reply,
)

if TYPE_CHECKING:
    from ..control.plane import ControlPlane

log = get_logger()

ROUTES_SECONDS = 1.0  # how long a tenant's accumulator -> reactor table is trusted
ALIVE_REFRESH = 1.0  # how often the live replicas are read from the database
RUNS_SHOWN = 100  # a graph's runs shown by GET …/graphs/{name}


class _Follower:
    def __init__(self, queue: asyncio.Queue[bytes], stop: Any) -> None:
        self.queue, self._stop = queue, stop

    async def take(self) -> list[bytes]:
        first = await self.queue.get()
        out = [first]
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._stop()


class JetStreamEvents:
    """See the module's docstring."""

    kind: Kind = "jetstream"

    def __init__(self, plane: ControlPlane, settings: EventSettings) -> None:
        self.plane = plane
        self.settings = settings
        self.replica = plane.replica
        self.broker = Broker(settings, plane.replica)
        self.owners: dict[str, ReactorOwner] = {}
        self._free_since: dict[str, float] = {}
        self._routes: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}
        self._alive: list[str] = [plane.replica]
        self._settled: set[str] = set()  # replicas alive long enough to hand reactors to
        self._alive_at = 0.0
        self._loop: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.broker.connect()
        self._loop = asyncio.create_task(self._ownership(), name="events-ownership")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        for owner in list(self.owners.values()):
            await owner.stop(release=True)
        self.owners.clear()
        await self.broker.close()

    def status(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "connected": self.broker.connected,
            "owned": sorted(
                (
                    {
                        "tenant": o.tenant,
                        "reactor": o.reactor,
                        "epoch": o.saved.epoch,
                        "since": o.acquired_at,
                        "applied_sequence": o.saved.applied,
                    }
                    for o in self.owners.values()
                    if o.valid()
                ),
                key=lambda i: (i["tenant"], i["reactor"]),
            ),
        }

    # ------------------------------------------------------------------ routes

    async def _accumulators(self, tenant: str, fresh: bool = False) -> dict[str, dict[str, Any]]:
        """This replica's accumulators of ``tenant``: name -> its view (reactor, kind, …)."""
        cached = self._routes.get(tenant)
        if cached is not None and not fresh and time.monotonic() - cached[0] < ROUTES_SECONDS:
            return cached[1]
        views = await asyncio.to_thread(self.plane.runtime(tenant).accumulator_views)
        table = {str(v["name"]): v for v in views}
        self._routes[tenant] = (time.monotonic(), table)
        return table

    async def _reactor_of(self, tenant: str, accumulator: str) -> str:
        table = await self._accumulators(tenant)
        if accumulator not in table:
            table = await self._accumulators(tenant, fresh=True)
        view = table.get(accumulator)
        if view is None:
            raise NotFoundError(
                f"accumulator '{accumulator}' is not loaded in tenant '{tenant}'",
                tenant=tenant,
                accumulator=accumulator,
            )
        return str(view["reactor"])

    # ------------------------------------------------------------------ ingress

    async def push(
        self, tenant: str, accumulator: str, body: bytes, msg_id: str | None
    ) -> dict[str, Any]:
        data = encode_event(body, "accumulator", accumulator)
        reactor = await self._reactor_of(tenant, accumulator)
        seq, duplicate = await self.broker.publish(
            event_subject(tenant, reactor, accumulator), data, msg_id or uuid.uuid4().hex
        )
        return {
            "accumulator": accumulator,
            "reactor": reactor,
            "sequence": seq,
            "duplicate": duplicate,
            "fires": None,
        }

    async def push_frames(
        self, tenant: str, accumulator: str, frames: list[bytes]
    ) -> tuple[list[int], list[dict[str, str]]]:
        valid, errors = split_frames(frames)
        if not valid:
            return [], errors
        try:
            reactor = await self._reactor_of(tenant, accumulator)
        except CloacinaError as exc:
            return [], [*errors, {"type": "error", "code": exc.code, "error": str(exc)}]
        subject = event_subject(tenant, reactor, accumulator)
        results = await self.broker.publish_all([(subject, f, uuid.uuid4().hex) for f in valid])
        seqs: list[int] = []
        for result in results:
            if isinstance(result, EventsUnavailableError):
                errors.append({"type": "error", "code": result.code, "error": str(result)})
            else:
                seqs.append(result[0])
        return seqs, errors

    # ------------------------------------------------------------------ commands

    async def _saved(self, tenant: str, reactor: str) -> tuple[Saved | None, str | None]:
        key = reactor_key(tenant, reactor)
        (saved, _), owner = await asyncio.gather(
            self.broker.load_state(key), self.broker.lease_owner(key)
        )
        return saved, owner

    async def command(self, tenant: str, reactor: str, message: dict[str, Any]) -> dict[str, Any]:
        view = await asyncio.to_thread(self.plane.runtime(tenant).reactor_view, reactor)
        if message.get("command") == "get_state":
            saved, owner = await self._saved(tenant, reactor)
            return state_reply(reactor, saved, owner, list(view["subscribers"]))
        try:
            raw = await self.broker.request(
                command_subject(tenant, reactor), orjson.dumps(message), self.settings.timeout
            )
        except NoOwnerError:
            raise NoOwnerError(
                f"reactor '{reactor}' in tenant '{tenant}' has no owner right now (its "
                "replica died or is handing it over; another takes it within a few seconds)",
                tenant=tenant,
                reactor=reactor,
            ) from None
        answer = orjson.loads(raw)
        if not answer.get("ok"):
            raise from_wire(answer.get("error") or {}, f"reactor '{reactor}': command failed")
        reply: dict[str, Any] = answer["reply"]
        return reply

    async def fire(
        self, tenant: str, reactor: str, inputs: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        message: dict[str, Any] = (
            {"command": "fire_with", "inputs": inputs} if inputs else {"command": "force_fire"}
        )
        reply = await self.command(tenant, reactor, message)
        runs: list[dict[str, Any]] = reply["runs"]
        return runs

    # ------------------------------------------------------------------ views

    async def reactor_views(self, tenant: str) -> list[dict[str, Any]]:
        views = await asyncio.to_thread(self.plane.runtime(tenant).reactor_views)
        saved = await asyncio.gather(*(self._saved(tenant, str(v["name"])) for v in views))
        for view, (state, owner) in zip(views, saved, strict=True):
            reactor_overlay(view, state, owner)
        return views

    async def reactor_view(self, tenant: str, name: str) -> dict[str, Any]:
        view = await asyncio.to_thread(self.plane.runtime(tenant).reactor_view, name)
        state, owner = await self._saved(tenant, name)
        reactor_overlay(view, state, owner)
        return view

    async def graph_views(self, tenant: str, only: str | None = None) -> list[dict[str, Any]]:
        views = await asyncio.to_thread(self.plane.runtime(tenant).graph_views, only)
        reactors = {str(v["reactor"]) for v in views if v.get("reactor")}
        states = dict(
            zip(
                reactors,
                await asyncio.gather(
                    *(self.broker.load_state(reactor_key(tenant, r)) for r in reactors)
                ),
                strict=True,
            )
        )

        async def runs(view: dict[str, Any]) -> list[dict[str, Any]]:
            return await self.broker.runs(
                runs_subject(tenant, str(view["name"])), RUNS_SHOWN if only else 1
            )

        bound = [v for v in views if v.get("reactor")]
        kept = await asyncio.gather(*(runs(v) for v in bound))
        for view, got in zip(bound, kept, strict=True):
            graph_overlay(view, states[str(view["reactor"])][0], got)
        return views

    async def accumulator_views(self, tenant: str) -> list[dict[str, Any]]:
        views = await asyncio.to_thread(self.plane.runtime(tenant).accumulator_views)
        reactors = {str(v["reactor"]) for v in views}
        states = dict(
            zip(
                reactors,
                await asyncio.gather(
                    *(self.broker.load_state(reactor_key(tenant, r)) for r in reactors)
                ),
                strict=True,
            )
        )
        for view in views:
            accumulator_overlay(view, states[str(view["reactor"])][0])
        return views

    async def follow(self, tenant: str, graph: str) -> Follower:
        queue, stop = await self.broker.follow(runs_subject(tenant, graph))
        return _Follower(queue, stop)

    # ------------------------------------------------------------------ ownership

    async def _refresh_alive(self) -> None:
        if time.monotonic() - self._alive_at < ALIVE_REFRESH:
            return
        self._alive_at = time.monotonic()
        replicas = await asyncio.to_thread(self.plane.replicas.all)
        now = time.time()
        alive = [r for r in replicas if r.alive(now)]
        self._alive = sorted({r.id for r in alive} | {self.replica})
        settled = self.settings.handover_after / 2
        self._settled = {r.id for r in alive if now - r.started_at > settled} | {self.replica}

    async def _wanted(self) -> dict[str, tuple[str, str, Streams]]:
        """Every reactor loaded here: key -> (tenant, reactor, its stream accumulators)."""
        wanted: dict[str, tuple[str, str, Streams]] = {}
        for tenant in self.plane.tenants():
            try:
                table = await self._accumulators(tenant)
            except CloacinaError:  # its worker is down: its reactors are not ours to run
                continue
            streams: dict[str, Streams] = {}
            for name, view in table.items():
                reactor = str(view["reactor"])
                entry = streams.setdefault(reactor, {})
                if view.get("kind") == "stream" and view.get("subject"):
                    entry[name] = (str(view["subject"]), view.get("durable"))
            for reactor, accs in streams.items():
                wanted[reactor_key(tenant, reactor)] = (tenant, reactor, accs)
        return wanted

    async def _ownership(self) -> None:
        while True:
            try:
                await self._refresh_alive()
                await self._claim(await self._wanted())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("ownership_pass_failed", replica=self.replica, error=str(exc))
            await asyncio.sleep(self.settings.poll_seconds)

    async def _claim(self, wanted: dict[str, tuple[str, str, Streams]]) -> None:
        s = self.settings
        for key, owner in list(self.owners.items()):
            if key not in wanted or owner.done.is_set():
                await owner.stop(release=key not in wanted or owner.valid())
                del self.owners[key]
                continue
            first = preferred(key, self._alive)
            if (
                first != self.replica
                and first in self._settled
                and time.time() - owner.acquired_at > s.handover_after
            ):
                log.info("reactor_handover", key=key, to=first)
                async with owner.lock:
                    await owner.stop(release=True)
                del self.owners[key]
        for key, (tenant, reactor, streams) in wanted.items():
            if key in self.owners:
                continue
            if await self.broker.lease_owner(key) is not None:
                self._free_since.pop(key, None)
                continue
            since = self._free_since.setdefault(key, time.monotonic())
            mine = preferred(key, self._alive) == self.replica
            if not mine and time.monotonic() - since < s.grace_seconds:
                continue
            taken_at = time.monotonic()
            lease = await self.broker.lease_take(key)
            if lease is None:
                continue
            self._free_since.pop(key, None)
            owner = ReactorOwner(
                self.broker,
                self.plane.runtime(tenant),
                tenant,
                reactor,
                lease,
                taken_at,
                streams,
            )
            try:
                await owner.start()
            except Exception as exc:
                log.warning("reactor_take_failed", key=key, error=str(exc))
                await owner.stop(release=True)
                continue
            self.owners[key] = owner
