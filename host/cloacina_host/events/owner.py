"""One reactor this replica owns: its lease, its consumers, the apply loop and its commands.

Taking over (:meth:`ReactorOwner.start`): read the saved state, write it back with the
epoch bumped (from then on a previous owner's compare-and-set fails: it is fenced out),
adopt it into the tenant worker's reactor without firing, and replace the reactor's durable
consumer with one that starts right after the saved sequence. Events the previous
consumer had already delivered past that point may have been applied by the previous owner
without being saved: their runs are marked ``replayed``.

Then, until the lease is lost or given up, one batch at a time: fetch what arrived, apply
it in the worker (one call: the pushes, the fires, the state after them), publish each
graph run (its message id is its fire, so the broker keeps one copy of a fire replayed
with the same outcome), save the state with the last applied sequence by compare-and-set,
and only then acknowledge. An event is acknowledged only once its effect is saved, and
never applied twice to the saved state: a new owner resumes after the saved sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import CloacinaError, NotFoundError, to_wire
from ..isolation.tenant import TenantRuntime
from ..log import get_logger
from .broker import Broker, Delivered, EventSettings, NoOwnerError
from .naming import (
    EVENTS_STREAM,
    STREAMS_STREAM,
    accumulator_of,
    command_subject,
    consumer_name,
    reactor_events,
    reactor_key,
    runs_subject,
    stream_subject,
)
from .snapshot import Saved

if TYPE_CHECKING:
    from nats.aio.msg import Msg

log = get_logger()

#: A lease counts as ours until this long before the broker could expire it.
SAFETY_SECONDS = 0.25


#: a reactor's stream accumulators: name -> (declared subject, durable name or None)
Streams = dict[str, tuple[str, str | None]]


class Lost(Exception):
    """The lease or the fence was lost: stop at once, acknowledge nothing more."""


class ReactorOwner:
    """A reactor this replica owns (see the module's docstring)."""

    def __init__(
        self,
        broker: Broker,
        runtime: TenantRuntime,
        tenant: str,
        reactor: str,
        lease: int,
        taken_at: float,
        streams: Streams,
    ) -> None:
        self.broker = broker
        self.settings: EventSettings = broker.settings
        self.runtime = runtime
        self.tenant = tenant
        self.reactor = reactor
        self.key = reactor_key(tenant, reactor)
        self.lease = lease
        self.valid_until = taken_at + self.settings.lease_seconds - SAFETY_SECONDS
        self.streams = streams
        self.acquired_at = time.time()
        self.saved = Saved()
        self.revision = 0
        self.replay_through = 0
        self.lock = asyncio.Lock()  # one apply or command at a time
        self.done = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sub: Any = None  # the reactor's events consumer
        self._unsubscribe: Any = None
        self._stream_subs: dict[str, Any] = {}

    def valid(self) -> bool:
        return time.monotonic() < self.valid_until and not self.done.is_set()

    # ------------------------------------------------------------------ take over

    async def start(self) -> None:
        b = self.broker
        saved, revision = await b.load_state(self.key)
        previous = saved or Saved()
        claim = replace(
            previous,
            epoch=previous.epoch + 1,
            owner=b.replica,
            claimed_at=time.time(),
            streams=dict(previous.streams),
        )
        rev = await b.save_state(self.key, claim, revision)
        if rev is None:
            raise Lost(f"reactor '{self.reactor}': another owner wrote its state first")
        self.saved, self.revision = claim, rev
        # the worker's reactor becomes exactly the saved one (a fresh one if none was
        # saved): whatever it applied here without saving is undone
        await self.runtime.adopt_reactor_async(self.reactor, previous.reactor or {})
        self._sub, delivered = await b.consumer(
            EVENTS_STREAM,
            consumer_name("r", self.tenant, self.reactor),
            reactor_events(self.tenant, self.reactor),
            claim.applied + 1,
        )
        self.replay_through = max(delivered, 0)
        for acc, (subject, durable) in self.streams.items():
            sub, _ = await b.consumer(  # named after its durable when it declares one
                STREAMS_STREAM,
                consumer_name("s", self.tenant, durable or acc, self.reactor, acc),
                stream_subject(self.tenant, subject),
                claim.streams.get(acc, 0) + 1,
            )
            self._stream_subs[acc] = sub
        self._unsubscribe = await b.subscribe(
            command_subject(self.tenant, self.reactor), self._command
        )
        log.info(
            "reactor_owned",
            tenant=self.tenant,
            reactor=self.reactor,
            epoch=claim.epoch,
            resume_after=claim.applied,
            replay_through=self.replay_through,
        )
        self._tasks = [
            asyncio.create_task(self._renew(), name=f"lease:{self.key}"),
            asyncio.create_task(self._run(), name=f"owner:{self.key}"),
        ]

    async def stop(self, *, release: bool) -> None:
        """Stop owning: no more applies or acks; ``release`` gives the lease back now."""
        self.done.set()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        await asyncio.gather(*(t for t in self._tasks if t is not current), return_exceptions=True)
        if self._unsubscribe is not None:
            with contextlib.suppress(Exception):
                await self._unsubscribe()
        if release and time.monotonic() < self.valid_until:
            with contextlib.suppress(Exception):
                await self.broker.lease_release(self.key, self.lease)
        log.info("reactor_released", tenant=self.tenant, reactor=self.reactor, given_back=release)

    # ------------------------------------------------------------------ the lease

    async def _renew(self) -> None:
        s = self.settings
        while not self.done.is_set():
            await asyncio.sleep(s.renew_seconds)
            sent = time.monotonic()
            try:
                rev = await self.broker.lease_renew(self.key, self.lease)
            except Exception as exc:  # the broker is away: the lease runs out on its own
                log.warning("lease_renew_failed", key=self.key, error=str(exc))
                if time.monotonic() >= self.valid_until:
                    break
                continue
            if rev is None:
                break
            self.lease = rev
            self.valid_until = sent + s.lease_seconds - SAFETY_SECONDS
        if not self.done.is_set():
            log.warning("lease_lost", tenant=self.tenant, reactor=self.reactor)
            self.done.set()

    # ------------------------------------------------------------------ applying

    async def _run(self) -> None:
        s = self.settings
        next_tick = time.monotonic() + s.tick_seconds
        try:
            while self.valid():
                wait = max(0.001, min(next_tick - time.monotonic(), s.tick_seconds))
                items = await self.broker.fetch(self._sub, s.batch, wait)
                streamed: list[tuple[str, list[Delivered]]] = []
                for acc, sub in self._stream_subs.items():
                    got = await self.broker.fetch(sub, s.batch, 0.001)
                    if got:
                        streamed.append((acc, got))
                due = time.monotonic() >= next_tick
                if due:
                    next_tick = time.monotonic() + s.tick_seconds
                if not items and not streamed and not due:
                    continue
                async with self.lock:
                    if not self.valid():
                        break
                    await self._apply(items, streamed, due)
        except Lost as exc:
            log.warning("reactor_fenced", tenant=self.tenant, reactor=self.reactor, reason=str(exc))
        except asyncio.CancelledError:
            raise
        except CloacinaError as exc:  # the worker died or the reactor is gone here
            log.warning(
                "reactor_owner_stopped", tenant=self.tenant, reactor=self.reactor, error=str(exc)
            )
        except Exception:
            log.exception("reactor_owner_failed", tenant=self.tenant, reactor=self.reactor)
        finally:
            self.done.set()

    async def _apply(
        self, items: list[Delivered], streamed: list[tuple[str, list[Delivered]]], due: bool
    ) -> None:
        saved = self.saved
        fresh = [i for i in items if i.seq > saved.applied]
        replay = [i for i in fresh if i.seq <= self.replay_through]
        new = fresh[len(replay) :]
        if replay:
            await self._step(replay, [], tick=False, replayed=True)
        if new or streamed or due:
            await self._step(new, streamed, tick=due, replayed=False)
        if items:
            await self.broker.ack(items[-1])
        for _, got in streamed:
            await self.broker.ack(got[-1])

    async def _step(
        self,
        items: list[Delivered],
        streamed: list[tuple[str, list[Delivered]]],
        *,
        tick: bool,
        replayed: bool,
    ) -> None:
        batches: list[tuple[str, list[bytes]]] = []
        for item in items:  # consecutive events of one accumulator go in one push
            acc = accumulator_of(item.subject)
            if batches and batches[-1][0] == acc:
                batches[-1][1].append(item.data)
            else:
                batches.append((acc, [item.data]))
        for acc, got in streamed:
            fresh = [g.data for g in got if g.seq > self.saved.streams.get(acc, 0)]
            if fresh:
                batches.append((acc, fresh))
        result = await self.runtime.apply_async(self.reactor, batches, tick)
        for error in result["errors"]:
            log.warning(
                "event_refused", tenant=self.tenant, reactor=self.reactor, error=error["error"]
            )
        changed = bool(items or streamed or result["runs"]) or result["state"] != self.saved.reactor
        if not changed:
            return
        await self._publish_runs(result["runs"], replayed)
        saved = self.saved
        streams = dict(saved.streams)
        for acc, got in streamed:
            streams[acc] = max(streams.get(acc, 0), got[-1].seq)
        await self._save(
            replace(
                saved,
                saved_at=time.time(),
                applied=items[-1].seq if items else saved.applied,
                streams=streams,
                reactor=result["state"],
            )
        )

    async def _save(self, saved: Saved) -> None:
        rev = await self.broker.save_state(self.key, saved, self.revision)
        if rev is None:
            raise Lost("another owner saved this reactor's state (fenced out)")
        self.saved, self.revision = saved, rev

    async def _publish_runs(self, runs: list[dict[str, Any]], replayed: bool) -> None:
        if not runs:
            return
        epoch, owner = self.saved.epoch, self.broker.replica
        items = [
            (
                runs_subject(self.tenant, str(run["graph"])),
                orjson.dumps({**run, "replayed": replayed, "owner": owner, "epoch": epoch}),
                f"{self.key}:{run['fire']}:{run['graph']}",
            )
            for run in runs
        ]
        for result in await self.broker.publish_all(items):
            if isinstance(result, Exception):
                raise result  # not saved, not acknowledged: the batch is applied again

    # ------------------------------------------------------------------ commands

    async def _command(self, msg: Msg) -> None:
        """A reactor command sent to the owner (force_fire, fire_with, pause, resume)."""
        try:
            message = orjson.loads(msg.data)
            async with self.lock:
                if not self.valid():
                    raise NotFoundError(f"this replica no longer owns reactor '{self.reactor}'")
                result = await self.runtime.apply_command_async(self.reactor, message)
                await self._publish_runs(result["runs"], False)
                await self._save(
                    replace(
                        self.saved,
                        saved_at=time.time(),
                        streams=dict(self.saved.streams),
                        reactor=result["state"],
                    )
                )
            answer: dict[str, Any] = {"ok": True, "reply": result["reply"]}
        except Lost as exc:
            self.done.set()
            answer = {"ok": False, "error": to_wire(NoOwnerError(str(exc)))}
        except CloacinaError as exc:
            answer = {"ok": False, "error": to_wire(exc)}
        except Exception as exc:
            log.exception("reactor_command_failed", tenant=self.tenant, reactor=self.reactor)
            answer = {"ok": False, "error": to_wire(CloacinaError(f"internal error: {exc}"))}
        with contextlib.suppress(Exception):
            await msg.respond(orjson.dumps(answer))
