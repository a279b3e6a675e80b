"""The control plane of one process: the store, the tenants' runtimes and one reconciler per
tenant, and the decisions on stored packages (upload, delete, retry). The daemon (packages
from a folder) and the server (packages uploaded into the store) both stand on it.

With ``isolation="tenant"`` (the default) every tenant's runtime is its own supervised worker
process and this process never maps a plugin library; a worker that dies has the package
whose call killed it quarantined here, and is reloaded without it. ``isolation="none"`` runs
every tenant in this process (for comparison, and for the in-process tools).

Many processes on one PostgreSQL store are replicas of one control plane
(docs/deploy.md): a decision (upload, delete) is taken against the stored truth in one
transaction under the tenant's lock and announced with NOTIFY; each replica then reconciles
its own runtimes to that truth and writes its own status rows.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.reactor import Observer
from ..core.registry import guard_message
from ..errors import (
    CloacinaError,
    GuardError,
    NotFoundError,
    PackageError,
    WorkerUnavailableError,
)
from ..isolation.local import LocalTenant
from ..isolation.remote import RemoteTenant
from ..isolation.settings import Isolation, WorkerSettings
from ..isolation.supervisor import Death, Supervisor
from ..isolation.tenant import TenantRuntime
from ..log import get_logger
from ..packaging.archive import PackageArchive, read_archive
from ..packaging.probe import probe_library
from .datadir import private_dir
from .reconciler import Desired, Reconciler, Report
from .replicas import Listener, ReplicaBook, new_replica_id
from .signers import SignerBooks
from .status import PackageStatus, State
from .store import PackageRow, Store
from .topology import StoredPackage, blockers, safe_order_for
from .workers import Quarantined, WorkerBooks

if TYPE_CHECKING:
    import sqlalchemy as sa

log = get_logger()


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
        isolation: Isolation = "tenant",
        workers: WorkerSettings | None = None,
        replica: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        private_dir(self.data_dir)
        self.libs_dir = self.data_dir / "libs"
        self.libs_dir.mkdir(exist_ok=True)
        self.store = store or Store.for_data_dir(self.data_dir)
        self.books = WorkerBooks(self.store)
        self.signers = SignerBooks(self.store)
        self.replica = replica or new_replica_id()
        self.replicas = ReplicaBook(self.store, self.replica)
        self._listener: Listener | None = None
        self._probed: set[tuple[str, str, str]] = set()  # libraries the check passed
        self.observer = observer
        self.probe = probe
        self.isolation = isolation
        self.worker_settings = workers or WorkerSettings()
        self.supervisor: Supervisor | None = None
        if isolation == "tenant":
            self.supervisor = Supervisor(
                self.worker_settings, observer, on_death=self._died, on_ready=self._recover
            )
        self._runtimes: dict[str, TenantRuntime] = {}
        self._reconcilers: dict[str, Reconciler] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._lock = threading.Lock()  # the three dicts above

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        for tenant in list(self._runtimes):
            self.drop_tenant(tenant, forget=False)
        if self.supervisor is not None:
            self.supervisor.close()
        try:
            self.replicas.leave()
        except CloacinaError as exc:  # a database gone away: the heartbeat goes stale
            log.warning("replica_leave_failed", replica=self.replica, error=str(exc))
        self.store.close()

    def listen(self, wake: Callable[[str | None], None]) -> None:
        """On PostgreSQL, reconcile a tenant as soon as another replica changed it (``wake``
        schedules it); nothing on SQLite, where this process makes every change."""
        if self.store.postgres and self._listener is None:
            self._listener = Listener(self.store, self.replica, wake)
            self._listener.start()

    # ------------------------------------------------------------------ tenants

    def tenant_lock(self, tenant: str) -> threading.RLock:
        """Serializes one tenant's reconciles, uploads and deletes (never another's)."""
        with self._lock:
            lock = self._locks.get(tenant)
            if lock is None:
                lock = self._locks[tenant] = threading.RLock()
            return lock

    def runtime(self, tenant: str) -> TenantRuntime:
        return self.reconciler(tenant).runtime

    def reconciler(self, tenant: str) -> Reconciler:
        with self._lock:
            rec = self._reconcilers.get(tenant)
            if rec is None:
                runtime = self._runtime(tenant)
                self._runtimes[tenant] = runtime
                rec = self._reconcilers[tenant] = Reconciler(runtime)
            return rec

    def _runtime(self, tenant: str) -> TenantRuntime:
        if self.supervisor is None:
            return LocalTenant.create(tenant, self.observer)
        worker = self.supervisor.tenant(tenant)
        worker.deadline = self.books.call_deadline(tenant)
        return RemoteTenant(worker)

    def tenants(self) -> list[str]:
        """Tenants with a runtime in this process."""
        return sorted(self._runtimes)

    def drop_tenant(self, tenant: str, *, forget: bool = True) -> None:
        with self._lock:
            self._reconcilers.pop(tenant, None)
            runtime = self._runtimes.pop(tenant, None)
        if runtime is not None:
            try:
                runtime.close()
            except CloacinaError as exc:
                log.warning("tenant_close_failed", tenant=tenant, error=str(exc))
        if self.supervisor is not None:
            self.supervisor.drop(tenant)
        if forget:
            self.books.forget(tenant)
            self.signers.forget(tenant)

    def worker_status(self, tenant: str) -> dict[str, Any] | None:
        """The tenant's worker (None without isolation)."""
        if self.supervisor is None:
            return None
        return self.supervisor.tenant(tenant).status()

    def restart_tenant(self, tenant: str) -> dict[str, Any] | None:
        """An operator's restart of a tenant's worker (also after it was marked crashed)."""
        if self.supervisor is None:
            return None
        self.reconciler(tenant)  # the tenant's runtime exists, so recovery reloads it
        self.supervisor.tenant(tenant).restart()
        return self.worker_status(tenant)

    def set_call_deadline(self, tenant: str, seconds: float | None) -> None:
        self.books.set_call_deadline(tenant, seconds)
        if self.supervisor is not None:
            self.supervisor.tenant(tenant).deadline = seconds

    # ------------------------------------------------------------------ worker deaths

    def _died(self, tenant: str, death: Death) -> None:
        """A worker died in a package's call: quarantine that version (the supervisor's
        reaper thread; it takes no tenant lock, so a request waiting on the dead worker
        cannot block it)."""
        state = death.quarantine
        if state is None or death.culprit is None:
            return
        name = death.culprit.package
        if not any(r.name == name for r in self.store.list_packages(tenant)):
            # it died unloading a package already deleted (its shutdown hook): the delete
            # stands, the replacement worker starts without it, there is nothing to keep out
            log.error("deleted_package_crashed", tenant=tenant, package=name, reason=death.message)
            return
        version, sha = self._version_of(tenant, name)
        self.books.quarantine(tenant, name, version, sha, State(state), death.message)
        log.error("package_quarantined", tenant=tenant, package=name, reason=death.message)

    def _version_of(self, tenant: str, name: str) -> tuple[str, str]:
        """The version of ``name`` the worker was running or loading."""
        runtime = self._runtimes.get(tenant)
        if isinstance(runtime, RemoteTenant) and name in runtime.loading:
            ref = runtime.loading[name]
            return ref.version, ref.sha256
        rec = self._reconcilers.get(tenant)
        status = rec.status.get(name) if rec is not None else None
        if status is not None and status.state is State.LOADED:
            return status.version, status.sha256
        rows = [r for r in self.store.list_packages(tenant) if r.name == name]
        return (rows[-1].version, rows[-1].sha256) if rows else ("", "")

    def _recover(self, tenant: str) -> None:
        """A replacement worker is up: reload the tenant's packages into it."""
        with self.tenant_lock(tenant):
            self.reconciler(tenant).reset()
            self.reconcile_stored(tenant)

    def retry(self, tenant: str, ref: str) -> PackageStatus | None:
        """Let a quarantined package load again, now."""
        with self.tenant_lock(tenant):
            row = self._find(tenant, ref)
            if not self.books.release(tenant, row.name):
                raise NotFoundError(
                    f"package '{row.name}' is not quarantined in tenant '{tenant}'",
                    tenant=tenant,
                    package=row.name,
                )
            log.info("package_released", tenant=tenant, package=row.name)
            self._reconcile_quietly(tenant)
            return self.package_status(tenant, row.name)

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
        identity = (manifest.sha256, manifest.name, manifest.version)
        if self.probe and identity not in self._probed:  # the same bytes passed before
            try:
                decl = probe_library(path, env=self.worker_settings.env)
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
            self._probed.add(identity)
        return archive, path

    # ------------------------------------------------------------------ reconcile

    def reconcile(
        self,
        tenant: str,
        desired: Iterable[Desired],
        invalid: Iterable[Invalid] = (),
        quarantined: Iterable[Quarantined] = (),
    ) -> Report:
        """One reconcile pass for a tenant; the resulting status is written to the store,
        also when the tenant's worker goes down in the middle of it."""
        with self.tenant_lock(tenant):
            rec = self.reconciler(tenant)
            try:
                report = rec.reconcile(desired)
            finally:
                self._write_status(tenant, rec, list(invalid), list(quarantined))
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

    def _write_status(
        self,
        tenant: str,
        rec: Reconciler,
        invalid: list[Invalid],
        quarantined: list[Quarantined],
    ) -> None:
        held = {q.name: q for q in quarantined} | self.books.quarantined(tenant)
        rows = [
            PackageStatus(q.name, q.version, q.sha256, q.state, q.reason) for q in held.values()
        ]
        known = set(held)
        rows += [s for s in rec.status.values() if s.name not in known]
        known |= {r.name for r in rows}
        rows += [
            PackageStatus(bad.name, "", "", State.FAILED, bad.reason)
            for bad in invalid
            if bad.name not in known
        ]
        self.store.write_status(tenant, self.replica, rows)

    # ------------------------------------------------------------------ stored packages (server)

    def stored_desired(self, tenant: str) -> tuple[list[Desired], list[Invalid], list[Quarantined]]:
        """What should be loaded: the stored packages but the quarantined versions."""
        desired, invalid = [], []
        held = self.books.quarantined(tenant)
        kept: list[Quarantined] = []
        for row in self.store.list_packages(tenant):
            q = held.get(row.name)
            if q is not None and q.sha256 in (row.sha256, ""):
                kept.append(q)
                continue
            path = self.libs_dir / f"{row.sha256}.so"
            try:
                if not path.exists():
                    self.library_file(read_archive(self.store.package_archive(row.id)))
            except CloacinaError as exc:
                invalid.append(Invalid(row.name, str(exc)))
                continue
            desired.append(Desired(row.name, row.version, row.sha256, path, row.created_at))
        return desired, invalid, kept

    def reconcile_stored(self, tenant: str) -> Report:
        # under the tenant's lock, so a concurrent delete cannot slip between reading the
        # stored packages and applying them (which would load a package just deleted)
        with self.tenant_lock(tenant):
            desired, invalid, quarantined = self.stored_desired(tenant)
            return self.reconcile(tenant, desired, invalid, quarantined)

    def _reconcile_quietly(self, tenant: str) -> None:
        """Reconcile now; a worker that is down reloads everything when it is back."""
        try:
            self.reconcile_stored(tenant)
        except WorkerUnavailableError as exc:
            log.info("reconcile_deferred", tenant=tenant, reason=str(exc))

    def upload(
        self, tenant: str, data: bytes, signature: bytes | None = None
    ) -> tuple[PackageRow, PackageStatus | None]:
        """Store an uploaded archive and reconcile at once; returns the row and its status.

        ``signature`` is the archive's detached signature (``packaging/signing.py``): checked
        against the tenant's trusted signers whenever given, required when the tenant accepts
        only signed packages. An upload of a quarantined package lets it load again. When the
        worker is down (or dies while loading it), the package stays stored and its status
        says why."""
        archive, _ = self.check_archive(data)
        with self.store.decision(tenant) as conn:
            name = archive.manifest.name
            signer = self.signers.check(tenant, name, data, signature, conn)
            row = self.store.add_package(tenant, archive.manifest, data, conn, signer)
            self.books.release(tenant, row.name, conn)
            self.store.notify(conn, tenant, self.replica)
        self._reconcile_quietly(tenant)
        return row, self.package_status(tenant, row.name)

    def package_status(self, tenant: str, name: str) -> PackageStatus | None:
        """The status of a package: quarantined, else the reconciler's (None when none)."""
        held = self.books.quarantined(tenant).get(name)
        if held is not None:
            return PackageStatus(held.name, held.version, held.sha256, held.state, held.reason)
        status = self.reconciler(tenant).status.get(name)
        if status is None and self.supervisor is not None:
            worker = self.supervisor.tenant(tenant)
            if worker.state.value in ("backoff", "starting", "recovering", "crashed"):
                return PackageStatus(name, "", "", State.PENDING, str(worker.unavailable()))
        return status

    def _find(self, tenant: str, ref: str, conn: sa.Connection | None = None) -> PackageRow:
        row = self.store.find_package(tenant, ref, conn)
        if row is None:
            raise NotFoundError(
                f"package '{ref}' not found in tenant '{tenant}'", tenant=tenant, package=ref
            )
        return row

    def delete(self, tenant: str, ref: str) -> tuple[PackageRow, list[str]]:
        """Delete a stored package; then every replica unloads it.

        Decided in one transaction holding the tenant's lock, on the stored truth: the last
        stored version of a package whose reactor a graph of another stored package
        triggers is refused with the guard's text, whatever any runtime has loaded yet
        (:class:`GuardError`; nothing is deleted). The runtime's own guard stays as the
        safety net while the replicas catch up."""
        with self.store.decision(tenant) as conn:
            rows = self.store.list_packages(tenant, conn)
            row = self._find(tenant, ref, conn)
            last = [r for r in rows if r.name == row.name] == [row]
            if last:
                stored_guard(tenant, row, rows)
            self.store.delete_package(tenant, row.id, conn)
            if last:
                self.books.release(tenant, row.name, conn)
            self.store.notify(conn, tenant, self.replica)
        lines: list[str] = []
        try:
            lines = self.reconcile_stored(tenant).messages.get(row.name, [])
        except WorkerUnavailableError as exc:  # it unloads when its worker is back
            log.info("reconcile_deferred", tenant=tenant, reason=str(exc))
        return row, lines or [f"package {row.name} {row.version} deleted"]


def stored_packages(rows: Iterable[PackageRow]) -> list[StoredPackage]:
    """The newest stored version of each package (stored order: oldest first), as the
    topology reads it."""
    newest: dict[str, PackageRow] = {}
    for row in rows:
        newest.pop(row.name, None)
        newest[row.name] = row
    return [StoredPackage(r.name, r.version, r.manifest.declarations) for r in newest.values()]


def stored_guard(tenant: str, row: PackageRow, rows: list[PackageRow]) -> None:
    """The bound-subscriber guard on the stored manifests: refuse to delete ``row`` (the last
    version of its package) while the newest stored version of another package has a graph
    triggered by one of its reactors. The refusal carries who blocks it and the safe order."""
    packages = [p for p in stored_packages(rows) if p.name != row.name]
    packages.append(StoredPackage(row.name, row.version, row.manifest.declarations))
    blocking = blockers(row.name, packages)
    if not blocking:
        return
    by_reactor: dict[str, list[str]] = {  # in the package's declaration order
        str(r.get("name")): [] for r in row.manifest.declarations.get("reactors", [])
    }
    for b in blocking:
        by_reactor.setdefault(b.reactor, []).append(b.graph)
    raise GuardError(
        "; ".join(guard_message(r, graphs) for r, graphs in by_reactor.items() if graphs),
        tenant=tenant,
        package=row.name,
        details={
            "blocked_by": [b.to_dict() for b in blocking],
            "safe_order": safe_order_for(row.name, packages),
        },
    )
