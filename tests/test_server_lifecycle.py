"""Restarts keep tenants, keys and packages; concurrent uploads and deletes end consistent."""

from __future__ import annotations

import os
import random
import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from server_fixtures import GUARD, Server, assert_error, eventually


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data", env={"CLOACINA_BOOTSTRAP_KEY": ""})  # a generated key
    yield srv
    srv.stop()


def test_restart_keeps_tenants_keys_and_packages(
    own_server: Server, c_archives: dict[str, Path]
) -> None:
    srv = own_server.start()
    key_file = srv.data_dir / "bootstrap-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(srv.data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((srv.data_dir / "cloacina.db").stat().st_mode) == 0o600
    boot = key_file.read_text().strip()
    assert boot.startswith("clk_")
    srv.ok("POST", "/v1/tenants", boot, json={"name": "acme", "description": "pricing"})
    key = srv.ok("POST", "/v1/tenants/acme/keys", boot, json={"name": "ops", "role": "write"})
    for name in ("pricing-subscriber", "pricing-publisher"):
        assert srv.upload("acme", key["key"], c_archives[name]).status_code == 201
    before = srv.packages("acme", key["key"])
    srv.stop()
    written = key_file.stat().st_mtime_ns

    srv.start()
    assert key_file.stat().st_mtime_ns == written and key_file.read_text().strip() == boot
    assert [t["name"] for t in srv.ok("GET", "/v1/tenants", boot)["items"]] == ["acme"]
    after = srv.packages("acme", key["key"])  # the key still works
    assert {n: (p["id"], p["status"]) for n, p in after.items()} == {
        n: (p["id"], "loaded") for n, p in before.items()
    }
    reactor = srv.ok("GET", "/v1/tenants/acme/reactors/PriceReactor", key["key"])
    assert reactor["subscribers"] == ["price_consumer"]
    pushed = srv.ok(
        "POST", "/v1/tenants/acme/accumulators/raw_prices/events", key["key"], json={"price": 1}
    )
    assert pushed["fires"] == 1
    response = srv.request("DELETE", "/v1/tenants/acme/packages/pricing-publisher", key["key"])
    assert_error(response, 409, "bound_subscribers", GUARD)


@pytest.mark.parametrize("how", ["deleted", "replaced by another file"])
def test_a_deleted_or_replaced_database_refuses_requests(own_server: Server, how: str) -> None:
    srv = own_server.start()
    boot = (srv.data_dir / "bootstrap-key").read_text().strip()
    srv.ok("POST", "/v1/tenants", boot, json={"name": "acme"})
    db = srv.data_dir / "cloacina.db"
    if how == "deleted":
        for f in srv.data_dir.glob("cloacina.db*"):
            f.unlink()
    else:
        shutil.copy(db, srv.data_dir / "copy.db")
        os.replace(srv.data_dir / "copy.db", db)
    said = f"the database file '{db}' was {how} while this process had it open; restart"
    ready = srv.request("GET", "/ready", key=None)
    assert_error(ready, 503, "not_ready", f"the database is not reachable: {said}")
    for attempt in range(3):  # every pooled connection and every new one refuses alike
        create = srv.request("POST", "/v1/tenants", boot, json={"name": f"beta{attempt}"})
        assert_error(create, 503, "database_unavailable", said)
    listing = srv.request("GET", "/v1/tenants", boot)
    assert_error(listing, 503, "database_unavailable", said)
    assert srv.request("GET", "/health", key=None).json() == {"status": "ok"}
    if how == "deleted":
        assert not db.exists()  # no empty database was created in its place
    else:  # a restart opens the file now in place: the refused writes are nowhere
        srv.stop()
        srv.start()
        assert [t["name"] for t in srv.ok("GET", "/v1/tenants", boot)["items"]] == ["acme"]


def test_concurrent_uploads_and_deletes_end_consistent(
    server: Server, c_archives: dict[str, Path]
) -> None:
    tenant, key = server.tenant()
    names = ["pricing-publisher", "pricing-subscriber", "test_auditor"]
    unexpected: list[str] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(12):
            name = rng.choice(names)
            if rng.random() < 0.55:
                response = server.upload(tenant, key, c_archives[name])
                ok = {201}
            else:
                package = "pricing-auditor" if name == "test_auditor" else name
                response = server.request("DELETE", f"/v1/tenants/{tenant}/packages/{package}", key)
                ok = {200, 404, 409}
            if response.status_code not in ok:
                unexpected.append(f"{response.status_code} {response.text}")

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not unexpected, unexpected

    def consistent() -> bool:
        stored = server.packages(tenant, key)
        reactors = server.ok("GET", f"/v1/tenants/{tenant}/reactors", key)["items"]
        graphs = {g["name"] for g in server.ok("GET", f"/v1/tenants/{tenant}/graphs", key)["items"]}
        loaded = {n for n, p in stored.items() if p["status"] == "loaded"}
        declared = {g for n in loaded for g in stored[n]["graphs"]}
        publisher = "pricing-publisher" in stored
        subscribers = {"pricing-subscriber", "pricing-auditor"}
        return (
            graphs == declared
            and {r["name"] for r in reactors} == ({"PriceReactor"} if publisher else set())
            and loaded == (set(stored) if publisher else set(stored) - subscribers)
            and all(p["status"] == "pending" for n, p in stored.items() if n not in loaded)
            and (not reactors or set(reactors[0]["subscribers"]) == declared)
        )

    eventually(consistent, timeout=15)
    names_from_metrics = server.request("GET", "/metrics", key=None).text
    assert f'cloacina_package_loaded{{tenant="{tenant}"}}' in names_from_metrics
