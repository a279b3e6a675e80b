"""The tutorial end to end against a real server process: real HTTP, real WebSocket."""

from __future__ import annotations

import re
from pathlib import Path

from server_fixtures import BOOT, EMPTY, GUARD, NOT_LOADED, Server, assert_error, eventually


def test_tutorial_end_to_end(server: Server, c_archives: dict[str, Path]) -> None:
    # the platform admin creates tenant acme and a tenant-scoped key
    created = server.ok("POST", "/v1/tenants", json={"name": "acme"})
    assert created["name"] == "acme"
    key = server.key("acme", "admin")
    acme = key["key"]
    assert acme.startswith("clk_") and key["tenant"] == "acme" and key["role"] == "admin"

    # subscriber first: stored, pending with the reason an operator needs
    sub = server.upload("acme", acme, c_archives["pricing-subscriber"])
    assert sub.status_code == 201, sub.text
    sub_body = sub.json()
    assert sub_body["status"] == "pending" and sub_body["reason"] == NOT_LOADED
    assert server.packages("acme", acme)["pricing-subscriber"]["reason"] == NOT_LOADED

    # publisher: both load (the subscriber is retried at once)
    pub = server.upload("acme", acme, c_archives["pricing-publisher"])
    assert pub.status_code == 201, pub.text
    pub_body = pub.json()
    assert pub_body["status"] == "loaded" and pub_body["name"] == "pricing-publisher"
    listed = server.packages("acme", acme)
    assert {n: p["status"] for n, p in listed.items()} == {
        "pricing-publisher": "loaded",
        "pricing-subscriber": "loaded",
    }
    assert listed["pricing-publisher"]["reactors"] == ["PriceReactor"]
    assert listed["pricing-subscriber"]["graphs"] == ["price_consumer"]

    # graph list / graph status
    reactors = server.ok("GET", "/v1/tenants/acme/reactors", acme)
    assert reactors["total"] == 1
    (reactor,) = reactors["items"]
    assert reactor["name"] == "PriceReactor"
    assert reactor["accumulators"] == ["raw_prices", "normalized_prices"]
    assert reactor["subscribers"] == ["price_consumer"]
    assert reactor["criteria"] == "when_any" and reactor["package"] == "pricing-publisher"
    one = server.ok("GET", "/v1/tenants/acme/reactors/PriceReactor", acme)
    assert one["cache"] == {"raw_prices": None, "normalized_prices": None}

    # a ticket, and the websocat line: one text frame to raw_prices
    with server.ws("/v1/ws/accumulator/raw_prices", acme) as ws:
        ws.send('{"symbol":"BTCUSD","price":42000}')

    def outputs() -> list[dict[str, object]]:
        graph = server.ok("GET", "/v1/tenants/acme/graphs/price_consumer", acme)
        return list(graph["outputs"])

    runs = eventually(outputs)
    assert runs[-1]["outputs"] == {"publish": {"signal": 0}}
    assert runs[-1]["reactor"] == "PriceReactor" and runs[-1]["error"] is None
    graphs = server.ok("GET", "/v1/tenants/acme/graphs", acme)["items"]
    assert [(g["name"], g["reactor"], g["runs_ok"]) for g in graphs] == [
        ("price_consumer", "PriceReactor", 1)
    ]
    accs = {a["name"]: a for a in server.ok("GET", "/v1/tenants/acme/accumulators", acme)["items"]}
    assert (
        accs["raw_prices"]["events_total"] == 1 and accs["normalized_prices"]["events_total"] == 0
    )

    # curl -s /metrics | grep -E 'cloacina_(graph|reactor)'
    metrics = server.request("GET", "/metrics", key=None).text
    lines = [ln for ln in metrics.splitlines() if re.match(r"cloacina_(graph|reactor)", ln)]
    fires = [ln for ln in lines if ln.startswith("cloacina_reactor_fires_total{")]
    assert any('tenant="acme"' in ln and 'reactor="PriceReactor"' in ln for ln in fires), lines
    assert any(ln.endswith(" 1.0") for ln in fires if 'tenant="acme"' in ln)
    execs = [ln for ln in lines if ln.startswith("cloacina_graph_executions_total{")]
    assert any(
        'tenant="acme"' in ln and 'graph="price_consumer"' in ln and 'outcome="success"' in ln
        for ln in execs
    ), lines
    assert 'cloacina_reactor_subscribers{reactor="PriceReactor",tenant="acme"} 1.0' in metrics
    assert 'cloacina_package_loaded{tenant="acme"} 2.0' in metrics

    # publisher first: the guard refuses, nothing is deleted
    refused = server.request("DELETE", f"/v1/tenants/acme/packages/{pub_body['id']}", acme)
    assert_error(refused, 409, "bound_subscribers")
    assert refused.json()["error"] == GUARD
    assert set(server.packages("acme", acme)) == {"pricing-publisher", "pricing-subscriber"}
    assert server.ok("GET", "/v1/tenants/acme/reactors/PriceReactor", acme)["subscribers"] == [
        "price_consumer"
    ]

    # the safe order
    deleted = server.ok("DELETE", f"/v1/tenants/acme/packages/{sub_body['id']}", acme)
    assert deleted["status"] == "deleted" and deleted["name"] == "pricing-subscriber"
    assert deleted["messages"] == ["reactor PriceReactor now has 0 subscribers"]
    deleted = server.ok("DELETE", "/v1/tenants/acme/packages/pricing-publisher", acme)
    assert deleted["messages"] == ["reactor PriceReactor torn down"]
    assert server.packages("acme", acme) == {}
    assert server.ok("GET", "/v1/tenants/acme/reactors", acme) == EMPTY
    assert_error(
        server.request("GET", "/v1/tenants/acme/reactors/PriceReactor", acme), 404, "not_found"
    )
    server.ok("DELETE", "/v1/tenants/acme", BOOT)
