"""The control plane of one process: the store, the tenants' runtimes and one reconciler per
tenant, and the decisions on stored packages (upload, delete). The daemon (packages from a
folder) and the server (packages uploaded into the store) both stand on it.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog

from ..core.host import Host
from ..core.reactor import Observer
from ..core.runtime import Runtime
from ..errors import CloacinaError, NotFoundError, PackageError
from ..packaging.archive import PackageArchive, read_archive
from ..packaging.probe import probe_library
from .reconciler import Desired, Reconciler, Report
from .status import PackageStatus, State
from .store import PackageRow, Store, private_dir

log = structlog.get_logger("cloacina")


def default_data_dir() -> Path:
    """``$CLOACINA_HOME`` or ``~/.cloacina``."""
    return Path(os.environ.get("CLOACINA_HOME") or Path.home() / ".cloacina")


@dataclass(frozen=True)
class Invalid:
    """A package source that could not even be read (a broken archive in the folder)."""

    name: str
    reason: str


class ControlPlane:
    """The store, the runtimes and the tenants' reconcilers of one process."""

    def __init__(
        self,
        data_dir: Path,
        store: Store | None = None,
        *,
        observer: Observer | None = None,
        probe: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        private_dir(self.data_dir)
        self.libs_dir = self.data_dir / "libs"
        self.libs_dir.mkdir(exist_ok=True)
        self.store = store or Store.for_data_dir(self.data_dir)
        self.host = Host(observer=observer)
        self.probe = probe
        self._reconcilers: dict[str, Reconciler] = {}
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self.host.close()
            self.store.close()

    # ------------------------------------------------------------------ tenants

    def runtime(self, tenant: str) -> Runtime:
        return self.reconciler(tenant).runtime

    def reconciler(self, tenant: str) -> Reconciler:
        with self._lock:
            rec = self._reconcilers.get(tenant)
            if rec is None:
                rec = Reconciler(self.host.runtime(tenant))
                self._reconcilers[tenant] = rec
            return rec

    def drop_tenant(self, tenant: str) -> None:
        with self._lock:
            self._reconcilers.pop(tenant, None)
            self.host.drop(tenant)

    # ------------------------------------------------------------------ libraries

    def library_file(self, archive: PackageArchive) -> Path:
        """The archive's library, written once under ``libs/<sha256>.so``."""
        manifest = archive.manifest
        path = self.libs_dir / f"{manifest.sha256}.so"
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=self.libs_dir, prefix=".incoming-")
            with os.fdopen(fd, "wb") as f:
                f.write(archive.library)
            os.replace(tmp, path)
        return path

    def check_archive(self, data: bytes | Path) -> tuple[PackageArchive, Path]:
        """Read an untrusted archive, write its library, and (with ``probe``) validate the
        library in a child process; the library's own name/version must match the manifest.
        A refused library is removed again unless the file was there before (a stored
        package may use the same bytes)."""
        archive = read_archive(data)
        manifest = archive.manifest
        existed = (self.libs_dir / f"{manifest.sha256}.so").exists()
        path = self.library_file(archive)
        if self.probe:
            try:
                decl = probe_library(path)
                if (decl.name, decl.version) != (manifest.name, manifest.version):
                    raise PackageError(
                        f"package '{manifest.name}' {manifest.version}: the manifest does not "
                        f"match its library, which declares package '{decl.name}' "
                        f"{decl.version}; re-pack it with `cloacinactl package pack`",
                        package=manifest.name,
                    )
            except BaseException:
                if not existed:
                    path.unlink(missing_ok=True)
                raise
        return archive, path

    # ------------------------------------------------------------------ reconcile

    def reconcile(
        self, tenant: str, desired: Iterable[Desired], invalid: Iterable[Invalid] = ()
    ) -> Report:
        """One reconcile pass for a tenant; the resulting status is written to the store."""
        with self._lock:
            rec = self.reconciler(tenant)
            report = rec.reconcile(desired)
            rows = list(rec.status.values())
            known = {r.name for r in rows}
            rows += [
                PackageStatus(bad.name, "", "", State.FAILED, bad.reason)
                for bad in invalid
                if bad.name not in known
            ]
            self.store.write_status(tenant, rows)
            if report.changed or report.failed or report.refused:
                log.info(
                    "reconciled",
                    tenant=tenant,
                    loaded=report.loaded,
                    replaced=report.replaced,
                    unloaded=report.unloaded,
                    pending=report.pending,
                    failed=report.failed,
                    refused=report.refused,
                )
            return report

    # ------------------------------------------------------------------ stored packages (server)

    def stored_desired(self, tenant: str) -> tuple[list[Desired], list[Invalid]]:
        desired, invalid = [], []
        for row in self.store.list_packages(tenant):
            path = self.libs_dir / f"{row.sha256}.so"
            try:
                if not path.exists():
                    self.library_file(read_archive(self.store.package_archive(row.id)))
            except CloacinaError as exc:
                invalid.append(Invalid(row.name, str(exc)))
                continue
            desired.append(Desired(row.name, row.version, row.sha256, path, row.created_at))
        return desired, invalid

    def reconcile_stored(self, tenant: str) -> Report:
        # under the lock, so a concurrent delete cannot slip between reading the stored
        # packages and applying them (which would load a package just deleted)
        with self._lock:
            desired, invalid = self.stored_desired(tenant)
            return self.reconcile(tenant, desired, invalid)

    def upload(self, tenant: str, data: bytes) -> tuple[PackageRow, PackageStatus | None]:
        """Store an uploaded archive and reconcile at once; returns the row and its status."""
        archive, _ = self.check_archive(data)
        with self._lock:
            row = self.store.add_package(tenant, archive.manifest, data)
            self.reconcile_stored(tenant)
            return row, self.package_status(tenant, row.name)

    def package_status(self, tenant: str, name: str) -> PackageStatus | None:
        """The reconciler's status of a package (None when it has none)."""
        return self.reconciler(tenant).status.get(name)

    def delete(self, tenant: str, ref: str) -> tuple[PackageRow, list[str]]:
        """Delete a stored package. If it is the loaded version and no other version stays,
        it is unloaded first, and the guard may refuse (nothing is deleted then)."""
        with self._lock:
            row = self.store.find_package(tenant, ref)
            if row is None:
                raise NotFoundError(
                    f"package '{ref}' not found in tenant '{tenant}'", tenant=tenant, package=ref
                )
            runtime = self.runtime(tenant)
            record = runtime.package_record(row.name)
            others = [r for r in self.store.list_packages(tenant) if r.name == row.name]
            lines: list[str] = []
            if record is not None and len(others) == 1:
                lines = runtime.unload(row.name).lines()  # GuardError propagates: nothing changed
            self.store.delete_package(tenant, row.id)
            self.reconcile_stored(tenant)
            return row, lines or [f"package {row.name} {row.version} deleted"]
