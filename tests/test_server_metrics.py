"""The Metrics observer on its own: separate registries, cached children, exact families."""

from __future__ import annotations

from pathlib import Path

from cloacina_host import Runtime
from cloacina_host.core.executor import GraphRun
from cloacina_host.core.views import TenantSample, sample
from cloacina_host.server.metrics import Metrics


def test_two_instances_do_not_clash_and_count() -> None:
    first, second = Metrics(), Metrics()
    for _ in range(3):
        first.reactor_fired("acme", "PriceReactor", "when_any", 0.001, 1)
    first.graph_finished("acme", GraphRun("g", "PriceReactor", 1, 0.0, 0.002, {"t": 1}))
    first.graph_finished("acme", GraphRun("g", "PriceReactor", 2, 0.0, 0.002, None, "boom"))
    first.accumulator_event("acme", "PriceReactor", "raw_prices", "passthrough", True)
    first.load_failures("acme", 2)
    seen: list[str] = []
    first.run_listeners.append(lambda tenant, run: seen.append(f"{tenant}/{run.graph}"))
    first.graph_finished("beta", GraphRun("g", None, 1, 0.0, 0.001, {}))
    first.source = lambda: [TenantSample("acme", (), 4)]
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


def test_node_durations_through_a_real_runtime(c_plugins: dict[str, Path]) -> None:
    metrics = Metrics()
    rt = Runtime("acme", observer=metrics)
    try:
        rt.load(c_plugins["pricing-publisher"])
        rt.load(c_plugins["pricing-subscriber"])
        rt.push("raw_prices", {"price": 1})
        rt.push("raw_prices", {"price": 2})
        run = rt.outputs("price_consumer")[-1]
        assert [node for node, _ in run.node_seconds] == ["score", "publish"]
        assert all(seconds > 0 for _, seconds in run.node_seconds)
        text = metrics.render().decode()
        for node in ("score", "publish"):
            assert (
                f'cloacina_graph_node_duration_seconds_count{{graph="price_consumer",node="{node}",'
                'tenant="acme"} 2.0'
            ) in text
    finally:
        rt.close()
    # without an observer nothing is timed
    plain = Runtime("plain")
    try:
        plain.load(c_plugins["pricing-publisher"])
        plain.load(c_plugins["pricing-subscriber"])
        plain.push("raw_prices", {"price": 1})
        assert plain.outputs("price_consumer")[-1].node_seconds == ()
    finally:
        plain.close()


def test_scrape_time_accumulator_families(c_plugins: dict[str, Path]) -> None:
    metrics = Metrics()
    rt = Runtime("acme", observer=metrics)
    metrics.source = lambda: [sample(rt)]
    try:
        rt.load(c_plugins["test_multi"])
        rt.push("batch", {"n": 1})  # max_buffer_size 2: one event waits for the flush
        rt.push("window", 1)
        text = metrics.render().decode()
        labels = 'accumulator="batch",kind="batch",tenant="acme"'
        assert f"cloacina_accumulator_buffer_depth{{{labels}}} 1.0" in text
        assert f"cloacina_accumulator_events_total{{{labels}}} 1.0" in text
        window = 'accumulator="window",kind="state",tenant="acme"'
        assert f"cloacina_accumulator_buffer_depth{{{window}}} 0.0" in text
        assert 'cloacina_package_loaded{tenant="acme"} 1.0' in text
    finally:
        rt.close()
