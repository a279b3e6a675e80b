"""Who may do what: API errors with their envelope code, principals, bearer keys,
single-use WebSocket tickets, and the bootstrap key. Framework-free (the server maps
:class:`ApiError` to HTTP)."""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

import structlog

from .app import App
from .errors import CloacinaError, GuardError, NotFoundError, StateError
from .store import ROLES, ConflictError, KeyRecord, new_key

log = structlog.get_logger("cloacina")

TICKET_TTL = 60.0
MAX_TICKETS = 10_000  # outstanding, all keys together: a memory bound
MAX_TICKETS_PER_KEY = 32  # outstanding per key; a key's new ticket displaces its own oldest
RANK = {role: i for i, role in enumerate(ROLES)}


class ApiError(Exception):
    """An HTTP error with the envelope's code and sentence."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def status_of(exc: CloacinaError) -> int:
    """The HTTP status of a host error."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, GuardError | ConflictError | StateError):
        return 409
    if exc.code == "duplicate_name":
        return 409
    return 400  # package, declaration, ABI, load, input and plugin errors


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, tenant (None for a platform key) and role."""

    key_id: str
    tenant: str | None
    role: str
    is_admin: bool

    @classmethod
    def of(cls, record: KeyRecord) -> Principal:
        return cls(record.id, record.tenant, record.role, record.is_admin)

    @property
    def platform(self) -> bool:
        return self.is_admin and self.tenant is None


def bearer_token(header: str | None) -> str:
    """The key of an ``Authorization: Bearer <key>`` header, or :class:`ApiError` 401."""
    if header is None:
        raise ApiError(401, "unauthorized", "missing API key: send 'Authorization: Bearer clk_…'")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise ApiError(
            401, "unauthorized", "malformed Authorization header: expected 'Bearer <key>'"
        )
    return token


class Tickets:
    """Single-use WebSocket tickets, in memory, bounded, each carrying its key's scope.

    Each key holds at most ``per_key`` outstanding tickets; a new one displaces that key's
    oldest, never another key's, so one caller cannot evict a ticket another tenant is about
    to use. When ``limit`` tickets are outstanding in all, new ones are refused (429) until
    some are used or expire."""

    def __init__(
        self,
        ttl: float = TICKET_TTL,
        limit: int = MAX_TICKETS,
        per_key: int = MAX_TICKETS_PER_KEY,
    ) -> None:
        self.ttl = ttl
        self.limit = limit
        self.per_key = per_key
        self._lock = threading.Lock()
        self._tickets: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._by_key: dict[str, deque[str]] = {}  # a key's outstanding tickets, oldest first

    def issue(self, principal: Principal) -> str:
        ticket = "wst_" + secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            mine = self._by_key.setdefault(principal.key_id, deque())
            while len(mine) >= self.per_key:
                self._tickets.pop(mine.popleft(), None)
            if len(self._tickets) >= self.limit:
                if not mine:
                    del self._by_key[principal.key_id]
                raise ApiError(
                    429,
                    "too_many_tickets",
                    f"{self.limit} WebSocket tickets are outstanding; "
                    "try again when some are used or expire",
                )
            self._tickets[ticket] = (now + self.ttl, principal)
            mine.append(ticket)
        return ticket

    def redeem(self, ticket: str) -> Principal | None:
        """The ticket's principal, once; None when unknown, used or expired."""
        with self._lock:
            entry = self._tickets.pop(ticket, None)
            if entry is not None:
                self._forget(entry[1].key_id, ticket)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def _forget(self, key_id: str, ticket: str) -> None:
        mine = self._by_key.get(key_id)
        if mine is not None:
            mine.remove(ticket)  # at most per_key long
            if not mine:
                del self._by_key[key_id]

    def _expire(self, now: float) -> None:
        # tickets share one ttl, so issue order is expiry order
        while self._tickets:
            ticket, (expires, who) = next(iter(self._tickets.items()))
            if expires >= now:
                break
            del self._tickets[ticket]
            self._forget(who.key_id, ticket)

    def __len__(self) -> int:
        return len(self._tickets)


def ensure_bootstrap_key(app: App, key: str | None) -> Path | None:
    """On a store without keys, create the platform admin key (``key`` or a generated one)
    and write it to ``<data>/bootstrap-key`` (mode 0600). Returns the file, or None."""
    store = app.store
    if store.count_keys() > 0:
        return None
    plaintext = key or new_key()
    store.create_key("bootstrap", "admin", None, is_admin=True, plaintext=plaintext)
    path = app.data_dir / "bootstrap-key"
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(plaintext + "\n")
    os.chmod(path, 0o600)
    log.info(
        "bootstrap_key_created",
        path=str(path),
        source="CLOACINA_BOOTSTRAP_KEY" if key else "generated",
    )
    return path
