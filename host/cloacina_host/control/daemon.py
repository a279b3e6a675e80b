"""The local daemon: reconciles a folder of ``.cloacina`` archives, no HTTP.

It watches the folder (watchfiles, 500 ms debounce) and also polls it, keeps its state in
SQLite under the data directory (``cloacinactl package list --data-dir DIR`` reads it),
logs every step, and stops cleanly on SIGINT/SIGTERM.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import watchfiles

from ..errors import CloacinaError, WorkerUnavailableError
from ..isolation.settings import Isolation, WorkerSettings
from ..log import get_logger
from .plane import ControlPlane, Invalid
from .reconciler import Desired

log = get_logger()

TENANT = "default"
#: The daemon's replica id: one process, always the same (its status rows are its own).
REPLICA = "local"
DEBOUNCE_MS = 500
POLL_SECONDS = 5.0


class Daemon:
    """Reconciles ``packages_dir`` into the default tenant of a :class:`ControlPlane`."""

    def __init__(
        self,
        packages_dir: Path,
        data_dir: Path,
        *,
        poll_seconds: float = POLL_SECONDS,
        probe: bool = True,
        isolation: Isolation = "tenant",
        workers: WorkerSettings | None = None,
    ) -> None:
        # first: the plane makes data_dir 0700, before the folder inside it is created
        self.plane = ControlPlane(
            Path(data_dir), probe=probe, isolation=isolation, workers=workers, replica=REPLICA
        )
        self.packages_dir = Path(packages_dir)
        self.packages_dir.mkdir(parents=True, exist_ok=True)
        self.poll_seconds = poll_seconds
        self.stop_event = threading.Event()
        # archive path -> (mtime_ns, size, parsed result) so unchanged files are not re-read
        self._seen: dict[Path, tuple[int, int, Desired | Invalid]] = {}
        self._first_seen: dict[Path, float] = {}

    def scan(self) -> tuple[list[Desired], list[Invalid]]:
        """Read every archive in the folder (unchanged ones from cache)."""
        desired: list[Desired] = []
        invalid: list[Invalid] = []
        current = sorted(self.packages_dir.glob("*.cloacina"))
        for stale in set(self._seen) - set(current):
            del self._seen[stale]
            self._first_seen.pop(stale, None)
        for path in current:
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            cached = self._seen.get(path)
            if cached is not None and cached[:2] == (st.st_mtime_ns, st.st_size):
                result = cached[2]
            else:
                result = self._read(path, st.st_mtime)
                self._seen[path] = (st.st_mtime_ns, st.st_size, result)
            if isinstance(result, Desired):
                desired.append(result)
            else:
                invalid.append(result)
        return desired, invalid

    def _read(self, path: Path, mtime: float) -> Desired | Invalid:
        order = self._first_seen.setdefault(path, mtime)
        try:
            archive, library = self.plane.check_archive(path)
        except CloacinaError as exc:
            log.warning("archive_refused", file=path.name, error=str(exc))
            return Invalid(path.name, f"{path.name}: {exc}")
        m = archive.manifest
        log.info("archive_found", file=path.name, package=m.name, version=m.version)
        return Desired(m.name, m.version, m.sha256, library, order)

    def reconcile_once(self) -> None:
        desired, invalid = self.scan()
        try:
            self.plane.reconcile(TENANT, desired, invalid)
        except WorkerUnavailableError as exc:  # it reloads everything once it is back
            log.warning("reconcile_deferred", tenant=TENANT, reason=str(exc))
        self.plane.runtime(TENANT).tick()

    def run(self) -> int:
        """Reconcile on start and on every change or poll until stopped; returns exit code."""
        log.info(
            "daemon_started",
            packages=str(self.packages_dir),
            data_dir=str(self.plane.data_dir),
            poll_seconds=self.poll_seconds,
        )
        try:
            self.reconcile_once()
            for changes in watchfiles.watch(
                self.packages_dir,
                debounce=DEBOUNCE_MS,
                stop_event=self.stop_event,
                rust_timeout=int(self.poll_seconds * 1000),
                yield_on_timeout=True,
                raise_interrupt=False,
            ):
                if self.stop_event.is_set():
                    break
                if changes:
                    log.info("packages_changed", files=sorted(Path(p).name for _, p in changes))
                self.reconcile_once()
        finally:
            self.plane.close()
            log.info("daemon_stopped")
        return 0

    def install_signal_handlers(self) -> None:
        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("daemon_stopping", signal=signal.Signals(signum).name)
            self.stop_event.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
