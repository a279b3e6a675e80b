"""Malformed requests and uploads get the envelope and change nothing; the runtime routes
and the WebSocket protocols."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import orjson
import pytest

from server_fixtures import BOOT, Server, assert_error, eventually


@pytest.fixture(scope="module")
def pricing(server: Server, c_archives: dict[str, Path]) -> tuple[str, str]:
    """A tenant with the tutorial pair loaded, and its admin key."""
    tenant, key = server.tenant()
    for name in ("pricing-publisher", "pricing-subscriber"):
        assert server.upload(tenant, key, c_archives[name]).json()["status"] == "loaded"
    return tenant, key


def traversal_archive() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"owned"
        info = tarfile.TarInfo("../../evil.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_malformed_uploads_change_nothing(server: Server, c_archives: dict[str, Path]) -> None:
    tenant, key = server.tenant()
    path = f"/v1/tenants/{tenant}/packages"
    good = c_archives["pricing-publisher"].read_bytes()
    cases: list[tuple[Any, int, str]] = [
        ({"file": ("empty.cloacina", b"")}, 400, "invalid_package"),
        ({"file": ("junk.cloacina", b"not a tar at all")}, 400, "invalid_package"),
        ({"file": ("cut.cloacina", good[: len(good) // 2])}, 400, "invalid_package"),
        ({"file": ("evil.cloacina", traversal_archive())}, 400, "invalid_package"),
        ({"upload": ("p.cloacina", good)}, 400, "invalid_request"),
    ]
    for files, status, code in cases:
        assert_error(server.request("POST", path, key, files=files), status, code)
    assert_error(server.request("POST", path, key, json={"file": "x"}), 400, "invalid_request")
    assert_error(
        server.request("POST", path, key, content=b"--x\r\nbroken"), 400, "invalid_request"
    )
    big = {"file": ("big.cloacina", b"\0" * (5 << 20))}  # the test server's limit is 4 MiB
    assert_error(server.request("POST", path, key, files=big), 413, "too_large")
    assert server.packages(tenant) == {}
    assert server.ok("GET", f"/v1/tenants/{tenant}/reactors", key)["total"] == 0
    # the server still works afterwards
    assert server.upload(tenant, key, c_archives["pricing-publisher"]).status_code == 201


def test_malformed_requests(server: Server) -> None:
    before = server.ok("GET", "/v1/tenants")["total"]
    bad_json = server.request(
        "POST", "/v1/tenants", content=b'{"name":', headers={"content-type": "application/json"}
    )
    assert_error(bad_json, 400, "invalid_request", "not valid JSON")
    assert_error(server.request("POST", "/v1/tenants", json={}), 400, "invalid_request", "name")
    assert_error(server.request("POST", "/v1/tenants", json={"name": "a b"}), 400, "invalid_input")
    assert_error(
        server.request("POST", "/v1/tenants", json={"name": "x", "extra": 1}),
        400,
        "invalid_request",
    )
    assert_error(
        server.request("POST", "/v1/tenants", json={"name": "wordy", "description": "d" * 1025}),
        400,
        "invalid_request",
        "description: String should have at most 1024 characters",
    )
    assert server.ok("GET", "/v1/tenants")["total"] == before
    assert_error(server.request("GET", "/v1/nope"), 404, "not_found", "no route GET /v1/nope")
    assert_error(server.request("GET", "/nope", key=None), 404, "not_found")
    assert_error(server.request("PUT", "/health", key=None), 405, "method_not_allowed")
    tenant, key = server.tenant()
    assert_error(
        server.request(
            "POST", f"/v1/tenants/{tenant}/keys", key, json={"name": "k", "role": "god"}
        ),
        400,
        "invalid_request",
    )
    assert_error(server.request("POST", "/v1/tenants", json={"name": tenant}), 409, "conflict")
    assert_error(
        server.request("GET", f"/v1/tenants/{tenant}/packages/nope", key), 404, "not_found"
    )
    assert_error(
        server.request("DELETE", f"/v1/tenants/{tenant}/packages/nope", key), 404, "not_found"
    )
    assert_error(server.request("GET", f"/v1/tenants/{tenant}/graphs/nope", key), 404, "not_found")
    assert_error(
        server.request("POST", f"/v1/tenants/{tenant}/accumulators/nope/events", key, json={}),
        404,
        "not_found",
    )


def test_request_id_and_probes(server: Server) -> None:
    response = server.request("GET", "/health", key=None, headers={"x-request-id": "abc-123"})
    assert response.json() == {"status": "ok"} and response.headers["x-request-id"] == "abc-123"
    assert server.request("GET", "/ready", key=None).json() == {"status": "ready"}
    spec = server.request("GET", "/openapi.json", key=None).json()
    assert "/v1/tenants/{tenant}/packages" in spec["paths"]
    assert "multipart/form-data" in str(spec["paths"]["/v1/tenants/{tenant}/packages"]["post"])


def test_http_runtime_routes(server: Server, pricing: tuple[str, str]) -> None:
    tenant, key = pricing
    base = f"/v1/tenants/{tenant}"
    pushed = server.ok("POST", f"{base}/accumulators/raw_prices/events", key, json={"price": 5})
    assert pushed == {"accumulator": "raw_prices", "fires": 1}
    bad = server.request(
        "POST",
        f"{base}/accumulators/raw_prices/events",
        key,
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert_error(bad, 400, "invalid_input")
    refused = server.request("POST", f"{base}/accumulators/raw_prices/events", key, json={"x": 1})
    assert_error(refused, 400, "plugin_error", "price")
    fired = server.ok(
        "POST",
        f"{base}/reactors/PriceReactor/fire",
        key,
        json={"inputs": {"raw_prices": {"price": 10}, "normalized_prices": {"price": 5}}},
    )
    assert fired["reactor"] == "PriceReactor"
    assert [r["outputs"] for r in fired["runs"]] == [{"publish": {"signal": 2}}]
    forced = server.ok("POST", f"{base}/reactors/PriceReactor/fire", key)
    assert forced["runs"][0]["graph"] == "price_consumer"
    graph = server.ok("GET", f"{base}/graphs/price_consumer", key)
    assert graph["topology"]["trigger"] == "PriceReactor"
    assert [n["name"] for n in graph["topology"]["nodes"]] == ["score", "publish"]
    assert graph["nodes"] == ["score", "publish"] and graph["runs_ok"] >= 3
    pkg = server.ok("GET", f"{base}/packages/pricing-publisher@0.1.0", key)
    assert pkg["declarations"]["reactors"][0]["name"] == "PriceReactor"
    assert server.ok("GET", f"{base}/packages/{pkg['id']}", key)["id"] == pkg["id"]


def recv_json(ws: Any, timeout: float = 10) -> Any:
    return orjson.loads(ws.recv(timeout=timeout))


def test_accumulator_websocket(server: Server, pricing: tuple[str, str]) -> None:
    tenant, key = pricing
    with (
        server.ws("/v1/ws/graph/price_consumer/outputs", key) as outputs,
        server.ws("/v1/ws/accumulator/raw_prices", key) as ws,
    ):
        ws.send("{nope")
        error = recv_json(ws)
        assert error["type"] == "error" and "not valid JSON" in error["error"]
        ws.send(b'{"symbol":"BTCUSD","price":1}')  # a binary frame is an event too
        run = recv_json(outputs)
        assert run["graph"] == "price_consumer" and run["error"] is None
        assert set(run["outputs"]) == {"publish"}
        ws.send('{"symbol":"BTCUSD"}')  # the accumulator's function refuses it
        error = recv_json(ws)
        assert error["type"] == "error" and error["code"] == "plugin_error"
        # frames arriving together: the valid ones are pushed, each bad one answered.
        # The server may take the valid frames as one batch (one reactor wake-up, so one
        # run) or as two, so the test waits for the state, then for at least one run.
        for frame in ('{"price":2}', "[1,", '{"no":1}', '{"price":3}'):
            ws.send(frame)
        codes = sorted([recv_json(ws)["code"], recv_json(ws)["code"]])
        assert codes == ["invalid_json", "plugin_error"]
        path = f"/v1/tenants/{tenant}/reactors/PriceReactor"
        eventually(lambda: server.ok("GET", path, key)["cache"]["raw_prices"] == {"price": 3})
        assert recv_json(outputs)["error"] is None
    metrics = server.request("GET", "/metrics", key=None).text
    assert 'cloacina_ws_messages_total{direction="in",endpoint="accumulator"}' in metrics
    assert (
        f'cloacina_accumulator_errors_total{{accumulator="raw_prices",kind="passthrough",tenant="{tenant}"}}'
        in metrics
    )


def test_many_frames_are_batched(server: Server, pricing: tuple[str, str]) -> None:
    tenant, key = pricing

    def events() -> int:
        accs = server.ok("GET", f"/v1/tenants/{tenant}/accumulators", key)["items"]
        return int({a["name"]: a for a in accs}["normalized_prices"]["events_total"])

    def wakeups() -> float:
        metrics = server.request("GET", "/metrics", key=None).text
        line = next(
            (
                ln
                for ln in metrics.splitlines()
                if ln.startswith("cloacina_accumulator_wakeups_total{")
                and 'accumulator="normalized_prices"' in ln
                and f'tenant="{tenant}"' in ln
            ),
            "none 0",
        )
        return float(line.rsplit(" ", 1)[1])

    start, woken = events(), wakeups()
    with server.ws("/v1/ws/accumulator/normalized_prices", key) as ws:
        for i in range(2000):
            ws.send(b'{"price":%d}' % (i + 1))
    eventually(lambda: events() - start == 2000)
    # frames that arrive while a batch is being pushed wait for the next wake-up together
    assert wakeups() - woken < 2000


def test_reactor_websocket_commands(server: Server, pricing: tuple[str, str]) -> None:
    tenant, key = pricing
    with server.ws("/v1/ws/reactor/PriceReactor", key) as ws:

        def ask(command: Any) -> Any:
            ws.send(command if isinstance(command, str) else orjson.dumps(command).decode())
            return recv_json(ws)

        state = ask({"command": "get_state"})
        assert state["type"] == "state" and state["state"] == "running"
        fires = state["fires"]
        fired = ask({"command": "force_fire"})
        assert fired["type"] == "fired" and fired["runs"][0]["graph"] == "price_consumer"
        fired = ask(
            {
                "command": "fire_with",
                "inputs": {"raw_prices": {"price": 9}, "normalized_prices": {"price": 3}},
            }
        )
        assert fired["runs"][0]["outputs"] == {"publish": {"signal": 3}}
        assert ask({"command": "pause"}) == {"type": "paused", "reactor": "PriceReactor"}
        assert ask({"command": "pause"})["code"] == "invalid_state"
        pushed = server.ok(
            "POST", f"/v1/tenants/{tenant}/accumulators/raw_prices/events", key, json={"price": 4}
        )
        assert pushed["fires"] == 0  # paused: the boundary waits
        assert ask({"command": "get_state"})["state"] == "paused"
        resumed = ask({"command": "resume"})
        assert resumed == {"type": "resumed", "reactor": "PriceReactor", "fires": 1}
        assert ask({"command": "get_state"})["fires"] == fires + 3
        assert ask({"command": "explode"})["type"] == "error"
        assert ask("{nope")["code"] == "invalid_json"
        assert ask({"command": "fire_with", "inputs": 3})["code"] == "invalid_input"
        assert ask({"command": "get_state"})["type"] == "state"  # still open
    read = server.key(tenant, "read", key)["key"]
    with server.ws("/v1/ws/reactor/PriceReactor", read) as ws:
        ws.send('{"command": "force_fire"}')
        assert recv_json(ws)["code"] == "forbidden"
        ws.send('{"command": "get_state"}')
        assert recv_json(ws)["type"] == "state"
    assert BOOT
