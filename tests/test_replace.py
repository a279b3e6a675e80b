"""Hot replace: a new version from a new library copy, subscribers kept when the
reactor contract is unchanged, refused when it changes while they are bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloacina_host import NotFoundError, Runtime
from cloacina_host.errors import ContractChangedError


def test_replace_keeps_subscribers_and_cache(pricing: Runtime, c_plugins: dict[str, Path]) -> None:
    pricing.push("normalized_prices", {"price": 100})
    decl = pricing.replace(c_plugins["publisher_v2"])
    assert decl.version == "0.2.0"
    versions = {p.name: p.version for p in pricing.packages()}
    assert versions == {"pricing-publisher": "0.2.0", "pricing-subscriber": "0.1.0"}
    assert pricing.registry.subscribers("PriceReactor") == ["price_consumer"]
    # the cache carried over: normalized_prices is still 100
    pricing.push("raw_prices", {"price": 50})
    assert pricing.outputs("price_consumer")[-1].outputs == {"publish": {"signal": 0.5}}
    report_lines = pricing.unload("pricing-subscriber").lines()
    assert report_lines == ["reactor PriceReactor now has 0 subscribers"]
    assert pricing.unload("pricing-publisher").lines() == ["reactor PriceReactor torn down"]
    assert pricing.counts()["registry"] == 0


def test_contract_change_refused_while_bound(pricing: Runtime, c_plugins: dict[str, Path]) -> None:
    with pytest.raises(ContractChangedError) as err:
        pricing.replace(c_plugins["publisher_v3_when_all"])
    text = str(err.value)
    assert "cannot replace package 'pricing-publisher' with version 0.3.0" in text
    assert "'criteria': 'when_all'" in text
    assert "reactor 'PriceReactor' has 1 bound subscriber(s): ['price_consumer']" in text
    # the old version keeps running
    assert [p.version for p in pricing.packages() if p.name == "pricing-publisher"] == ["0.1.0"]
    pricing.push("raw_prices", {"price": 1})
    assert pricing.outputs("price_consumer")[-1].ok


def test_contract_change_allowed_without_subscribers(
    rt: Runtime, c_plugins: dict[str, Path]
) -> None:
    rt.load(c_plugins["pricing-publisher"])
    rt.replace(c_plugins["publisher_v3_when_all"])
    assert rt.reactor("PriceReactor").decl.criteria.label == "when_all"
    assert rt.push("raw_prices", {"price": 1}) == 0  # when_all waits for normalized_prices
    assert rt.push("normalized_prices", {"price": 1}) == 1


def test_replace_requires_a_loaded_package(rt: Runtime, c_plugins: dict[str, Path]) -> None:
    with pytest.raises(NotFoundError, match="load it instead"):
        rt.replace(c_plugins["publisher_v2"])
    assert rt.counts()["packages"] == 0
