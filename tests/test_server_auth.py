"""The auth matrix: every refusal has the right status and the error envelope."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from cloacina_host.server.access import is_loopback
from server_fixtures import BOOT, EMPTY, TICKET_TTL, Server, assert_error, free_port


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
    assert server.ok("GET", f"/v1/tenants/{a}/packages", read) == EMPTY
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


# ---------------------------------------------------------------------- /metrics


METRICS_TOKEN = "scrape-secret-token"


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers of their own (stopped at the end of the test)."""
    started: list[Server] = []

    def start(**kwargs: Any) -> Server:
        srv = Server(tmp_path / f"data{len(started)}", **kwargs)
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        srv.stop()


def scrape(url: str, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.get(url, headers=headers, timeout=30)


def is_metrics(response: httpx.Response) -> bool:
    return response.status_code == 200 and "cloacina_api_requests_total" in response.text


def test_metrics_are_open_on_a_loopback_bind(server: Server) -> None:
    assert is_metrics(server.request("GET", "/metrics", key=None))


def test_metrics_need_a_token_on_any_other_bind(servers: Callable[..., Server]) -> None:
    srv = servers(host="0.0.0.0", env={"CLOACINA_METRICS_TOKEN": METRICS_TOKEN})
    url = srv.url + "/metrics"  # the bind decides, not where the request comes from
    assert_error(
        scrape(url),
        401,
        "unauthorized",
        "metrics need 'Authorization: Bearer <token>' with a platform admin key or the metrics "
        "token (--metrics-token, CLOACINA_METRICS_TOKEN) because the server listens on "
        "'0.0.0.0', which is not a loopback address",
    )
    assert is_metrics(scrape(url, BOOT))
    assert is_metrics(scrape(url, METRICS_TOKEN))
    assert_error(scrape(url, METRICS_TOKEN + "x"), 401, "unauthorized", "not the metrics token")
    _, tenant_key = srv.tenant()
    assert_error(scrape(url, tenant_key), 403, "forbidden", "a platform admin key")
    malformed = httpx.get(url, headers={"Authorization": METRICS_TOKEN}, timeout=30)
    assert_error(malformed, 401, "unauthorized", "malformed Authorization header")
    assert srv.request("GET", "/health", key=None).json() == {"status": "ok"}


def test_metrics_auth_always_covers_loopback(servers: Callable[..., Server]) -> None:
    srv = servers(args=("--metrics-auth", "always", "--metrics-token", METRICS_TOKEN))
    url = srv.url + "/metrics"
    assert_error(scrape(url), 401, "unauthorized", "because --metrics-auth is 'always'")
    assert is_metrics(scrape(url, METRICS_TOKEN))
    assert is_metrics(scrape(url, BOOT))


@pytest.mark.parametrize("auth", ["auto", "always"])
def test_metrics_on_a_separate_address(servers: Callable[..., Server], auth: str) -> None:
    port = free_port()
    srv = servers(
        args=("--metrics-bind", f"127.0.0.1:{port}"),
        env={"CLOACINA_METRICS_AUTH": auth, "CLOACINA_METRICS_TOKEN": METRICS_TOKEN},
    )
    here = srv.request("GET", "/metrics", key=BOOT)
    assert_error(here, 404, "not_found", "on the separate metrics address set by --metrics-bind")
    srv.tenant("acme")
    url = f"http://127.0.0.1:{port}/metrics"
    if auth == "auto":  # a loopback metrics address is open
        response = scrape(url)
    else:
        assert_error(scrape(url), 401, "unauthorized", "because --metrics-auth is 'always'")
        assert_error(scrape(url, "clk_nope"), 401, "unauthorized")
        assert is_metrics(scrape(url, METRICS_TOKEN))
        response = scrape(url, BOOT)
    assert is_metrics(response)
    # the main address's requests are counted in the metrics served here
    assert 'method="POST",route="/v1/tenants",status="201"' in response.text
    assert_error(scrape(f"http://127.0.0.1:{port}/other", BOOT), 404, "not_found", "/metrics")
    posted = httpx.post(url, headers={"Authorization": f"Bearer {BOOT}"}, timeout=30)
    assert_error(posted, 405, "method_not_allowed")


def test_a_busy_metrics_address_stops_the_start(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "cloacina_host.server",
                "--bind",
                f"127.0.0.1:{free_port()}",
                "--data-dir",
                str(tmp_path / "data"),
                "--metrics-bind",
                f"127.0.0.1:{taken}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "CLOACINA_BOOTSTRAP_KEY": BOOT},
        )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.endswith(
        f"Error: cannot serve metrics on 127.0.0.1:{taken}: Address already in use\n"
    ), proc.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("10.1.2.3", False),
        ("::ffff:10.1.2.3", False),
        ("metrics.internal", False),
    ],
)
def test_which_binds_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
