"""The server on a real PostgreSQL, started by the test itself (initdb + pg_ctl)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import missing_tool
from server_fixtures import BOOT, Server, free_port

PG_BIN = Path(os.environ.get("CLOACINA_PG_BIN", "/usr/lib/postgresql/15/bin"))


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    initdb, pg_ctl = PG_BIN / "initdb", PG_BIN / "pg_ctl"
    if not (initdb.exists() and pg_ctl.exists()):
        missing_tool(f"PostgreSQL binaries not found in {PG_BIN} (set CLOACINA_PG_BIN)")
    as_user: list[str] = []
    owner: int | None = None
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as an unprivileged user
        try:
            owner = pwd.getpwnam("postgres").pw_uid
        except KeyError:
            missing_tool("running as root and there is no 'postgres' user to own the cluster")
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="cloacina-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if owner is not None:
        for path in (base, sock):
            os.chown(path, owner, -1)
    port = free_port()

    def run(*cmd: str) -> None:
        proc = subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{cmd[0]} failed:\n{proc.stdout}\n{proc.stderr}"

    run(str(initdb), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    run(
        str(pg_ctl),
        "-D",
        str(data),
        "-l",
        str(base / "pg.log"),
        "-o",
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off",
        "-w",
        "start",
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(str(pg_ctl), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def test_postgres_upload_and_restart(
    postgres_url: str, tmp_path: Path, c_archives: dict[str, Path]
) -> None:
    srv = Server(tmp_path / "first", database_url=postgres_url).start()
    try:
        srv.ok("POST", "/v1/tenants", json={"name": "acme"})
        key = srv.key("acme", "write")["key"]
        for name in ("pricing-publisher", "pricing-subscriber"):
            assert srv.upload("acme", key, c_archives[name]).json()["status"] == "loaded"
    finally:
        srv.stop()
    # a fresh data directory: everything comes back from the database
    srv = Server(tmp_path / "second", database_url=postgres_url).start()
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
