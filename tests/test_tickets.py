"""WebSocket tickets: single use, expiry, and bounds that one key cannot use against another."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cloacina_host.control.schema import ws_tickets
from cloacina_host.control.store import Store
from cloacina_host.control.tickets import Grant, Tickets, TooManyTicketsError


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.for_data_dir(tmp_path)
    yield s
    s.close()


def key(n: int, tenant: str = "acme") -> Grant:
    return Grant(f"key-{n}", tenant, "write", False)


def test_a_ticket_is_redeemed_once(store: Store) -> None:
    tickets = Tickets(store, ttl=60)
    ticket = tickets.issue(key(1))
    assert ticket.startswith("wst_")
    assert tickets.redeem(ticket) == key(1)
    assert tickets.redeem(ticket) is None
    assert tickets.redeem("wst_unknown") is None
    assert len(tickets) == 0


def test_an_expired_ticket_is_refused_and_forgotten(store: Store) -> None:
    tickets = Tickets(store, ttl=-1)  # expired as soon as issued
    stale = [tickets.issue(key(n)) for n in range(3)]
    assert tickets.redeem(stale[0]) is None
    Tickets(store, ttl=60).issue(key(9))  # issuing sweeps the expired ones
    assert len(tickets) == 1
    with store.engine.connect() as conn:  # the rows are gone, not just refused
        rows = conn.execute(sa.select(ws_tickets.c.key_id)).scalars().all()
    assert rows == ["key-9"]


def test_a_key_displaces_only_its_own_oldest_ticket(store: Store) -> None:
    tickets = Tickets(store, ttl=60, per_key=2)
    other = tickets.issue(key(2, "beta"))
    mine = [tickets.issue(key(1)) for _ in range(50)]  # a flood from one key
    assert len(tickets) == 3
    assert tickets.redeem(other) == key(2, "beta")  # the other tenant's ticket survived
    assert [tickets.redeem(t) is not None for t in mine[-3:]] == [False, True, True]


def test_when_every_slot_is_taken_new_tickets_are_refused(store: Store) -> None:
    tickets = Tickets(store, ttl=60, limit=3, per_key=2)
    first = tickets.issue(key(1))
    tickets.issue(key(1))
    second = tickets.issue(key(2))
    with pytest.raises(TooManyTicketsError) as refused:
        tickets.issue(key(3))
    assert refused.value.code == "too_many_tickets"
    assert "3 WebSocket tickets are outstanding" in refused.value.message
    assert len(tickets) == 3
    # a key at its own cap still gets one: it displaces its own oldest
    assert tickets.issue(key(1)) and tickets.redeem(first) is None
    assert tickets.redeem(second) == key(2)  # a slot frees up
    assert tickets.issue(key(3))


def test_the_server_answers_a_full_ticket_book_with_429() -> None:
    from cloacina_host.server.access import status_of

    assert status_of(TooManyTicketsError("10000 WebSocket tickets are outstanding")) == 429
