"""How the host starts a child process that runs untrusted plugin code (the library check,
a tenant worker): a fresh interpreter (never a fork of a process holding sockets), a minimal
environment without the parent's secrets, its own session, and a process group that is
killed as a whole, so a stray a plugin forked does not outlive it."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["child_command", "child_environment", "kill_group"]

#: The parent's variables a child may see: none that could carry a secret.
_PASSED = ("LANG", "LC_ALL", "TZ")


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a child: a fixed PATH, the locale, this package on
    PYTHONPATH (the child must import this very package), glibc malloc arenas bounded (a
    worker's memory limit counts address space, and every arena reserves 64 MiB of it), and
    what the operator passes on purpose (``extra``). Nothing else of the parent's: no API
    keys, no database URL."""
    env = {name: os.environ[name] for name in _PASSED if name in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["MALLOC_ARENA_MAX"] = "2"
    env.update(extra or {})
    return env


def child_command(module: str, *args: str) -> list[str]:
    """``python -m module args…`` with this interpreter, isolated from user site-packages."""
    return [sys.executable, "-s", "-m", module, *args]


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by ``pid`` (a child started with
    ``start_new_session=True``), strays included; nothing when it is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
