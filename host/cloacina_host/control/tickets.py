"""Single-use WebSocket tickets, kept in the database so any replica redeems a ticket any
other issued, each carrying its key's scope.

A ticket is stored only as its SHA-256 (like a key) and redeemed by one atomic
``DELETE … RETURNING``: two replicas racing for the same ticket cannot both win. Each key
holds at most ``per_key`` outstanding tickets; a new one displaces that key's oldest, never
another key's, so one caller cannot evict a ticket another tenant is about to use. When
``limit`` tickets are outstanding in all, new ones are refused (429) until some are used or
expire. On PostgreSQL a key's issues are serialized by an advisory lock, so the bound holds
across replicas too.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa

from ..errors import CloacinaError
from .schema import ws_tickets
from .store import Store

TICKET_TTL = 60.0
MAX_TICKETS = 10_000  # outstanding, all keys together
MAX_TICKETS_PER_KEY = 32  # outstanding per key; a key's new ticket displaces its own oldest


class TooManyTicketsError(CloacinaError):
    """Every ticket slot is taken; try again when some are used or expire (HTTP 429)."""

    code = "too_many_tickets"


@dataclass(frozen=True)
class Grant:
    """What a ticket carries: its key's id, tenant (None for a platform key) and role."""

    key_id: str
    tenant: str | None
    role: str
    is_admin: bool


class Holder(Protocol):
    """Whoever asks for a ticket (the server's principal) carries the same four names."""

    @property
    def key_id(self) -> str: ...
    @property
    def tenant(self) -> str | None: ...
    @property
    def role(self) -> str: ...
    @property
    def is_admin(self) -> bool: ...


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()


class Tickets:
    """The ticket book of a store (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        ttl: float = TICKET_TTL,
        limit: int = MAX_TICKETS,
        per_key: int = MAX_TICKETS_PER_KEY,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.limit = limit
        self.per_key = per_key

    def issue(self, principal: Holder) -> str:
        ticket = "wst_" + secrets.token_urlsafe(24)
        now = time.time()
        t = ws_tickets
        with self.store.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                key = sa.func.hashtext(sa.literal(f"cloacina:tickets:{principal.key_id}"))
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
            conn.execute(t.delete().where(t.c.expires_at < now))
            mine = (
                conn.execute(
                    sa.select(t.c.ticket_hash)
                    .where(t.c.key_id == principal.key_id)
                    .order_by(t.c.issued_at, t.c.ticket_hash)
                )
                .scalars()
                .all()
            )
            surplus = mine[: max(0, len(mine) - self.per_key + 1)]
            if surplus:
                conn.execute(t.delete().where(t.c.ticket_hash.in_(surplus)))
            outstanding = conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            if outstanding >= self.limit:
                raise TooManyTicketsError(
                    f"{self.limit} WebSocket tickets are outstanding; "
                    "try again when some are used or expire",
                )
            conn.execute(
                t.insert().values(
                    ticket_hash=_hash(ticket),
                    key_id=principal.key_id,
                    tenant=principal.tenant,
                    role=principal.role,
                    is_admin=principal.is_admin,
                    issued_at=now,
                    expires_at=now + self.ttl,
                )
            )
        return ticket

    def redeem(self, ticket: str) -> Grant | None:
        """The ticket's principal, once; None when unknown, used or expired."""
        t = ws_tickets
        with self.store.engine.begin() as conn:
            row = conn.execute(
                t.delete()
                .where(t.c.ticket_hash == _hash(ticket))
                .returning(t.c.key_id, t.c.tenant, t.c.role, t.c.is_admin, t.c.expires_at)
            ).first()
        if row is None or row.expires_at < time.time():
            return None
        return Grant(row.key_id, row.tenant, row.role, bool(row.is_admin))

    def __len__(self) -> int:
        with self.store.engine.connect() as conn:
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(ws_tickets)
                .where(ws_tickets.c.expires_at >= time.time())
            ).scalar_one()
        return int(count)
