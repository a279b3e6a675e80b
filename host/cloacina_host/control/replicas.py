"""Many replicas on one database: who is alive (heartbeats), and the wake-ups that make every
replica reconcile a tenant as soon as another changed it (PostgreSQL ``LISTEN``/``NOTIFY``).

Each replica has an id (``--replica-id``, stable across restarts; generated otherwise),
beats every :data:`HEARTBEAT_SECONDS` and counts as alive while its last beat is younger
than :data:`ALIVE_SECONDS`. Its load status of every package is its own row
(``package_status``), so the API can say ``loaded on 2/2 replicas``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from ..log import get_logger
from .schema import package_status, replicas, upsert
from .store import CHANNEL, Store

log = get_logger()

HEARTBEAT_SECONDS = 2.0
ALIVE_SECONDS = 10.0


def new_replica_id() -> str:
    """A replica id for a process that was not given one: its host and a random suffix."""
    return f"{socket.gethostname()[:40]}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Replica:
    id: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float

    def alive(self, now: float) -> bool:
        return now - self.heartbeat_at < ALIVE_SECONDS

    def to_dict(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "started_at": self.started_at,
            "heartbeat_at": self.heartbeat_at,
            "alive": self.alive(now),
        }


class ReplicaBook:
    """This replica's heartbeat row, and every replica's."""

    def __init__(self, store: Store, replica: str) -> None:
        self.store = store
        self.id = replica
        self.started_at = time.time()

    def beat(self) -> None:
        with self.store.engine.begin() as conn:
            upsert(
                conn,
                replicas,
                ("id",),
                id=self.id,
                host=socket.gethostname()[:255],
                pid=os.getpid(),
                started_at=self.started_at,
                heartbeat_at=time.time(),
            )

    def leave(self) -> None:
        """A clean stop: the replica and its status rows go at once (a killed one's stay
        until its heartbeat is stale)."""
        with self.store.engine.begin() as conn:
            conn.execute(replicas.delete().where(replicas.c.id == self.id))
            conn.execute(package_status.delete().where(package_status.c.replica == self.id))

    def all(self) -> list[Replica]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(replicas).order_by(replicas.c.id)).mappings().all()
        return [
            Replica(r["id"], r["host"], r["pid"], r["started_at"], r["heartbeat_at"]) for r in rows
        ]

    def alive(self) -> list[str]:
        """The ids of the replicas alive now (this one always, also before its first beat)."""
        now = time.time()
        ids = {r.id for r in self.all() if r.alive(now)}
        return sorted(ids | {self.id})


Wake = Callable[[str | None], None]  # a tenant to reconcile; None: every tenant


class Listener:
    """``LISTEN`` on a connection of its own (a thread): every change another replica
    commits wakes this one up for that tenant; after every (re)connect, a full pass runs,
    since notifications sent while it was away are lost."""

    def __init__(self, store: Store, replica: str, wake: Wake) -> None:
        url = store.engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._replica = replica
        self._wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cloacina-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import psycopg  # only a replica on PostgreSQL listens

        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    log.info("listening", channel=CHANNEL, replica=self._replica)
                    self._wake(None)
                    backoff = 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._handle(note.payload)
            except psycopg.Error as exc:
                if self._stop.is_set():
                    return
                log.warning("listen_failed", error=str(exc), retry_in=backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _handle(self, payload: str) -> None:
        try:
            change = orjson.loads(payload)
            tenant, origin = str(change["tenant"]), change.get("replica")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("listen_bad_payload", payload=payload[:200])
            return
        if origin != self._replica:  # our own changes are reconciled where they are made
            self._wake(tenant)


class Wakeups:
    """Reconciles woken tenants on a few threads of its own: a tenant woken while its
    reconcile runs is reconciled once more after it, never twice at once."""

    def __init__(self, reconcile: Callable[[str], None], tenants: Callable[[], list[str]]) -> None:
        self._reconcile = reconcile
        self._tenants = tenants
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="cloacina-wake")
        self._lock = threading.Lock()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._again: set[str] = set()

    def wake(self, tenant: str | None) -> None:
        """Reconcile ``tenant`` soon (None: every tenant)."""
        for name in self._tenants() if tenant is None else [tenant]:
            with self._lock:
                if name in self._running:
                    self._again.add(name)
                    continue
                if name in self._queued:
                    continue
                self._queued.add(name)
            self._pool.submit(self._run, name)

    def _run(self, tenant: str) -> None:
        with self._lock:
            self._queued.discard(tenant)
            self._running.add(tenant)
        try:
            self._reconcile(tenant)
        except Exception as exc:  # one tenant's trouble must not stop the others
            log.error("reconcile_failed", tenant=tenant, error=str(exc))
        finally:
            with self._lock:
                self._running.discard(tenant)
                again = tenant in self._again
                self._again.discard(tenant)
        if again:
            self.wake(tenant)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
