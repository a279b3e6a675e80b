"""The control plane without HTTP: uploads, deletes, versions and bad archives."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloacina_host.control.plane import ControlPlane
from cloacina_host.control.store import PackageRow
from cloacina_host.core.loader import open_plugin
from cloacina_host.errors import AbiError, GuardError, PackageError
from cloacina_host.packaging.archive import build_archive
from cloacina_host.packaging.manifest import Manifest, declarations_of


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ControlPlane]:
    a = ControlPlane(tmp_path / "data")
    a.store.create_tenant("acme")
    yield a
    a.close()


def archive_claiming(library: Path, *, version: str) -> bytes:
    """A well-formed archive whose manifest lies about the library's version."""
    plugin = open_plugin(library)
    try:
        decl = plugin.decl
    finally:
        plugin.close()
    data = library.read_bytes()
    manifest = Manifest.for_library(
        data,
        name=decl.name,
        version=version,
        library_file="libpricing_publisher.so",
        abi_version=1,
        language="c",
        target="x86_64-unknown-linux-gnu",
        declarations=declarations_of(decl),
    )
    return build_archive(manifest, data)


def archive_of_broken(library: Path) -> bytes:
    """An archive of a library the probe refuses (``pack_library`` would not pack it)."""
    data = library.read_bytes()
    manifest = Manifest.for_library(
        data,
        name="broken",
        version="0.1.0",
        library_file=library.name,
        abi_version=1,
        language="c",
        target="x86_64-unknown-linux-gnu",
    )
    return build_archive(manifest, data)


def status_of(app: ControlPlane, name: str) -> dict[str, Any]:
    status = app.package_status("acme", name)
    assert status is not None
    return status.to_dict()


def upload(app: ControlPlane, archive: Path) -> tuple[PackageRow, dict[str, Any]]:
    row, status = app.upload("acme", archive.read_bytes())
    assert status is not None
    return row, status.to_dict()


def test_manifest_that_does_not_match_its_library_is_refused(
    app: ControlPlane, c_plugins: dict[str, Path], c_archives: dict[str, Path]
) -> None:
    app.upload("acme", c_archives["pricing-publisher"].read_bytes())
    with pytest.raises(PackageError, match="the manifest does not match its library") as err:
        app.upload("acme", archive_claiming(c_plugins["pricing-publisher"], version="9.9.9"))
    assert "declares package 'pricing-publisher' 0.1.0" in str(err.value)
    assert [r.version for r in app.store.list_packages("acme")] == ["0.1.0"]
    assert status_of(app, "pricing-publisher")["status"] == "loaded"


def test_a_refused_library_is_not_left_in_libs(
    app: ControlPlane, c_plugins: dict[str, Path]
) -> None:
    broken = c_plugins["broken_wrong_magic"]
    with pytest.raises(AbiError, match="magic"):
        app.upload("acme", archive_of_broken(broken))
    liar = archive_claiming(c_plugins["pricing-publisher"], version="9.9.9")
    with pytest.raises(PackageError, match="the manifest does not match its library"):
        app.upload("acme", liar)
    assert sorted(app.libs_dir.iterdir()) == []
    assert app.store.list_packages("acme") == []
    # a file that was there before the check (another package's bytes) stays
    app.upload("acme", archive_claiming(c_plugins["pricing-publisher"], version="0.1.0"))
    (kept,) = app.libs_dir.iterdir()
    with pytest.raises(PackageError, match="the manifest does not match its library"):
        app.upload("acme", liar)
    assert list(app.libs_dir.iterdir()) == [kept]
    # as if a stored package used these bytes already
    shared = app.libs_dir / f"{hashlib.sha256(broken.read_bytes()).hexdigest()}.so"
    shared.write_bytes(broken.read_bytes())
    with pytest.raises(AbiError):
        app.check_archive(archive_of_broken(broken))
    assert sorted(app.libs_dir.iterdir()) == sorted([kept, shared])


def test_upload_order_delete_guard_and_versions(
    app: ControlPlane, c_archives: dict[str, Path]
) -> None:
    _, status = upload(app, c_archives["pricing-subscriber"])
    assert status["status"] == "pending"
    assert status["reason"] == (
        "Error loading reactor-bound CG 'price_consumer': reactor 'PriceReactor' not loaded"
    )
    publisher, status = upload(app, c_archives["pricing-publisher"])
    assert status["status"] == "loaded"
    assert status_of(app, "pricing-subscriber")["status"] == "loaded"
    # a second version supersedes the first: hot replace, subscriber stays bound
    v2, status = upload(app, c_archives["publisher_v2"])
    assert status["version"] == "0.2.0"
    assert app.runtime("acme").subscribers("PriceReactor") == ["price_consumer"]
    # deleting the loaded version falls back to the older stored one (no guard involved)
    _, lines = app.delete("acme", v2.id)
    assert lines == ["package pricing-publisher 0.2.0 deleted"]
    assert status_of(app, "pricing-publisher")["version"] == "0.1.0"
    # the last version of the publisher is guarded while the subscriber is bound
    with pytest.raises(GuardError):
        app.delete("acme", publisher.id)
    assert app.store.find_package("acme", publisher.id) is not None
    assert app.delete("acme", "pricing-subscriber")[1] == [
        "reactor PriceReactor now has 0 subscribers"
    ]
    assert app.delete("acme", publisher.id)[1] == ["reactor PriceReactor torn down"]
    assert app.store.list_packages("acme") == []
    assert app.runtime("acme").counts()["registry"] == 0
