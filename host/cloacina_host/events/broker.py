"""The replica's connection to NATS JetStream, and the streams and buckets of the event
plane. The only module that names ``nats``.

- ``CLOACINA_EVENTS`` (subjects ``cloacina.ev.<tenant>.<reactor>.<accumulator>``): every
  accepted event, with its message id (the broker drops a repeat within the
  de-duplication window). Limits retention: an event stays until ``events_max_age``, so a
  new owner can resume from any saved sequence;
- ``CLOACINA_RUNS`` (``cloacina.runs.<tenant>.<graph>``): every graph run, the last
  ``runs_per_graph`` of each graph kept; a run's message id is its fire, so a fire
  replayed after an owner's death with the same outcome is stored once;
- ``CLOACINA_STREAMS`` (``cloacina.stream.<tenant>.<subject>``): what stream accumulators
  read; publishers write there directly;
- bucket ``cloacina_owners``: one lease per reactor (the owner's replica id), expiring
  ``lease_seconds`` after its last renewal;
- bucket ``cloacina_state``: each reactor's :class:`~.snapshot.Saved` state, written by
  compare-and-set on the key's revision (the fence).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StreamConfig,
)
from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.errors import NotFoundError as NatsNotFound
from nats.js.kv import KeyValue

from ..errors import CloacinaError
from ..log import get_logger
from .naming import (
    EVENTS_ROOT,
    EVENTS_STREAM,
    OWNERS_BUCKET,
    RUNS_ROOT,
    RUNS_STREAM,
    STATE_BUCKET,
    STREAM_ROOT,
    STREAMS_STREAM,
)
from .snapshot import Saved

log = get_logger()


class EventsUnavailableError(CloacinaError):
    """The broker cannot be reached, or did not confirm in time (HTTP 503)."""

    code = "events_unavailable"


class NoOwnerError(EventsUnavailableError):
    """No replica owns the reactor right now (its owner died; another takes over)."""

    code = "no_owner"


@dataclass(frozen=True)
class EventSettings:
    """How the JetStream event plane runs (``--events nats://…``; tests shorten them)."""

    url: str
    lease_seconds: float = 2.0  # a lease not renewed this long expires on the broker
    renew_seconds: float = 0.5
    poll_seconds: float = 0.25  # how often a replica looks for reactors to own
    grace_seconds: float = 0.5  # a non-preferred replica waits this long for the preferred
    handover_after: float = 10.0  # owned this long, a reactor goes back to its preferred
    batch: int = 256  # events fetched and applied in one worker call at most
    tick_seconds: float = 0.1  # batch flushes and polling accumulators, at the owner
    runs_per_graph: int = 100  # runs kept per graph in CLOACINA_RUNS
    events_max_age: float = 7 * 86400.0
    timeout: float = 5.0  # a broker request unanswered this long is an error


@dataclass(frozen=True)
class Delivered:
    """One event as the owner's consumer delivered it."""

    seq: int
    subject: str
    data: bytes
    msg: Msg


class Broker:
    """One replica's JetStream connection (see the module's docstring)."""

    def __init__(self, settings: EventSettings, replica: str) -> None:
        self.settings = settings
        self.replica = replica
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._owners: KeyValue | None = None
        self._state: KeyValue | None = None

    # ------------------------------------------------------------------ connection

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise EventsUnavailableError("the event plane is not connected to the broker")
        return self._js

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise EventsUnavailableError("the event plane is not connected to the broker")
        return self._nc

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def connect(self) -> None:
        s = self.settings
        url = s.url
        try:
            self._nc = await nats.connect(
                url,
                name=f"cloacina-{self.replica}",
                connect_timeout=s.timeout,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                allow_reconnect=True,
                error_cb=self._error,
                disconnected_cb=self._disconnected,
                reconnected_cb=self._reconnected,
            )
        except Exception as exc:
            raise EventsUnavailableError(f"cannot connect to the broker at {url}: {exc}") from None
        self._js = self._nc.jetstream(timeout=s.timeout)
        await self._stream(
            EVENTS_STREAM, f"{EVENTS_ROOT}.>", max_age=s.events_max_age, duplicate_window=120.0
        )
        await self._stream(
            RUNS_STREAM,
            f"{RUNS_ROOT}.>",
            max_msgs_per_subject=s.runs_per_graph,
            duplicate_window=120.0,
        )
        await self._stream(STREAMS_STREAM, f"{STREAM_ROOT}.>", max_age=s.events_max_age)
        self._owners = await self._bucket(OWNERS_BUCKET, ttl=s.lease_seconds, history=1)
        self._state = await self._bucket(STATE_BUCKET, history=16)
        log.info("events_connected", url=url, replica=self.replica)

    async def close(self) -> None:
        if self._nc is not None:
            try:  # drain what is in flight, but a pull subscription must not hold us up
                await asyncio.wait_for(self._nc.drain(), self.settings.timeout / 2)
            except Exception:
                with contextlib.suppress(Exception):
                    await self._nc.close()
            self._nc = self._js = None

    async def _error(self, exc: Exception) -> None:
        log.warning("events_broker_error", error=str(exc))

    async def _disconnected(self) -> None:
        log.warning("events_broker_disconnected", url=self.settings.url)

    async def _reconnected(self) -> None:
        log.info("events_broker_reconnected", url=self.settings.url)

    async def _stream(self, name: str, subject: str, **limits: Any) -> None:
        """Create the stream, or bring an existing one's subjects and limits to these,
        keeping what an operator chose for it (replicas, storage, placement)."""
        try:
            info = await self.js.stream_info(name)
        except NatsNotFound:
            await self.js.add_stream(
                StreamConfig(
                    name=name, subjects=[subject], retention=RetentionPolicy.LIMITS, **limits
                )
            )
            return
        config = info.config
        wanted = {"subjects": [subject], **limits}
        if any(getattr(config, k) != v for k, v in wanted.items()):
            for key, value in wanted.items():
                setattr(config, key, value)
            await self.js.update_stream(config)

    async def _bucket(self, name: str, **config: Any) -> KeyValue:
        try:  # an existing bucket is used as it is (an operator may have replicated it)
            return await self.js.key_value(name)
        except NatsNotFound:
            pass
        try:
            return await self.js.create_key_value(KeyValueConfig(bucket=name, **config))
        except BadRequestError:  # another replica made it a moment ago
            return await self.js.key_value(name)

    # ------------------------------------------------------------------ publishing

    async def publish(self, subject: str, data: bytes, msg_id: str) -> tuple[int, bool]:
        """Publish and wait for the broker's confirmation: (stream sequence, duplicate)."""
        (result,) = await self.publish_all([(subject, data, msg_id)])
        if isinstance(result, EventsUnavailableError):
            raise result
        return result

    async def publish_all(
        self, items: list[tuple[str, bytes, str]]
    ) -> list[tuple[int, bool] | EventsUnavailableError]:
        """Publish ``(subject, data, message id)`` in order without waiting in between,
        then wait (once, for all) for every confirmation: per item (sequence, duplicate)
        or its error. (No timer per message: this is the ingress's hot path.)"""
        timeout = self.settings.timeout
        futures: list[asyncio.Future[Any] | EventsUnavailableError] = []
        publish = self.js.publish_async
        for subject, data, msg_id in items:
            try:
                futures.append(await publish(subject, data, headers={"Nats-Msg-Id": msg_id}))
            except Exception as exc:
                futures.append(EventsUnavailableError(f"the broker refused the event: {exc}"))
        pending = [f for f in futures if not isinstance(f, EventsUnavailableError)]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        out: list[tuple[int, bool] | EventsUnavailableError] = []
        for future in futures:
            if isinstance(future, EventsUnavailableError):
                out.append(future)
            elif not future.done():
                future.cancel()
                out.append(
                    EventsUnavailableError(
                        f"the broker did not confirm the event within {timeout:g}s"
                    )
                )
            elif future.cancelled() or future.exception() is not None:
                out.append(
                    EventsUnavailableError(
                        f"the broker refused the event: {future.exception() or 'cancelled'}"
                    )
                )
            else:
                ack = future.result()
                out.append((int(ack.seq), bool(ack.duplicate)))
        return out

    # ------------------------------------------------------------------ leases

    @property
    def owners(self) -> KeyValue:
        if self._owners is None:
            raise EventsUnavailableError("the event plane is not connected to the broker")
        return self._owners

    @property
    def states(self) -> KeyValue:
        if self._state is None:
            raise EventsUnavailableError("the event plane is not connected to the broker")
        return self._state

    async def lease_owner(self, key: str) -> str | None:
        try:
            entry = await self.owners.get(key)
        except KeyNotFoundError:
            return None
        return entry.value.decode() if entry.value else None

    async def lease_take(self, key: str) -> int | None:
        """Create the lease when nobody holds it: its revision, or None (someone does)."""
        try:
            return int(await self.owners.create(key, self.replica.encode()))
        except KeyWrongLastSequenceError:
            return None

    async def lease_renew(self, key: str, revision: int) -> int | None:
        """Renew a held lease: the new revision, or None when it was lost."""
        try:
            return int(await self.owners.update(key, self.replica.encode(), last=revision))
        except (KeyWrongLastSequenceError, KeyNotFoundError):
            return None

    async def lease_release(self, key: str, revision: int) -> None:
        with contextlib.suppress(KeyWrongLastSequenceError, KeyNotFoundError):
            await self.owners.delete(key, last=revision)

    # ------------------------------------------------------------------ saved state

    async def load_state(self, key: str) -> tuple[Saved | None, int]:
        """The saved state and its revision (0 when there is none)."""
        try:
            entry = await self.states.get(key)
        except KeyNotFoundError:
            return None, 0
        if not entry.value:  # a delete marker
            return None, int(entry.revision or 0)
        return Saved.decode(entry.value), int(entry.revision or 0)

    async def save_state(self, key: str, saved: Saved, revision: int) -> int | None:
        """Compare-and-set: the new revision, or None when another owner wrote since."""
        try:
            if revision == 0:
                return int(await self.states.create(key, saved.encode()))
            return int(await self.states.update(key, saved.encode(), last=revision))
        except KeyWrongLastSequenceError:
            return None

    async def forget_state(self, key: str) -> None:
        with contextlib.suppress(KeyNotFoundError):
            await self.states.purge(key)

    async def state_history(self, key: str) -> list[Saved]:
        """Every kept version of a reactor's state, oldest first (audits)."""
        try:
            entries = await self.states.history(key)
        except (KeyNotFoundError, NatsNotFound):
            return []
        return [Saved.decode(e.value) for e in entries if e.value]

    # ------------------------------------------------------------------ consuming

    async def consumer(
        self, stream: str, name: str, subject: str, start: int
    ) -> tuple[JetStreamContext.PullSubscription, int]:
        """A fresh durable pull consumer of ``subject`` from sequence ``start``, replacing
        the previous one of that name (a dead owner's): the subscription, and the last
        sequence the previous one had delivered (0 if none)."""
        delivered = 0
        try:
            info = await self.js.consumer_info(stream, name)
            delivered = int(info.delivered.stream_seq or 0)
            await self.js.delete_consumer(stream, name)
        except NatsNotFound:
            pass
        config = ConsumerConfig(
            durable_name=name,
            filter_subject=subject,
            ack_policy=AckPolicy.ALL,
            ack_wait=30.0,
            max_ack_pending=100_000,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(1, start),
        )
        await self.js.add_consumer(stream, config)
        sub = await self.js.pull_subscribe_bind(durable=name, stream=stream)
        return sub, delivered

    async def drop_consumer(self, stream: str, name: str) -> None:
        with contextlib.suppress(NatsNotFound):
            await self.js.delete_consumer(stream, name)

    async def fetch(
        self, sub: JetStreamContext.PullSubscription, batch: int, timeout: float
    ) -> list[Delivered]:
        """What arrived (up to ``batch``), waiting at most ``timeout`` for the first."""
        try:
            msgs = await sub.fetch(batch, timeout=timeout)
        except (TimeoutError, NatsTimeout):
            return []
        except Exception as exc:  # the connection went away under the fetch
            raise EventsUnavailableError(f"fetching from the broker failed: {exc}") from None
        return [Delivered(int(m.metadata.sequence.stream), m.subject, m.data, m) for m in msgs]

    @staticmethod
    async def ack(item: Delivered) -> None:
        """Acknowledge ``item`` and everything delivered before it (ack-all consumer). A
        lost ack is harmless: the next owner resumes after the saved sequence anyway."""
        try:
            await item.msg.ack()
        except Exception as exc:
            raise EventsUnavailableError(f"acknowledging to the broker failed: {exc}") from None

    # ------------------------------------------------------------------ runs

    async def runs(self, subject: str, limit: int) -> list[dict[str, Any]]:
        """The kept runs of one graph, oldest first (at most ``limit``, the newest)."""
        try:
            info = await self.js.stream_info(RUNS_STREAM, subjects_filter=subject)
        except NatsNotFound:
            return []
        count = (info.state.subjects or {}).get(subject, 0)
        if not count:
            return []
        sub = await self.js.subscribe(
            subject,
            stream=RUNS_STREAM,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        out: list[dict[str, Any]] = []
        try:
            while len(out) < count:
                try:
                    msg = await sub.next_msg(timeout=self.settings.timeout)
                except (TimeoutError, NatsTimeout):
                    break
                out.append(orjson.loads(msg.data))
        finally:
            await sub.unsubscribe()
        return out[-limit:]

    # ------------------------------------------------------------------ core NATS

    async def subscribe(
        self, subject: str, handler: Callable[[Msg], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        sub = await self.nc.subscribe(subject, cb=handler)
        return sub.unsubscribe

    async def request(self, subject: str, data: bytes, timeout: float) -> bytes:
        try:
            msg = await self.nc.request(subject, data, timeout=timeout)
        except NoRespondersError:
            raise NoOwnerError("no replica owns it right now") from None
        except (TimeoutError, NatsTimeout):
            raise EventsUnavailableError(f"its owner did not answer within {timeout:g}s") from None
        return bytes(msg.data)

    async def follow(
        self, subject: str
    ) -> tuple[asyncio.Queue[bytes], Callable[[], Awaitable[None]]]:
        """A queue of every message published on ``subject`` from now on, and how to stop."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10_000)

        async def put(msg: Msg) -> None:
            if queue.full():
                queue.get_nowait()  # a slow watcher loses the oldest
            queue.put_nowait(msg.data)

        stop = await self.subscribe(subject, put)
        return queue, stop
