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
from pathlib import Path
from typing import Any

import orjson

from ..errors import CloacinaError, LoadError, PluginCallError
from ..types import PackageDecl

__all__ = ["DEFAULT_TIMEOUT", "probe_library"]

#: Seconds a library may take to open, validate and close in the probe process.
DEFAULT_TIMEOUT = 60.0

# How much of the child's stderr an unexpected failure quotes.
_STDERR_TAIL = 2000


def probe_library(path: Path, timeout: float = DEFAULT_TIMEOUT) -> PackageDecl:
    """Open ``path`` in a child process, validate it fully and return its declarations.

    Raises the child's :class:`CloacinaError` (same class and message) when the library is
    refused, and :class:`LoadError` when it crashes the child, hangs past ``timeout``
    seconds, or the child fails in any other way.
    """
    path = Path(path)
    env = dict(os.environ)
    # The child must import this very package, wherever it was imported from.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "cloacina_host.packaging.probe", str(path)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise LoadError(
            f"library '{path}' did not finish loading within {timeout:g}s in the probe "
            "process (a constructor or init hook may hang); it cannot be loaded",
            library=str(path),
        ) from None
    except OSError as exc:
        raise LoadError(
            f"cannot start the probe process for library '{path}': {exc.strerror or exc}",
            library=str(path),
        ) from None

    if proc.returncode < 0:
        raise LoadError(
            f"library '{path}' crashed the probe process while loading "
            f"({_signal_name(-proc.returncode)}); it cannot be loaded",
            library=str(path),
        )
    report = _parse(proc.stdout)
    if proc.returncode == 0 and report is not None:
        try:
            return PackageDecl.from_dict(report)
        except (KeyError, TypeError, ValueError) as exc:
            raise LoadError(
                f"the probe process for library '{path}' reported malformed declarations ({exc!r})",
                library=str(path),
            ) from None
    if proc.returncode == 1 and report is not None and isinstance(report.get("error"), dict):
        raise _rebuild_error(report["error"], path)
    stderr = proc.stderr.decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
    raise LoadError(
        f"the probe process for library '{path}' failed with exit status {proc.returncode}"
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


def _error_class(name: object) -> type[CloacinaError]:
    """The :class:`CloacinaError` subclass called ``name`` (``LoadError`` if there is none)."""
    pending: list[type[CloacinaError]] = [CloacinaError]
    while pending:
        cls = pending.pop()
        if cls.__name__ == name:
            return cls
        pending.extend(cls.__subclasses__())
    return LoadError


def _rebuild_error(error: dict[str, Any], path: Path) -> CloacinaError:
    """The child's error as the same class with the same message (and names)."""
    message = str(error.get("message", f"library '{path}' was refused by the probe process"))
    raw_names = error.get("names")
    names = (
        {str(k): str(v) for k, v in raw_names.items() if v is not None}
        if isinstance(raw_names, dict)
        else {}
    )
    cls = _error_class(error.get("class"))
    try:
        if issubclass(cls, PluginCallError):
            status = error.get("status")
            return cls(message, status if isinstance(status, int) else 0, **names)
        return cls(message, **names)
    except TypeError:  # a subclass with its own constructor: keep the message
        return LoadError(message, **names)


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
        error = {
            "class": type(exc).__name__,
            "code": exc.code,
            "message": exc.message,
            "names": exc.names,
            "status": getattr(exc, "status", None),
        }
        _write_all(report_fd, orjson.dumps({"error": error}))
        return 1
    _write_all(report_fd, orjson.dumps(payload))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
