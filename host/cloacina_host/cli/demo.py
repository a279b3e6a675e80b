"""The tutorial's scenario in-process: binding, firing, the guard and the safe unload order.

Run with ``cloacinactl demo`` (the C example libraries the wheel bundles) or ``cloacinactl
demo --publisher LIB --subscriber LIB`` (``make demo-local`` builds the C examples and runs it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..core.host import Host
from ..core.runtime import Runtime
from ..errors import CloacinaError
from ..packaging.sdk import bundled_library

#: The libraries the wheel bundles (CMakeLists.txt installs them into cloacina_host/plugins/).
BUNDLED = {
    "publisher": "libpricing_publisher.so",
    "subscriber": "libpricing_subscriber.so",
}


def bundled(role: str) -> Path:
    """The bundled example library for ``role`` (``publisher`` or ``subscriber``)."""
    return bundled_library(BUNDLED[role])


def _status(rt: Runtime, reactor: str) -> str:
    r = rt.reactor(reactor)
    subs = list(r.subscribers)
    return (
        f"reactor {reactor}: accumulators {list(r.decl.accumulators)}, "
        f"criteria {r.decl.criteria.label}, fires {r.stats.fires}, "
        f"subscribers: {len(subs)} ({', '.join(subs)})"
    )


def run(publisher: Path, subscriber: Path, out: Callable[[str], None] = print) -> int:
    """Walk through the tutorial; returns a process exit code (0 when every step behaved)."""
    host = Host()
    rt = host.runtime("acme")
    failures = 0

    def step(title: str) -> None:
        out(f"\n== {title}")

    def expect_error(action: Callable[[], object], expected: str) -> None:
        nonlocal failures
        try:
            action()
        except CloacinaError as exc:
            out(f"Error: {exc}")
            if expected not in str(exc):
                failures += 1
                out(f"!! expected an error containing: {expected}")
            return
        failures += 1
        out(f"!! expected an error containing: {expected}")

    try:
        step("1. load the subscriber before its publisher (refused, retried later)")
        expect_error(lambda: rt.load(subscriber), "reactor 'PriceReactor' not loaded")

        step("2. load pricing-publisher (step 3 registers PriceReactor)")
        decl = rt.load(publisher)
        out(f"OK: loaded {decl.name} {decl.version}: reactors {[r.name for r in decl.reactors]}")

        step("3. retry pricing-subscriber (step 5 binds price_consumer by name)")
        decl = rt.load(subscriber)
        out(f"OK: loaded {decl.name} {decl.version}: graphs {[g.name for g in decl.graphs]}")
        out(_status(rt, "PriceReactor"))

        step("4. push events; PriceReactor fires when_any and runs price_consumer")
        for acc, event in (
            ("raw_prices", {"symbol": "BTCUSD", "price": 42000}),
            ("normalized_prices", {"symbol": "BTCUSD", "price": 21000}),
            ("raw_prices", {"symbol": "BTCUSD", "price": 43050}),
        ):
            fires = rt.push(acc, event)
            result = rt.outputs("price_consumer")[-1]
            out(f"push {acc} {event} -> fires={fires} outputs={result.outputs}")
        out(_status(rt, "PriceReactor"))

        step("5. unload the publisher first (the bound-subscriber guard refuses)")
        expect_error(
            lambda: rt.unload("pricing-publisher"),
            "reactor 'PriceReactor' has 1 bound subscriber(s): ['price_consumer']; "
            "unbind them first",
        )

        step("6. the safe order: subscribers first, then the publisher")
        for package in ("pricing-subscriber", "pricing-publisher"):
            for line in rt.unload(package).lines():
                out(f"OK: {line}")
        out(f"tenant acme now holds: {rt.counts()}")
    finally:
        host.close()
    out(
        "\ndemo finished: every step behaved as the tutorial says"
        if not failures
        else f"\ndemo finished with {failures} unexpected result(s)"
    )
    return 1 if failures else 0
