"""The server on a real PostgreSQL, started by the test itself (initdb + pg_ctl)."""

from __future__ import annotations

import os
from pathlib import Path

from server_fixtures import BOOT, Server


def test_postgres_upload_and_restart(
    database: str, tmp_path: Path, c_archives: dict[str, Path]
) -> None:
    srv = Server(tmp_path / "first", database_url=database).start()
    try:
        srv.ok("POST", "/v1/tenants", json={"name": "acme"})
        key = srv.key("acme", "write")["key"]
        for name in ("pricing-publisher", "pricing-subscriber"):
            assert srv.upload("acme", key, c_archives[name]).json()["status"] == "loaded"
    finally:
        srv.stop()
    # a fresh data directory: everything comes back from the database
    srv = Server(tmp_path / "second", database_url=database).start()
    try:
        assert not (srv.data_dir / "bootstrap-key").exists()  # the store already had keys
        packages = srv.packages("acme", key)
        assert {n: p["status"] for n, p in packages.items()} == {
            "pricing-publisher": "loaded",
            "pricing-subscriber": "loaded",
        }
        pushed = srv.ok(
            "POST", "/v1/tenants/acme/accumulators/raw_prices/events", key, json={"price": 7}
        )
        assert pushed["fires"] == 1
        assert srv.ok("GET", "/v1/tenants/acme/graphs/price_consumer", key)["runs_ok"] == 1
        assert "cloacina.db" not in os.listdir(srv.data_dir)
        assert BOOT
    finally:
        srv.stop()
