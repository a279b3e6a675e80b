"""The store: tenants, hashed keys, packages and status (SQLite here; PostgreSQL in the
server tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloacina_host.control.status import PackageStatus, State
from cloacina_host.control.store import ConflictError, Store, hash_key
from cloacina_host.errors import InvalidInputError, NotFoundError
from cloacina_host.packaging.archive import read_archive


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
    store.write_status("acme", [written])
    assert store.read_status("acme") == [written]  # the same typed value comes back
    store.delete_package("acme", row.id)
    assert store.list_packages("acme") == []
