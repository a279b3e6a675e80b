"""The store: tenants, hashed keys, packages and status (SQLite here; PostgreSQL in the
server tests)."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloacina_host.control.daemon import Daemon
from cloacina_host.control.status import PackageStatus, State
from cloacina_host.control.store import ConflictError, Store, hash_key
from cloacina_host.errors import CloacinaError, InvalidInputError, NotFoundError
from cloacina_host.packaging.archive import read_archive
from log_capture import capture_logs


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.for_data_dir(tmp_path)
    yield s
    s.close()


def test_tenants(store: Store) -> None:
    store.create_tenant("acme", "Acme Corp")
    with pytest.raises(ConflictError, match="tenant 'acme' already exists"):
        store.create_tenant("acme")
    with pytest.raises(InvalidInputError, match=r"tenant name '\.\./x' is invalid"):
        store.create_tenant("../x")
    store.create_tenant("wordy", "d" * 1024)  # the limit itself is fine
    with pytest.raises(InvalidInputError, match="has 1025 characters; the limit is 1024"):
        store.create_tenant("wordier", "d" * 1025)
    assert [t["name"] for t in store.list_tenants()] == ["acme", "wordy"]
    store.delete_tenant("wordy")
    store.delete_tenant("acme")
    with pytest.raises(NotFoundError):
        store.delete_tenant("acme")


def test_keys_are_hashed_and_revocable(store: Store, tmp_path: Path) -> None:
    store.create_tenant("acme")
    record, key = store.create_key("ci", "write", "acme")
    assert key.startswith("clk_") and record.prefix == key[:8]
    db = b"".join(p.read_bytes() for p in tmp_path.glob("cloacina.db*"))  # incl. the WAL
    assert key.encode() not in db and hash_key(key).encode() in db
    assert store.lookup_key(key) == record
    assert store.lookup_key(key + "x") is None
    with pytest.raises(InvalidInputError, match="role 'root' is invalid"):
        store.create_key("x", "root", "acme")
    with pytest.raises(NotFoundError, match="tenant 'nope' not found"):
        store.create_key("x", "read", "nope")
    store.revoke_key(record.id, "acme")
    assert store.lookup_key(key) is None
    with pytest.raises(NotFoundError):
        store.revoke_key(record.id, "acme")


def test_packages_and_status(store: Store, c_archives: dict[str, Path]) -> None:
    store.create_tenant("acme")
    data = c_archives["pricing-publisher"].read_bytes()
    manifest = read_archive(data).manifest
    row = store.add_package("acme", manifest, data)
    assert store.add_package("acme", manifest, data) == row  # idempotent re-upload
    other = read_archive(c_archives["publisher_v2"].read_bytes()).manifest
    clash = type(other)(**{**other.__dict__, "version": manifest.version})
    with pytest.raises(ConflictError, match="already stored in tenant 'acme' with other content"):
        store.add_package("acme", clash, data)
    assert store.find_package("acme", "pricing-publisher") == row
    assert store.find_package("acme", f"pricing-publisher@{manifest.version}") == row
    assert store.find_package("other", row.id) is None
    assert store.package_archive(row.id) == data
    written = PackageStatus(
        "pricing-publisher", "0.1.0", row.sha256, State.LOADED, None, ("PriceReactor",)
    )
    store.write_status("acme", "r1", [written])
    store.write_status("acme", "r2", [written.because("another replica's own row")])
    assert store.read_status("acme")[0] == ("r1", written)  # the same typed value comes back
    store.write_status("acme", "r1", [])  # r1 no longer has it: its row goes, r2's stays
    assert [r for r, _ in store.read_status("acme")] == ["r2"]
    store.delete_package("acme", row.id)
    assert store.list_packages("acme") == []


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def open_store(data: Path) -> tuple[Store, Callable[[], None]]:  # the server's way
    store = Store.for_data_dir(data)
    return store, store.close


def open_daemon(data: Path) -> tuple[Store, Callable[[], None]]:  # the daemon's way
    daemon = Daemon(data / "packages", data, probe=False)  # `daemon start`'s default folder
    return daemon.plane.store, daemon.plane.close


@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize("opener", [open_store, open_daemon])
def test_data_dir_and_database_are_private(
    tmp_path: Path, opener: Callable[[Path], tuple[Store, Callable[[], None]]]
) -> None:
    data = tmp_path / "home" / "data"
    with capture_logs() as logs:
        store, close = opener(data)
    try:
        store.create_tenant("acme")  # a write, so the WAL and its index exist
        db = data / "cloacina.db"
        files = [db, data / "cloacina.db-wal", data / "cloacina.db-shm"]
        assert all(f.exists() for f in files)
        assert (mode(data), [mode(f) for f in files]) == (0o700, [0o600] * 3)
        assert not [e for e in logs if e["log_level"] == "warning"]
    finally:
        close()
    # a looser directory or database found at start is tightened, with a warning
    os.chmod(data, 0o755)
    os.chmod(db, 0o644)
    with capture_logs() as logs:
        opener(data)[1]()
    assert (mode(data), mode(db)) == (0o700, 0o600)
    warned = {(e["event"], e["path"], e["mode"]) for e in logs if e["log_level"] == "warning"}
    assert warned == {
        ("data_dir_tightened", str(data), "0o755"),
        ("database_file_tightened", str(db), "0o644"),
    }


@pytest.mark.parametrize("url", ["postgresql://u@localhost/db", "postgresql+psycopg://u@h/db"])
def test_postgresql_without_its_driver_names_the_extra(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # psycopg is the [postgres] extra: without it, a PostgreSQL URL says what to install.
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(CloacinaError, match=r"pip install cloacina_host\[postgres\]"):
        Store(url)
