"""Opening an untrusted library in a child process first, so a broken one cannot crash us.

``dlopen`` runs a library's constructors before the host can check anything, and a bad
descriptor can make reading it fault. :func:`probe_library` therefore runs
``python -m cloacina_host.packaging.probe PATH`` in a child: the child opens the library with
:func:`cloacina_host.core.loader.open_plugin` (ABI checks, declarations, topologies, init hook),
closes it again and reports on its stdout. The protocol:

* exit 0 — stdout is ``PackageDecl.to_dict()`` as JSON;
* exit 1 — stdout is ``{"error": {"class", "code", "message", "names", "status"}}`` for a
  :class:`~cloacina_host.errors.CloacinaError`, which the parent raises again as the same
  class with the same message;
* killed by a signal, timed out, or anything else — the parent raises :class:`LoadError`.

Anything the library itself prints goes to the child's stderr, never into the report.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from ..errors import CloacinaError, LoadError, from_wire, to_wire
from ..spawn import child_command, child_environment, kill_group
from ..types import PackageDecl

__all__ = ["DEFAULT_TIMEOUT", "probe_library"]

#: Seconds a library may take to open, validate and close in the probe process.
DEFAULT_TIMEOUT = 60.0

# How much of the child's stderr an unexpected failure quotes.
_STDERR_TAIL = 2000


def probe_library(
    path: Path, timeout: float = DEFAULT_TIMEOUT, env: Mapping[str, str] | None = None
) -> PackageDecl:
    """Open ``path`` in a child process, validate it fully and return its declarations.

    The child gets a minimal environment (:func:`~cloacina_host.spawn.child_environment`,
    plus ``env``), its own session, and is killed with its whole process group afterwards,
    so a library that forks in a constructor leaves nothing behind. Raises the child's
    :class:`CloacinaError` (same class and message) when the library is refused, and
    :class:`LoadError` when it crashes the child, hangs past ``timeout`` seconds, or the
    child fails in any other way.
    """
    path = Path(path)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                child_command("cloacina_host.packaging.probe", str(path)),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=child_environment(env),
                start_new_session=True,
            )
        except OSError as exc:
            raise LoadError(
                f"cannot start the probe process for library '{path}': {exc.strerror or exc}",
                library=str(path),
            ) from None
        try:
            # wait for the process, not for its output: a stray it forked may hold the files
            returncode = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            proc.wait()
            raise LoadError(
                f"library '{path}' did not finish loading within {timeout:g}s in the probe "
                "process (a constructor or init hook may hang); it cannot be loaded",
                library=str(path),
            ) from None
        finally:
            kill_group(proc.pid)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    return _outcome(path, returncode, stdout, stderr)


def _outcome(path: Path, returncode: int, stdout: bytes, stderr_bytes: bytes) -> PackageDecl:
    """The declarations the probe reported, or the error that explains its exit."""
    if returncode < 0:
        raise LoadError(
            f"library '{path}' crashed the probe process while loading "
            f"({_signal_name(-returncode)}); it cannot be loaded",
            library=str(path),
        )
    report = _parse(stdout)
    if returncode == 0 and report is not None:
        try:
            return PackageDecl.from_dict(report)
        except (KeyError, TypeError, ValueError) as exc:
            raise LoadError(
                f"the probe process for library '{path}' reported malformed declarations ({exc!r})",
                library=str(path),
            ) from None
    if returncode == 1 and report is not None and isinstance(report.get("error"), dict):
        raise from_wire(report["error"], f"library '{path}' was refused by the probe process")
    stderr = stderr_bytes.decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
    raise LoadError(
        f"the probe process for library '{path}' failed with exit status {returncode}"
        + (f": {stderr}" if stderr else ""),
        library=str(path),
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _parse(stdout: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(stdout)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


# --------------------------------------------------------------------------- the child


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _child(argv: list[str]) -> int:
    """Entry point of the probe process: open ``argv[0]``, report on the original stdout."""
    if len(argv) != 1:
        print("usage: python -m cloacina_host.packaging.probe LIBRARY", file=sys.stderr)
        return 2
    try:  # a crashing library must not leave core files behind
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    except (ImportError, OSError, ValueError):  # pragma: no cover - platform dependent
        pass
    # Keep the real stdout for the report; the library's (and logging's) output goes to
    # stderr so it cannot corrupt the JSON.
    sys.stdout.flush()
    report_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    from ..core.loader import open_plugin  # imported late: only the child loads libraries

    try:
        plugin = open_plugin(Path(argv[0]))
        try:
            payload: dict[str, Any] = plugin.decl.to_dict()
        finally:
            plugin.close()
    except CloacinaError as exc:
        _write_all(report_fd, orjson.dumps({"error": to_wire(exc)}))
        return 1
    _write_all(report_fd, orjson.dumps(payload))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
