"""Accumulator configs are checked by kind at the library check (pure rules, core/configs.py):
types, ranges and unknown keys with a did-you-mean; the accumulator runs with the same values."""

from __future__ import annotations

from typing import Any

import pytest

from cloacina_host.core.accumulator import Accumulator
from cloacina_host.core.configs import config_problem, int_setting, keys_of
from cloacina_host.errors import DeclarationError, suggestion
from cloacina_host.types import AccumulatorDecl, AccumulatorKind

BATCH, STATE, POLLING, PASS = (
    AccumulatorKind.BATCH,
    AccumulatorKind.STATE,
    AccumulatorKind.POLLING,
    AccumulatorKind.PASSTHROUGH,
)


@pytest.mark.parametrize(
    ("kind", "config"),
    [
        (BATCH, {}),
        (BATCH, {"max_buffer_size": 1, "flush_interval_ms": 86_400_000}),
        (STATE, {"capacity": 3}),
        (STATE, {}),
        (POLLING, {"interval_ms": 1}),
        (PASS, {}),
        (AccumulatorKind.STREAM, {"subject": "prices.btc", "durable": "d"}),
    ],
)
def test_good_configs_pass(kind: AccumulatorKind, config: dict[str, Any]) -> None:
    assert config_problem(kind, config) is None


@pytest.mark.parametrize(
    ("kind", "config", "problem"),
    [
        (
            BATCH,
            {"max_buffer_size": "2"},
            "has 'max_buffer_size' = \"2\", which is not an integer; it is an integer from 1 to "
            "1000000 (events per batch)",
        ),
        (BATCH, {"max_buffer_size": True}, "has 'max_buffer_size' = true, which is not"),
        (BATCH, {"max_buffer_size": 2.5}, "has 'max_buffer_size' = 2.5, which is not"),
        (BATCH, {"max_buffer_size": 0}, "has 'max_buffer_size' = 0, out of range"),
        (BATCH, {"flush_interval_ms": -5}, "has 'flush_interval_ms' = -5, out of range"),
        (STATE, {"capacity": 10**7}, "has 'capacity' = 10000000, out of range"),
        (POLLING, {"interval_ms": None}, "has 'interval_ms' = null, which is not an integer"),
        (
            BATCH,
            {"max_bufer_size": 2},
            "has unknown config key(s) 'max_bufer_size' (did you mean 'max_buffer_size'?); a "
            "batch accumulator takes only 'max_buffer_size', 'flush_interval_ms'",
        ),
        (
            STATE,
            {"size": 2},
            "has unknown config key(s) 'size'; a state accumulator takes only 'capacity'",
        ),
        (PASS, {"capacity": 2}, "a passthrough accumulator takes none"),
        (POLLING, {"interval": 5}, "'interval' (did you mean 'interval_ms'?)"),
    ],
)
def test_bad_configs_are_named(kind: AccumulatorKind, config: dict[str, Any], problem: str) -> None:
    found = config_problem(kind, config)
    assert found is not None and problem in found, found


def test_the_accumulator_runs_with_the_checked_values_and_the_defaults() -> None:
    assert int_setting(BATCH, {}, "max_buffer_size") == 100
    assert int_setting(BATCH, {"max_buffer_size": 7}, "max_buffer_size") == 7
    assert int_setting(STATE, {}, "capacity") is None  # no limit
    with pytest.raises(DeclarationError, match="did not pass the library check"):
        int_setting(BATCH, {"max_buffer_size": "2"}, "max_buffer_size")
    batch = Accumulator(AccumulatorDecl("b", BATCH, {"max_buffer_size": 2}), "R", "p")
    assert batch.ingest(b"1") == [] and batch.ingest(b"2") == [b"[1,2]"]
    window = Accumulator(AccumulatorDecl("w", STATE, {"capacity": 2}), "R", "p")
    assert [window.ingest(x) for x in (b"1", b"2", b"3")][-1] == [b"[2,3]"]
    assert keys_of(AccumulatorKind.STREAM) == ("subject", "durable")


def test_suggestions_only_when_close() -> None:
    assert suggestion("PriceReactr", ["PriceReactor", "Other"]) == " (did you mean 'PriceReactor'?)"
    assert suggestion("Zzz", ["PriceReactor"]) == ""
    assert suggestion("x", []) == ""
