"""The Metrics observer on its own: separate registries, cached children, exact families."""

from __future__ import annotations

from cloacina_host.executor import GraphRun
from cloacina_host.metrics import Metrics, TenantSample
from cloacina_host.types import AccumulatorDecl, ReactorDecl


def test_two_instances_do_not_clash_and_count() -> None:
    first, second = Metrics(), Metrics()
    reactor = ReactorDecl("PriceReactor", ("raw_prices",))
    for _ in range(3):
        first.reactor_fired("acme", reactor, 0.001, 1)
    first.graph_finished("acme", GraphRun("g", "PriceReactor", 1, 0.0, 0.002, {"t": 1}))
    first.graph_finished("acme", GraphRun("g", "PriceReactor", 2, 0.0, 0.002, None, "boom"))
    first.accumulator_event("acme", "PriceReactor", AccumulatorDecl("raw_prices"), True)
    first.load_failures("acme", 2)
    seen: list[str] = []
    first.run_listeners.append(lambda tenant, run: seen.append(f"{tenant}/{run.graph}"))
    first.graph_finished("beta", GraphRun("g", None, 1, 0.0, 0.001, {}))
    first.source = lambda: [TenantSample("acme", [], 4)]
    text = first.render().decode()
    fires = 'cloacina_reactor_fires_total{criteria="when_any",reactor="PriceReactor",tenant="acme"}'
    assert f"{fires} 3.0" in text
    assert (
        'cloacina_graph_executions_total{graph="g",outcome="failure",reactor="PriceReactor",'
        'tenant="acme"} 1.0'
    ) in text
    assert (
        'cloacina_graph_executions_total{graph="g",outcome="success",reactor="",tenant="beta"}'
        in text
    )
    assert 'cloacina_package_loaded{tenant="acme"} 4.0' in text
    assert 'cloacina_package_load_failures_total{tenant="acme"} 2.0' in text
    assert (
        'cloacina_accumulator_wakeups_total{accumulator="raw_prices",kind="passthrough",'
        'tenant="acme"} 1.0' in text
    )
    assert seen == ["beta/g"]
    assert "PriceReactor" not in second.render().decode()
