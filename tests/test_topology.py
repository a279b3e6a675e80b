"""The binding graph: built from stored manifests (pure), served at ``…/topology``, drawn
by ``graph topology`` as Mermaid/DOT; the guard's refusal names who blocks it and the safe
order; pause and resume over HTTP."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cloacina_host.control.topology import (
    StoredPackage,
    blockers,
    delete_order,
    safe_order_for,
    to_dot,
    to_mermaid,
    topology,
)
from server_fixtures import GUARD, Cli, Server, assert_error


def reactor(name: str, *accs: str) -> dict[str, Any]:
    return {
        "name": name,
        "accumulators": list(accs),
        "criteria": "when_any",
        "criteria_accumulators": list(accs),
        "input_strategy": "latest",
    }


def graph(name: str, trigger: str | None) -> dict[str, Any]:
    g: dict[str, Any] = {"name": name, "nodes": [{"name": "a", "inputs": []}], "fused": False}
    if trigger is not None:
        g["trigger"] = trigger
    return g


def pkg(name: str, reactors: list[Any] = [], graphs: list[Any] = [], **kw: Any) -> StoredPackage:  # noqa: B006
    decls = {"reactors": reactors, "graphs": graphs, "accumulators": kw.pop("accumulators", [])}
    return StoredPackage(name, "1.0.0", decls, **kw)


PUB = pkg(
    "pub",
    [reactor("R", "raw", "state")],
    [graph("local_graph", "R")],
    accumulators=[{"name": "state", "kind": "state", "config": {}, "has_function": False}],
    status="loaded",
)
SUB = pkg("sub", graphs=[graph("consumer", "R"), graph("lonely", None)], status="loaded")
ORPHAN = pkg("orphan", graphs=[graph("waiting", "Missing")], status="pending", reason="why")


def test_nodes_and_edges_say_who_feeds_and_who_is_bound() -> None:
    topo = topology("acme", [PUB, SUB, ORPHAN])
    kinds = {n["id"]: n["kind"] for n in topo["nodes"]}
    assert kinds == {
        "package:pub": "package",
        "reactor:R": "reactor",
        "accumulator:pub/raw": "accumulator",
        "accumulator:pub/state": "accumulator",
        "graph:local_graph": "graph",
        "package:sub": "package",
        "package:orphan": "package",
        "graph:consumer": "graph",
        "graph:lonely": "graph",
        "graph:waiting": "graph",
        "reactor:Missing": "reactor",
    }
    by_id = {n["id"]: n for n in topo["nodes"]}
    assert by_id["accumulator:pub/state"]["accumulator_kind"] == "state"
    assert by_id["accumulator:pub/raw"]["accumulator_kind"] == "passthrough"
    assert (
        by_id["reactor:Missing"]["missing"] is True and by_id["reactor:Missing"]["package"] is None
    )
    assert by_id["reactor:R"]["missing"] is False and by_id["reactor:R"]["package"] == "pub"
    triggers = {(e["source"], e["target"]): e for e in topo["edges"] if e["kind"] == "triggers"}
    assert set(triggers) == {
        ("reactor:R", "graph:local_graph"),
        ("reactor:R", "graph:consumer"),
        ("reactor:Missing", "graph:waiting"),
    }
    assert triggers[("reactor:R", "graph:consumer")]["cross_package"] is True
    assert triggers[("reactor:R", "graph:local_graph")]["cross_package"] is False
    assert triggers[("reactor:Missing", "graph:waiting")]["resolved"] is False
    feeds = [(e["source"], e["target"]) for e in topo["edges"] if e["kind"] == "feeds"]
    assert feeds == [("accumulator:pub/raw", "reactor:R"), ("accumulator:pub/state", "reactor:R")]
    assert topo["packages"][2] == {
        "name": "orphan",
        "version": "1.0.0",
        "status": "pending",
        "reason": "why",
        "summary": "",
    }
    order = topo["safe_delete_order"]
    assert order.index("sub") < order.index("pub") and set(order) == {"pub", "sub", "orphan"}


def test_blockers_and_the_safe_order_follow_subscriptions_transitively() -> None:
    # mid subscribes to top's reactor and publishes M, which leaf subscribes to
    top = pkg("top", [reactor("T", "x")])
    mid = pkg("mid", [reactor("M", "y")], [graph("g_mid", "T")])
    leaf = pkg("leaf", graphs=[graph("g_leaf", "M")])
    other = pkg("other", graphs=[graph("g_other", None)])
    packages = [top, mid, leaf, other]
    assert [b.to_dict() for b in blockers("top", packages)] == [
        {"reactor": "T", "package": "mid", "graph": "g_mid"}
    ]
    assert blockers("leaf", packages) == []
    assert safe_order_for("top", packages) == ["leaf", "mid", "top"]
    assert safe_order_for("leaf", packages) == ["leaf"]
    full = delete_order(packages)
    assert full.index("leaf") < full.index("mid") < full.index("top") and "other" in full


def test_a_cycle_of_subscriptions_comes_last() -> None:
    a = pkg("a", [reactor("A", "x")], [graph("ga", "B")])
    b = pkg("b", [reactor("B", "y")], [graph("gb", "A")])
    free = pkg("free", graphs=[graph("gf", "A")])
    # free must go before a; a and b block each other: no order frees them, they come last
    assert delete_order([a, b, free]) == ["free", "a", "b"]


def test_a_clashing_reactor_belongs_to_the_first_stored_package() -> None:
    first = pkg("first", [reactor("R", "x")])
    second = pkg("second", [reactor("R", "y")])
    topo = topology("t", [first, second])
    (r,) = [n for n in topo["nodes"] if n["kind"] == "reactor"]
    assert r["package"] == "first"
    assert "accumulator:second/y" not in {n["id"] for n in topo["nodes"]}


def test_mermaid_and_dot_draw_groups_and_mark_cross_package_edges() -> None:
    topo = topology("acme", [PUB, SUB, ORPHAN])
    mermaid = to_mermaid(topo)
    assert mermaid.startswith("flowchart LR\n")
    assert 'subgraph n_package_pub["pub 1.0.0 (loaded)"]' in mermaid
    assert "n_reactor_R ==> n_graph_consumer" in mermaid  # cross-package: thick
    assert "n_reactor_R --> n_graph_local_graph" in mermaid
    assert "n_reactor_Missing -.-> n_graph_waiting" in mermaid
    assert 'n_reactor_Missing{{"Missing (missing)"}}' in mermaid
    assert mermaid.count("subgraph ") == mermaid.count("  end") == 3
    dot = to_dot(topo)
    assert dot.startswith('digraph "acme" {') and dot.rstrip().endswith("}")
    assert "subgraph cluster_n_pub {" in dot
    assert 'n_reactor_R -> n_graph_consumer [style=bold, color="#d9480f", penwidth=2];' in dot
    assert "n_reactor_Missing -> n_graph_waiting [style=dashed];" in dot
    assert dot.count("{") == dot.count("}")


def test_labels_are_quoted() -> None:
    weird = pkg('we"ird', [reactor('R"x', "a")])
    assert 'label="R\\"x"' in to_dot(topology("t", [weird]))
    assert "R#quot;x" in to_mermaid(topology("t", [weird]))


# ----------------------------------------------------------------------- against the server


def test_topology_guard_details_and_pause_over_http(
    server: Server, c_archives: dict[str, Path], tmp_path: Path
) -> None:
    tenant, key = server.tenant()
    assert server.upload(tenant, key, c_archives["pricing-subscriber"]).status_code == 201
    # the subscriber alone: its trigger is unresolved, drawn to a missing reactor
    alone = server.ok("GET", f"/v1/tenants/{tenant}/topology", key)
    missing = next(n for n in alone["nodes"] if n["id"] == "reactor:PriceReactor")
    assert missing["missing"] is True
    (edge,) = [e for e in alone["edges"] if e["kind"] == "triggers"]
    assert edge["resolved"] is False and edge["cross_package"] is False
    assert alone["packages"][0]["status"] == "pending"

    assert server.upload(tenant, key, c_archives["pricing-publisher"]).status_code == 201
    topo = server.ok("GET", f"/v1/tenants/{tenant}/topology", key)
    assert {p["name"]: p["status"] for p in topo["packages"]} == {
        "pricing-subscriber": "loaded",
        "pricing-publisher": "loaded",
    }
    triggers = [e for e in topo["edges"] if e["kind"] == "triggers"]
    assert triggers == [
        {
            "source": "reactor:PriceReactor",
            "target": "graph:price_consumer",
            "kind": "triggers",
            "cross_package": True,
            "resolved": True,
        }
    ]
    feeds = sorted(e["source"] for e in topo["edges"] if e["kind"] == "feeds")
    assert feeds == [
        "accumulator:pricing-publisher/normalized_prices",
        "accumulator:pricing-publisher/raw_prices",
    ]
    assert topo["safe_delete_order"] == ["pricing-subscriber", "pricing-publisher"]

    # the unsafe delete: the guard's text, who blocks it, the safe order; nothing deleted
    refused = server.request("DELETE", f"/v1/tenants/{tenant}/packages/pricing-publisher", key)
    assert_error(refused, 409, "bound_subscribers", GUARD)
    assert refused.json()["details"] == {
        "blocked_by": [
            {"reactor": "PriceReactor", "package": "pricing-subscriber", "graph": "price_consumer"}
        ],
        "safe_order": ["pricing-subscriber", "pricing-publisher"],
    }
    assert set(server.packages(tenant, key)) == {"pricing-publisher", "pricing-subscriber"}

    # pause and resume over HTTP; a paused reactor does not fire on events
    base = f"/v1/tenants/{tenant}/reactors/PriceReactor"
    assert server.ok("POST", f"{base}/pause", key)["type"] == "paused"
    assert server.ok("GET", base, key)["state"] == "paused"
    pushed = server.ok(
        "POST", f"/v1/tenants/{tenant}/accumulators/raw_prices/events", key, json={"price": 1}
    )
    assert pushed["fires"] == 0
    resumed = server.ok("POST", f"{base}/resume", key)
    assert resumed["type"] == "resumed" and resumed["fires"] == 1  # the held event fires now
    assert server.ok("GET", base, key)["state"] == "running"
    assert_error(
        server.request("POST", f"/v1/tenants/{tenant}/reactors/Nope/pause", key), 404, "not_found"
    )
    reader = server.key(tenant, "read", key)["key"]
    assert_error(server.request("POST", f"{base}/pause", reader), 403, "forbidden")
    assert server.ok("GET", f"/v1/tenants/{tenant}/topology", reader)["tenant"] == tenant

    # the CLI draws the same
    cli = Cli(tmp_path / "home")
    common = ["--server", server.url, "--key", key, "--tenant", tenant]
    mermaid = cli.ok("graph", "topology", *common)
    assert "n_reactor_PriceReactor ==> n_graph_price_consumer" in mermaid
    assert 'subgraph n_package_pricing_publisher["pricing-publisher 0.1.0 (loaded)"]' in mermaid
    dot = cli.ok("graph", "topology", "--format", "dot", *common)
    assert "n_reactor_PriceReactor -> n_graph_price_consumer [style=bold" in dot
    assert cli.json("graph", "topology", *common) == server.ok(
        "GET", f"/v1/tenants/{tenant}/topology", key
    )
    svg = cli("graph", "topology", "--format", "svg", *common)
    if shutil.which("dot") is None:
        assert svg.returncode != 0 and "needs Graphviz's `dot`" in svg.stderr
    else:
        assert svg.returncode == 0 and "<svg" in svg.stdout and "PriceReactor" in svg.stdout
    out = tmp_path / "binding.mmd"
    cli.ok("graph", "topology", "--output-file", str(out), *common)
    assert out.read_text() == mermaid
    assert (
        cli.ok("reactor", "pause", "PriceReactor", *common) == "OK: reactor PriceReactor paused\n"
    )
    assert cli.ok("reactor", "resume", "PriceReactor", *common).startswith(
        "OK: reactor PriceReactor resumed"
    )
