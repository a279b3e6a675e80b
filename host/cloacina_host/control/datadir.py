"""The data directory and the SQLite file: private to their owner (0700 and 0600), and the
SQLite file's identity, so a store notices when it is deleted or replaced under it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..log import get_logger

log = get_logger()

__all__ = ["private_database", "private_dir", "sqlite_url"]


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{Path(data_dir) / 'cloacina.db'}"


def private_dir(path: Path) -> Path:
    """Make ``path`` (and its parents) a directory only its owner may enter: a new one is
    created with mode 0700, an existing one loses its group and other bits (with a warning;
    one it cannot change is used as it is, with a warning)."""
    path = Path(path)
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        if not path.is_dir():
            raise
        _tighten(path, 0o077, "data_dir")
    else:
        os.chmod(path, 0o700)  # whatever the umask
    return path


def _tighten(path: Path, loose: int, what: str) -> None:
    """Clear the ``loose`` permission bits of an existing ``path``, warning when any was set."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & loose:
        return
    try:
        os.chmod(path, mode & ~loose)
    except OSError as exc:
        log.warning(f"{what}_not_private", path=str(path), mode=oct(mode), error=str(exc))
    else:
        log.warning(f"{what}_tightened", path=str(path), mode=oct(mode), now=oct(mode & ~loose))


def private_database(path: Path) -> tuple[int, int]:
    """Create the SQLite file with mode 0600 before SQLite does (its ``-wal`` and ``-shm``
    files take the database's mode); tighten an existing one and its companions. Returns
    the file's identity, ``(st_dev, st_ino)``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            _tighten(file, 0o177, "database_file")
    return st.st_dev, st.st_ino
