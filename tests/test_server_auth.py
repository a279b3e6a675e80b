"""The auth matrix: every refusal has the right status and the error envelope."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from server_fixtures import BOOT, TICKET_TTL, Server, assert_error


@pytest.fixture(scope="module")
def two_tenants(server: Server, c_archives: dict[str, Path]) -> dict[str, str]:
    """Tenant A (empty) and tenant B (publisher loaded), an admin key of each."""
    a, key_a = server.tenant()
    b, key_b = server.tenant()
    assert server.upload(b, key_b, c_archives["pricing-publisher"]).json()["status"] == "loaded"
    return {"a": a, "key_a": key_a, "b": b, "key_b": key_b}


def refused_ws(server: Server, url: str, **kwargs: object) -> tuple[int, dict[str, str]]:
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as err:
        connect(server.ws_url + url, open_timeout=10, **kwargs)  # type: ignore[arg-type]
    response = err.value.response
    assert response.headers.get("x-request-id")
    import orjson

    return response.status_code, orjson.loads(response.body)


def test_http_auth_refusals(server: Server, two_tenants: dict[str, str]) -> None:
    a, b = two_tenants["a"], two_tenants["b"]
    path = f"/v1/tenants/{a}/packages"
    assert_error(server.request("GET", path, key=None), 401, "unauthorized", "missing API key")
    for header in ("Basic abc", "Bearer", "Bearer a b", "clk_x"):
        response = server.request("GET", path, key=None, headers={"Authorization": header})
        assert_error(response, 401, "unauthorized", "malformed")
    assert_error(server.request("GET", path, "clk_wrong"), 401, "unauthorized")
    # tenant A's key on tenant B: answered like an unknown tenant
    foreign = server.request("GET", f"/v1/tenants/{b}/packages", two_tenants["key_a"])
    unknown = server.request("GET", "/v1/tenants/nope/packages", two_tenants["key_a"])
    assert_error(foreign, 404, "not_found", f"tenant '{b}' not found")
    assert_error(unknown, 404, "not_found", "tenant 'nope' not found")
    for method, route in (
        ("GET", f"/v1/tenants/{b}/reactors"),
        ("GET", f"/v1/tenants/{b}/reactors/PriceReactor"),
        ("DELETE", f"/v1/tenants/{b}/packages/pricing-publisher"),
        ("POST", f"/v1/tenants/{b}/keys"),
    ):
        assert_error(server.request(method, route, two_tenants["key_a"], json={}), 404, "not_found")
    # a tenant key (even an admin one) on platform routes
    for method, route in (
        ("GET", "/v1/tenants"),
        ("POST", "/v1/tenants"),
        ("DELETE", f"/v1/tenants/{a}"),
    ):
        response = server.request(method, route, two_tenants["key_a"], json={"name": "x"})
        assert_error(response, 403, "forbidden", "platform admin")
    assert server.packages(b)["pricing-publisher"]["status"] == "loaded"


def test_roles(server: Server, two_tenants: dict[str, str], c_archives: dict[str, Path]) -> None:
    a = two_tenants["a"]
    read = server.key(a, "read", two_tenants["key_a"])["key"]
    write = server.key(a, "write", two_tenants["key_a"])["key"]
    assert server.ok("GET", f"/v1/tenants/{a}/packages", read) == {"items": [], "total": 0}
    response = server.upload(a, read, c_archives["pricing-publisher"])
    assert_error(response, 403, "forbidden", "role 'write'")
    assert_error(
        server.request("POST", f"/v1/tenants/{a}/keys", write, json={"name": "x"}),
        403,
        "forbidden",
        "role 'admin'",
    )
    assert server.packages(a) == {}


def test_revoked_key(server: Server, two_tenants: dict[str, str]) -> None:
    a = two_tenants["a"]
    created = server.key(a, "read", two_tenants["key_a"])
    server.ok("GET", f"/v1/tenants/{a}/packages", created["key"])
    ticket = server.ticket(created["key"])
    revoked = server.ok("DELETE", f"/v1/tenants/{a}/keys/{created['id']}", two_tenants["key_a"])
    assert revoked == {"status": "revoked", "id": created["id"]}
    assert_error(
        server.request("GET", f"/v1/tenants/{a}/packages", created["key"]), 401, "unauthorized"
    )
    # a ticket taken before the revocation dies with its key
    status, body = refused_ws(server, f"/v1/ws/reactor/x?token={ticket}")
    assert status == 401 and body["code"] == "unauthorized"
    keys = server.ok("GET", f"/v1/tenants/{a}/keys", two_tenants["key_a"])["items"]
    assert {k["id"]: k["revoked"] for k in keys}[created["id"]] is True
    assert all("key" not in k and "key_hash" not in k for k in keys)
    assert_error(
        server.request("DELETE", f"/v1/tenants/{a}/keys/{created['id']}", two_tenants["key_a"]),
        404,
        "not_found",
    )


def test_websocket_refusals(server: Server, two_tenants: dict[str, str]) -> None:
    a, b, key_a, key_b = (two_tenants[k] for k in ("a", "b", "key_a", "key_b"))
    # no auth, bad ticket, bad bearer
    assert refused_ws(server, "/v1/ws/accumulator/raw_prices")[0] == 401
    assert refused_ws(server, "/v1/ws/accumulator/raw_prices?token=wst_nope")[0] == 401
    status, body = refused_ws(
        server,
        "/v1/ws/accumulator/raw_prices",
        additional_headers={"Authorization": "Bearer clk_x"},
    )
    assert (status, body["code"]) == (401, "unauthorized")
    # replayed ticket
    ticket = server.ticket(key_b)
    with server.ws(f"/v1/ws/reactor/PriceReactor?token={ticket}"):
        pass
    status, body = refused_ws(server, f"/v1/ws/reactor/PriceReactor?token={ticket}")
    assert status == 401 and "already used" in body["error"]
    # tenant A's ticket on tenant B's accumulator name (resolves in A: unknown), or naming B
    status, body = refused_ws(server, f"/v1/ws/accumulator/raw_prices?token={server.ticket(key_a)}")
    assert (status, body["code"]) == (404, "not_found")
    status, body = refused_ws(
        server, f"/v1/ws/accumulator/raw_prices?tenant={b}&token={server.ticket(key_a)}"
    )
    assert (status, body["code"]) == (404, "not_found")
    # a read key cannot push events
    read = server.key(b, "read", key_b)["key"]
    status, body = refused_ws(server, f"/v1/ws/accumulator/raw_prices?token={server.ticket(read)}")
    assert (status, body["code"]) == (403, "forbidden")
    # unknown names
    for path in ("/v1/ws/accumulator/nope", "/v1/ws/reactor/nope", "/v1/ws/graph/nope/outputs"):
        status, body = refused_ws(server, f"{path}?token={server.ticket(key_b)}")
        assert (status, body["code"]) == (404, "not_found")
    # a platform key names its tenant; a bearer header works too
    with server.ws(f"/v1/ws/reactor/PriceReactor?tenant={b}", BOOT) as ws:
        ws.send('{"command": "get_state"}')
        assert '"type":"state"' in str(ws.recv(timeout=10))
    with server.ws(
        "/v1/ws/reactor/PriceReactor", additional_headers={"Authorization": f"Bearer {key_b}"}
    ) as ws:
        ws.send('{"command": "get_state"}')
        assert '"reactor":"PriceReactor"' in str(ws.recv(timeout=10))
    assert a != b


def test_expired_ticket(server: Server, two_tenants: dict[str, str]) -> None:
    ticket = server.ticket(two_tenants["key_b"])
    time.sleep(TICKET_TTL + 0.25)  # the shared server's ticket lifetime, set by its fixture
    status, body = refused_ws(server, f"/v1/ws/reactor/PriceReactor?token={ticket}")
    assert (status, body["code"]) == (401, "unauthorized")


def test_whoami(server: Server, two_tenants: dict[str, str]) -> None:
    me = server.request("GET", "/v1/auth/whoami", two_tenants["key_a"]).json()
    assert me["tenant"] == two_tenants["a"] and me["role"] == "admin" and not me["is_admin"]
    platform = server.request("GET", "/v1/auth/whoami", BOOT).json()
    assert platform["tenant"] is None and platform["is_admin"]
    assert_error(server.request("GET", "/v1/auth/whoami", key=None), 401, "unauthorized")
