"""The tutorial's flow in-process, with the real C plugins: load, bind, fire, the guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloacina_host import (
    GuardError,
    InvalidInputError,
    NotFoundError,
    ReactorNotLoadedError,
    Runtime,
)


def test_tutorial_flow(pricing: Runtime) -> None:
    assert pricing.push("raw_prices", {"symbol": "BTCUSD", "price": 42000}) == 1
    run = pricing.outputs("price_consumer")[-1]
    assert run.ok and run.reactor == "PriceReactor"
    # normalized_prices never produced a boundary: score got null and reports ratio 0
    assert run.outputs == {"publish": {"signal": 0}}
    pricing.push("normalized_prices", '{"symbol":"BTCUSD","price":21000}')
    assert pricing.outputs("price_consumer")[-1].outputs == {"publish": {"signal": 2}}
    assert pricing.reactor("PriceReactor").stats.fires == 2


def test_subscriber_first_fails_then_loads(rt: Runtime, c_plugins: dict[str, Path]) -> None:
    with pytest.raises(ReactorNotLoadedError) as err:
        rt.load(c_plugins["pricing-subscriber"])
    assert str(err.value) == (
        "Error loading reactor-bound CG 'price_consumer': reactor 'PriceReactor' not loaded"
    )
    assert rt.counts()["packages"] == 0 and rt.registry.size() == 0
    rt.load(c_plugins["pricing-publisher"])
    rt.load(c_plugins["pricing-subscriber"])
    assert rt.registry.subscribers("PriceReactor") == ["price_consumer"]


def test_guard_refuses_then_safe_order_succeeds(pricing: Runtime) -> None:
    with pytest.raises(GuardError) as err:
        pricing.unload("pricing-publisher")
    assert str(err.value) == (
        "reactor 'PriceReactor' has 1 bound subscriber(s): ['price_consumer']; unbind them first"
    )
    # nothing was torn down: events still flow to the subscriber
    pricing.push("raw_prices", {"price": 1})
    assert pricing.outputs("price_consumer")[-1].ok
    report = pricing.unload("pricing-subscriber")
    assert report.lines() == ["reactor PriceReactor now has 0 subscribers"]
    # unbinding never tears down the reactor: it still fires (with no subscribers)
    assert pricing.push("raw_prices", {"price": 2}) == 1
    report = pricing.unload("pricing-publisher")
    assert report.lines() == ["reactor PriceReactor torn down"]
    assert pricing.counts() == {
        "packages": 0,
        "reactors": 0,
        "accumulators": 0,
        "graphs": 0,
        "registry": 0,
    }
    with pytest.raises(NotFoundError, match="accumulator 'raw_prices' is not loaded"):
        pricing.push("raw_prices", {"price": 3})


def test_two_subscribers_both_fire(pricing: Runtime, c_plugins: dict[str, Path]) -> None:
    pricing.load(c_plugins["test_auditor"])
    pricing.push("raw_prices", {"price": 10})
    assert pricing.outputs("price_auditor")[-1].outputs == {"audit": {"price": 10}}
    assert pricing.outputs("price_consumer")[-1].outputs == {"publish": {"signal": 0}}
    with pytest.raises(
        GuardError, match=r"2 bound subscriber\(s\): \['price_consumer', 'price_auditor'\]"
    ):
        pricing.unload("pricing-publisher")


def test_accumulator_function_rejects_bad_event(pricing: Runtime) -> None:
    from cloacina_host import PluginCallError

    with pytest.raises(PluginCallError, match='numeric \\"price\\"'):
        pricing.push("raw_prices", {"symbol": "BTCUSD"})
    with pytest.raises(InvalidInputError, match="accumulator 'raw_prices' is not valid JSON"):
        pricing.push("raw_prices", b"{nope")
    assert pricing.reactor("PriceReactor").stats.fires == 0
    assert pricing.reactor("PriceReactor").accumulators["raw_prices"].errors_total == 1


def test_refused_events_can_be_collected_while_the_rest_are_pushed(pricing: Runtime) -> None:
    from cloacina_host import PluginCallError

    reactor = pricing.reactor_of("raw_prices")
    events = [b'{"price": 1}', b'{"symbol": "no price"}', b'{"price": 4}']
    refused: list[PluginCallError] = []
    assert reactor.push("raw_prices", events, refused) == 1  # latest: one fire, newest value
    assert [e.status for e in refused] == [1]  # invalid_input, from the accumulator function
    assert pricing.outputs("price_consumer")[-1].ok
    assert reactor.accumulators["raw_prices"].events_total == 2
    assert reactor.state_snapshot()["cache"]["raw_prices"] == {"price": 4}
    with pytest.raises(PluginCallError):  # without a list, the first refusal is raised
        reactor.push("raw_prices", events)
