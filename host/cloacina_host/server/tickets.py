"""Single-use WebSocket tickets: in memory, bounded, each carrying its key's scope."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict, deque

from .access import ApiError, Principal

TICKET_TTL = 60.0
MAX_TICKETS = 10_000  # outstanding, all keys together: a memory bound
MAX_TICKETS_PER_KEY = 32  # outstanding per key; a key's new ticket displaces its own oldest


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
