"""The OpenAPI document describes what the server really answers: real responses of a real
server process, through the tutorial and its errors, are validated against ``/openapi.json``
(their status documented on the route, their body matching its schema); ``/docs`` and
``/redoc`` use only assets the server serves itself."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jsonschema import Draft202012Validator, FormatChecker

from cloacina_host.cli import client as cli_client
from server_fixtures import BOOT, Cli, Server, assert_error, eventually

#: the route templates of the document, as regular expressions over a concrete path
Template = tuple[str, re.Pattern[str]]


def rfc3339_utc(value: object) -> bool:
    """``date-time`` as this API promises it: RFC 3339, UTC, with ``Z``."""
    if not isinstance(value, str) or not value.endswith("Z") or "T" not in value:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


class Contract:
    """The served document, and every real response checked against it."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.formats = FormatChecker(formats=())
        self.formats.checks("date-time")(rfc3339_utc)
        self.templates: list[Template] = [
            (t, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", t) + "$")) for t in doc["paths"]
        ]
        self.checked: set[tuple[str, str, int]] = set()

    def template(self, path: str) -> str:
        path = path.split("?")[0]
        exact = [t for t, rx in self.templates if t == path]
        found = exact or [t for t, rx in self.templates if rx.match(path)]
        assert found, f"{path} is not in the OpenAPI document"
        return min(found, key=lambda t: t.count("{"))  # the most literal one

    def check(self, method: str, path: str, response: httpx.Response) -> httpx.Response:
        template = self.template(path)
        operation = self.doc["paths"][template].get(method.lower())
        assert operation is not None, f"{method} {template} is not in the document"
        status = str(response.status_code)
        documented = operation["responses"]
        assert status in documented, (
            f"{method} {template} answered {status} ({response.text[:200]}), "
            f"the document says only {sorted(documented)}"
        )
        content = documented[status].get("content", {})
        media = response.headers["content-type"].split(";")[0]
        assert media in content, f"{method} {template} {status}: {media} not in {list(content)}"
        if media == "application/json":
            schema = content[media]["schema"]
            assert schema, f"{method} {template} {status} has an empty schema"
            validator = Draft202012Validator(
                {**schema, "components": self.doc.get("components", {})},
                format_checker=self.formats,
            )
            errors = [
                f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
                for e in validator.iter_errors(response.json())
            ]
            assert not errors, f"{method} {template} {status}: {errors[:5]}"
        self.checked.add((method.upper(), template, response.status_code))
        return response


@pytest.fixture(scope="module")
def contract(server: Server) -> Contract:
    return Contract(server.ok("GET", "/openapi.json", key=None))


def call(
    server: Server,
    contract: Contract,
    method: str,
    path: str,
    key: str | None = BOOT,
    **kwargs: Any,
) -> httpx.Response:
    return contract.check(method, path, server.request(method, path, key, **kwargs))


def test_the_tutorial_answers_as_documented(
    server: Server, contract: Contract, c_archives: dict[str, Path]
) -> None:
    tenant = f"api-{uuid.uuid4().hex[:8]}"
    base = f"/v1/tenants/{tenant}"

    def ok(method: str, path: str, key: str | None = BOOT, **kwargs: Any) -> Any:
        response = call(server, contract, method, path, key, **kwargs)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json()

    ok("GET", "/health", None)
    eventually(lambda: server.request("GET", "/ready", None).status_code == 200)
    ok("GET", "/ready", None)
    ok("GET", "/v1/auth/whoami")
    ok("POST", "/v1/auth/ws-ticket")

    created = ok("POST", "/v1/tenants", json={"name": tenant, "description": "the api test"})
    assert created["name"] == tenant
    ok("GET", "/v1/tenants")
    ok("PATCH", base, json={"call_deadline_seconds": 30})
    admin = ok("POST", f"{base}/keys", json={"name": "ops", "role": "admin"})["key"]
    reader = ok("POST", f"{base}/keys", admin, json={"name": "viewer"})
    ok("GET", f"{base}/keys", admin)
    ok("GET", "/v1/auth/whoami", admin)
    ok("GET", f"{base}/signers", admin)

    for name in ("pricing-subscriber", "pricing-publisher"):
        with c_archives[name].open("rb") as f:
            uploaded = call(
                server,
                contract,
                "POST",
                f"{base}/packages",
                admin,
                files={"file": (c_archives[name].name, f)},
            )
        assert uploaded.status_code == 201, uploaded.text
    listed = ok("GET", f"{base}/packages", admin)
    assert {i["status"] for i in listed["items"]} == {"loaded"}
    ok("GET", f"{base}/packages/pricing-publisher", admin)
    ok("GET", f"{base}/topology", admin)
    ok("GET", f"{base}/worker", admin)

    ok("GET", f"{base}/reactors", admin)
    ok("GET", f"{base}/reactors/PriceReactor", admin)
    pushed = ok(
        "POST",
        f"{base}/accumulators/raw_prices/events",
        admin,
        json={"symbol": "BTCUSD", "price": 42000},
    )
    assert pushed["accumulator"] == "raw_prices"
    fired = ok("POST", f"{base}/reactors/PriceReactor/fire", admin)
    assert fired["runs"], fired
    ok("POST", f"{base}/reactors/PriceReactor/pause", admin)
    ok("POST", f"{base}/reactors/PriceReactor/resume", admin)
    reactors = ok("GET", f"{base}/reactors", admin)["items"]
    assert reactors[0]["last_fire_at"] is not None  # a timestamp the schema checked
    ok("GET", f"{base}/graphs", admin)
    graph = ok("GET", f"{base}/graphs/price_consumer", admin)
    assert graph["outputs"] and graph["last_run"] is not None
    ok("GET", f"{base}/accumulators", admin)
    ok("GET", "/v1/replicas")
    metrics = call(server, contract, "GET", "/metrics", None)  # loopback: no key needed
    assert metrics.status_code == 200 and "cloacina_" in metrics.text

    public = Ed25519PrivateKey.generate().public_key()
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    signer = ok("POST", f"{base}/signers", admin, json={"name": "ci", "public_key": pem})
    assert_error(
        call(
            server,
            contract,
            "POST",
            f"{base}/signers",
            admin,
            json={"name": "ci", "public_key": pem},
        ),
        409,
        "conflict",
    )
    assert_error(
        call(
            server,
            contract,
            "POST",
            f"{base}/signers",
            admin,
            json={"name": "x", "public_key": "no"},
        ),
        400,
        "bad_signature",
    )
    assert ok("GET", f"{base}/signers", admin)["total"] == 1
    ok("DELETE", f"{base}/signers/{signer['key_id']}", admin)

    restarted = ok("POST", f"{base}/restart", admin)
    assert restarted["tenant"] == tenant
    retried = call(server, contract, "POST", f"{base}/packages/pricing-publisher/retry", admin)
    assert_error(retried, 404, "not_found")  # not quarantined

    # the errors, each documented on its route with the envelope
    assert_error(call(server, contract, "GET", f"{base}/packages/nope", admin), 404, "not_found")
    assert_error(call(server, contract, "GET", f"{base}/graphs", None), 401, "unauthorized")
    assert_error(
        call(server, contract, "POST", f"{base}/reactors/PriceReactor/pause", reader["key"]),
        403,
        "forbidden",
    )
    assert_error(
        call(server, contract, "POST", "/v1/tenants", json={"name": tenant, "extra": 1}),
        400,
        "invalid_request",
    )
    assert_error(
        call(server, contract, "GET", f"{base}/packages?limit=0", admin), 400, "invalid_request"
    )
    assert_error(
        call(server, contract, "POST", "/v1/tenants", json={"name": tenant}), 409, "conflict"
    )
    refused = call(server, contract, "DELETE", f"{base}/packages/pricing-publisher", admin)
    assert_error(refused, 409, "bound_subscribers")
    assert refused.json()["details"]["safe_order"] == ["pricing-subscriber", "pricing-publisher"]

    for name in ("pricing-subscriber", "pricing-publisher"):
        ok("DELETE", f"{base}/packages/{name}", admin)
    ok("DELETE", f"{base}/keys/{reader['id']}", admin)
    ok("DELETE", base)

    # every operation of the document was met above, each with its success status (retry
    # only with its 404: a quarantine needs a crashing plugin, test_hostile_plugins.py)
    answered = {(m, t) for m, t, status in contract.checked if status < 300}
    operations = {(m.upper(), t) for t, item in contract.doc["paths"].items() for m in item}
    missing = operations - answered - {("POST", "/v1/tenants/{tenant}/packages/{ref}/retry")}
    assert not missing, sorted(missing)


def test_the_document_has_real_schemas_and_no_phantom_422(contract: Contract) -> None:
    doc = contract.doc
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"],
    }
    open_routes = {"/health", "/ready"}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            assert "422" not in responses, where
            ok = [s for s in responses if s.startswith("2")]
            assert len(ok) == 1, (where, sorted(responses))
            content = responses[ok[0]]["content"]
            schema = next(iter(content.values()))["schema"]
            assert schema and schema != {}, where
            for status, answer in responses.items():
                if not status.startswith("2"):
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/ErrorOut", (where, status)
                    assert re.search(r"`[a-z_]+`", answer["description"]), (where, status)
            security = operation.get("security")
            if path in open_routes:
                assert security is None, where
            else:
                assert security and {"bearer": []} in security, where
                assert "401" in responses, where
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    error = doc["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"error", "code"}


def test_lists_page_with_limit_and_offset(server: Server, contract: Contract) -> None:
    tenant, key = server.tenant()
    base = f"/v1/tenants/{tenant}/keys"
    for n in range(4):
        server.ok("POST", base, key, json={"name": f"k{n}"})
    whole = call(server, contract, "GET", base, key).json()
    assert (whole["total"], whole["limit"], whole["offset"]) == (5, 100, 0)
    ids = [k["id"] for k in whole["items"]]
    page = call(server, contract, "GET", f"{base}?limit=2&offset=1", key).json()
    assert [k["id"] for k in page["items"]] == ids[1:3]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)
    past = call(server, contract, "GET", f"{base}?offset=9", key).json()
    assert past["items"] == [] and past["total"] == 5
    for bad in ("limit=0", "limit=1001", "offset=-1", "limit=two"):
        refused = call(server, contract, "GET", f"{base}?{bad}", key)
        assert_error(refused, 400, "invalid_request", bad.split("=")[0])


def test_timestamps_are_rfc3339_utc(server: Server) -> None:
    tenant, key = server.tenant()
    (item,) = [
        t for t in server.ok("GET", "/v1/tenants?limit=1000")["items"] if t["name"] == tenant
    ]
    assert rfc3339_utc(item["created_at"]), item
    stamp = datetime.fromisoformat(item["created_at"])
    assert stamp.utcoffset() == timedelta(0)
    (own,) = server.ok("GET", f"/v1/tenants/{tenant}/keys", key)["items"]
    assert rfc3339_utc(own["created_at"]) and own["created_at"] >= item["created_at"]
    for replica in server.ok("GET", "/v1/replicas")["items"]:
        assert rfc3339_utc(replica["started_at"]) and rfc3339_utc(replica["heartbeat_at"])
        assert replica["heartbeat_at"] >= replica["started_at"]


ASSETS = Path(__file__).resolve().parents[1] / "host" / "cloacina_host" / "server" / "docs_assets"
ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_use_only_served_assets(server: Server, page: str) -> None:
    response = server.request("GET", page, key=None)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert not re.search(r"https?://", html), re.findall(r"https?://\S+", html)
    refs = {a or b for a, b in ASSET.findall(html)}
    scripts = {r for r in refs if r.endswith(".js")}
    assert scripts, html
    assert "/openapi.json" in refs or "/openapi.json" in html
    for ref in refs - {"/openapi.json"}:
        assert ref.startswith("/docs/assets/"), ref
        asset = server.request("GET", ref, key=None)
        assert asset.status_code == 200, ref
        assert asset.content == (ASSETS / ref.rsplit("/", 1)[1]).read_bytes(), ref
    assert_error(server.request("GET", "/docs/assets/README.md", key=None), 404, "not_found")
    assert_error(server.request("GET", "/docs/assets/..%2Fopenapi.py", key=None), 404, "not_found")


def test_the_cli_renders_api_timestamps(server: Server, tmp_path: Path) -> None:
    """``cloacinactl key list`` shows the RFC 3339 ``created_at`` of each key."""
    tenant, key = server.tenant()
    for n in range(3):
        server.ok("POST", f"/v1/tenants/{tenant}/keys", key, json={"name": f"k{n}"})
    cli = Cli(tmp_path / "home")
    remote = ["--server", server.url, "--key", key, "--tenant", tenant]
    listed = cli.json(*remote, "key", "list")
    assert len(listed) == 4
    served = server.ok("GET", f"/v1/tenants/{tenant}/keys", key)["items"]
    table = cli.ok(*remote, "key", "list")
    for item in served:
        shown = datetime.fromisoformat(item["created_at"]).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert shown in table, (shown, table)


def test_the_cli_client_reads_every_page(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant, key = server.tenant()
    for n in range(4):
        server.ok("POST", f"/v1/tenants/{tenant}/keys", key, json={"name": f"k{n}"})
    served = server.ok("GET", f"/v1/tenants/{tenant}/keys", key)["items"]
    monkeypatch.setattr(cli_client, "PAGE", 2)  # five keys: three pages
    with cli_client.Client(server.url, key) as client:
        whole = client.get_all(f"/v1/tenants/{tenant}/keys")
    assert [k["id"] for k in whole["items"]] == [k["id"] for k in served]
    assert whole["total"] == 5 and "limit" not in whole and "offset" not in whole


def test_websocket_answers_carry_rfc3339_timestamps(
    server: Server, c_archives: dict[str, Path]
) -> None:
    tenant, key = server.tenant()
    for name in ("pricing-publisher", "pricing-subscriber"):
        assert server.upload(tenant, key, c_archives[name]).json()["status"] == "loaded"
    q = f"?tenant={tenant}"
    with server.ws(f"/v1/ws/graph/price_consumer/outputs{q}", key) as outputs:
        with server.ws(f"/v1/ws/reactor/PriceReactor{q}", key) as reactor:
            reactor.send('{"command": "force_fire"}')
            fired = orjson.loads(reactor.recv(timeout=10))
            assert fired["type"] == "fired" and fired["runs"], fired
            assert all(rfc3339_utc(run["started_at"]) for run in fired["runs"]), fired
            reactor.send('{"command": "get_state"}')
            state = orjson.loads(reactor.recv(timeout=10))
            assert state["type"] == "state" and rfc3339_utc(state["last_fire_at"]), state
        run = orjson.loads(outputs.recv(timeout=10))
        assert run["graph"] == "price_consumer" and rfc3339_utc(run["started_at"]), run


def test_jetstream_answers_as_documented(
    contract: Contract, nats_server: Any, c_archives: dict[str, Path], tmp_path: Path
) -> None:
    """With JetStream the views carry the owner's fields and a push answers with the
    broker's sequence: the same document describes them."""
    srv = Server(tmp_path / "js", env={"CLOACINA_EVENTS": nats_server.url}).start()
    try:
        tenant, key = srv.tenant()
        base = f"/v1/tenants/{tenant}"
        for name in ("pricing-publisher", "pricing-subscriber"):
            assert srv.upload(tenant, key, c_archives[name]).json()["status"] == "loaded"

        def owned() -> Any:
            response = srv.request("GET", f"{base}/reactors", key)
            items = response.json()["items"] if response.status_code == 200 else []
            return items and items[0].get("owner")

        eventually(owned)

        def ok(method: str, path: str, **kwargs: Any) -> Any:
            response = call(srv, contract, method, path, key, **kwargs)
            assert response.status_code < 300, (method, path, response.text)
            return response.json()

        event = {"symbol": "BTCUSD", "price": 1}
        first = ok(
            "POST",
            f"{base}/accumulators/raw_prices/events",
            json=event,
            headers={"Idempotency-Key": "one"},
        )
        again = ok(
            "POST",
            f"{base}/accumulators/raw_prices/events",
            json=event,
            headers={"Idempotency-Key": "one"},
        )
        assert first["fires"] is None and isinstance(first["sequence"], int)
        assert (first["duplicate"], again["duplicate"]) == (False, True)
        fired = ok("POST", f"{base}/reactors/PriceReactor/fire")
        assert fired["runs"], fired
        outputs = eventually(lambda: ok("GET", f"{base}/graphs/price_consumer")["outputs"])
        assert all(r["owner"] and isinstance(r["epoch"], int) for r in outputs), outputs
        (reactor,) = ok("GET", f"{base}/reactors")["items"]
        assert reactor["owner"] and isinstance(reactor["epoch"], int)
        ok("GET", f"{base}/reactors/PriceReactor")
        ok("GET", f"{base}/graphs")
        ok("GET", f"{base}/accumulators")
        replicas = call(srv, contract, "GET", "/v1/replicas", BOOT).json()
        assert replicas["events"]["kind"] == "jetstream"
        assert any(o["reactor"] == "PriceReactor" for o in replicas["events"]["owned"])
    finally:
        srv.stop()
