"""The event plane's pure parts: broker names, the owner ranking and the saved state."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from cloacina_host.events.naming import (
    accumulator_of,
    consumer_name,
    event_subject,
    reactor_key,
    token,
    untoken,
)
from cloacina_host.events.ownership import preferred, rank
from cloacina_host.events.snapshot import Saved, accumulator_overlay, reactor_overlay

SUBJECT_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-=")


@given(st.text(min_size=1, max_size=80))
def test_any_name_is_one_safe_token_and_comes_back(name: str) -> None:
    t = token(name)
    assert set(t) <= SUBJECT_SAFE and t
    assert untoken(t) == name


def test_plain_names_stay_readable_and_others_cannot_meet_them() -> None:
    assert token("PriceReactor") == "PriceReactor"
    assert token("price.reactor") != token("price_reactor")
    assert token("a b").startswith("=")
    subject = event_subject("acme", "R.1", "raw prices")
    assert subject.count(".") == 4  # cloacina.ev.<tenant>.<reactor>.<accumulator>
    assert accumulator_of(subject) == "raw prices"
    assert reactor_key("acme", "R") == "acme.R"


def test_consumer_names_are_safe_and_distinct() -> None:
    a, b = consumer_name("r", "acme", "R.1"), consumer_name("r", "acme", "R_1")
    assert a != b
    assert not set(a) & set(". *>/\\")


def test_rank_is_the_same_everywhere_and_spreads_keys() -> None:
    replicas = ["r1", "r2", "r3"]
    keys = [f"t.R{i}" for i in range(300)]
    assert all(rank(k, replicas) == rank(k, list(reversed(replicas))) for k in keys)
    firsts = Counter(preferred(k, replicas) for k in keys)
    assert set(firsts) == set(replicas) and min(firsts.values()) > 60


def test_a_replica_leaving_moves_only_its_own_keys() -> None:
    keys = [f"t.R{i}" for i in range(200)]
    before = {k: preferred(k, ["r1", "r2", "r3"]) for k in keys}
    after = {k: preferred(k, ["r1", "r3"]) for k in keys}
    moved = {k for k in keys if before[k] != after[k]}
    assert moved == {k for k in keys if before[k] == "r2"}
    assert preferred("k", []) is None


def test_a_saved_state_round_trips_with_its_bytes() -> None:
    saved = Saved(
        epoch=3,
        owner="r2",
        applied=41,
        streams={"ticks": 7},
        reactor={"state": "running", "cache": {"a": b'{"v":1}', "b": None}, "fires": 2},
    )
    assert Saved.decode(saved.encode()) == saved


def test_overlays_show_the_saved_figures() -> None:
    saved = Saved(
        epoch=2,
        applied=9,
        reactor={
            "state": "paused",
            "cache": {"a": b'{"v":1}'},
            "fires": 4,
            "last_fire_at": 1.5,
            "accumulators": {
                "a": {"events_total": 9, "errors_total": 1, "last_event_at": 2.0, "last_error": "x"}
            },
        },
    )
    view = {"name": "R", "state": "running", "fires": 0, "cache": {"a": None, "b": None}}
    reactor_overlay(view, saved, "r1")
    assert view == {
        "name": "R",
        "state": "paused",
        "fires": 4,
        "last_fire_at": 1.5,
        "cache": {"a": {"v": 1}, "b": None},
        "owner": "r1",
        "epoch": 2,
        "applied_sequence": 9,
    }
    acc = {"name": "a", "events_total": 0}
    accumulator_overlay(acc, saved)
    assert acc["events_total"] == 9 and acc["last_error"] == "x"
    fresh = {"name": "R", "state": "running", "fires": 7}
    reactor_overlay(fresh, None, None)
    assert (fresh["fires"], fresh["owner"], fresh["applied_sequence"]) == (0, None, 0)
