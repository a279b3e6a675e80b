"""WebSocket tickets: single use, expiry, and bounds that one key cannot use against another."""

from __future__ import annotations

import pytest

from cloacina_host.server.access import ApiError, Principal
from cloacina_host.server.tickets import Tickets


def key(n: int, tenant: str = "acme") -> Principal:
    return Principal(f"key-{n}", tenant, "write", False)


def test_a_ticket_is_redeemed_once() -> None:
    tickets = Tickets(ttl=60)
    ticket = tickets.issue(key(1))
    assert ticket.startswith("wst_")
    assert tickets.redeem(ticket) == key(1)
    assert tickets.redeem(ticket) is None
    assert tickets.redeem("wst_unknown") is None
    assert len(tickets) == 0


def test_an_expired_ticket_is_refused_and_forgotten() -> None:
    tickets = Tickets(ttl=-1)  # expired as soon as issued
    stale = [tickets.issue(key(n)) for n in range(3)]
    assert tickets.redeem(stale[0]) is None
    tickets.issue(key(9))  # issuing sweeps the expired ones
    assert len(tickets) == 1
    assert tickets._by_key.keys() == {"key-9"}


def test_a_key_displaces_only_its_own_oldest_ticket() -> None:
    tickets = Tickets(ttl=60, per_key=2)
    other = tickets.issue(key(2, "beta"))
    mine = [tickets.issue(key(1)) for _ in range(50)]  # a flood from one key
    assert len(tickets) == 3
    assert tickets.redeem(other) == key(2, "beta")  # the other tenant's ticket survived
    assert [tickets.redeem(t) is not None for t in mine[-3:]] == [False, True, True]


def test_when_every_slot_is_taken_new_tickets_are_refused() -> None:
    tickets = Tickets(ttl=60, limit=3, per_key=2)
    first = tickets.issue(key(1))
    tickets.issue(key(1))
    second = tickets.issue(key(2))
    with pytest.raises(ApiError) as refused:
        tickets.issue(key(3))
    assert (refused.value.status, refused.value.code) == (429, "too_many_tickets")
    assert "3 WebSocket tickets are outstanding" in refused.value.message
    assert "key-3" not in tickets._by_key
    # a key at its own cap still gets one: it displaces its own oldest
    assert tickets.issue(key(1)) and tickets.redeem(first) is None
    assert tickets.redeem(second) == key(2)  # a slot frees up
    assert tickets.issue(key(3))
