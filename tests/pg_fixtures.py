"""A real PostgreSQL server, started once per test session, and a fresh database per test."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from server_fixtures import free_port
from skips import missing_tool


def _pg_bin() -> Path:
    """``$CLOACINA_PG_BIN``, else the newest ``/usr/lib/postgresql/<version>/bin``."""
    given = os.environ.get("CLOACINA_PG_BIN")
    if given:
        return Path(given)
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


def postgres_missing() -> str | None:
    """Why a throwaway PostgreSQL cannot be started here, or None."""
    if not ((PG_BIN / "initdb").exists() and (PG_BIN / "pg_ctl").exists()):
        return f"PostgreSQL binaries not found in {PG_BIN} (set CLOACINA_PG_BIN)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to own the cluster"
    return None


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A real PostgreSQL server in a temp dir (initdb + pg_ctl, 127.0.0.1 only, fsync off)
    until the block ends: its URL. Also used by benchmarks/bench_replicas.py."""
    initdb, pg_ctl = PG_BIN / "initdb", PG_BIN / "pg_ctl"
    as_user: list[str] = []
    owner: int | None = None
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as an unprivileged user
        owner = pwd.getpwnam("postgres").pw_uid
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
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed:\n{proc.stdout}\n{proc.stderr}")

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


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A real PostgreSQL server for the session: its URL. Tests take a database of their
    own with :func:`database`."""
    reason = postgres_missing()
    if reason is not None:
        missing_tool(reason)
    with throwaway_postgres() as url:
        yield url


def create_database(base_url: str) -> str:
    """A new, empty database on the session's server; its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def database(postgres: str) -> str:
    """A database of this test's own on the session's PostgreSQL."""
    return create_database(postgres)
