"""How tenant workers run: :class:`WorkerSettings`, and the command-line flags that set
them (one table for ``cloacina-server`` and ``cloacinactl server start``/``daemon start``).
Plain values only: the CLI imports this without loading the server or the native core."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import InvalidInputError

MiB = 1024 * 1024

Isolation = Literal["none", "tenant"]


@dataclass(frozen=True)
class WorkerSettings:
    """How tenant workers run (the server's ``--worker-*`` flags; tests shorten them)."""

    threads: int = 4
    call_deadline: float = 10.0  # seconds a native call may take; per tenant when configured
    memory_limit: int | None = 1024 * MiB  # resident bytes; None: no limit
    user: str | None = None  # run workers as this user (the server runs as root)
    read_paths: tuple[str, ...] = ()  # more paths workers may read
    env: dict[str, str] = field(default_factory=dict)  # variables workers get on purpose
    log_level: str = "warning"
    hello_timeout: float = 30.0
    request_timeout: float = 120.0  # a request unanswered this long: the worker is stuck
    max_in_flight: int = 256  # requests sent and not answered, per worker
    max_waiting: int = 8  # server threads that may wait on one worker at a time
    backoff: float = 0.5  # first restart delay; doubles per straight failure
    backoff_max: float = 60.0
    max_failures: int = 5
    stable_after: float = 10.0  # up this long, a worker's failure streak is forgotten
    watch_interval: float = 0.05
    tick_seconds: float = 0.1  # batch flushes and polling, inside each worker; 0: none
    #: (with an event plane, each reactor's owner ticks it instead)

    def address_space(self) -> int | None:
        """The worker's RLIMIT_AS: a backstop well above the resident limit (address space
        counts the interpreter, thread stacks and malloc's reservations too)."""
        return None if self.memory_limit is None else 2 * self.memory_limit + 512 * MiB


@dataclass(frozen=True)
class Flag:
    """A worker flag, for both command lines (``cloacina-server`` and ``cloacinactl server
    start``): its name, environment variable, metavar, help and whether it repeats."""

    name: str
    env: str
    metavar: str
    help: str
    multiple: bool = False

    @property
    def key(self) -> str:
        return self.name.removeprefix("--").replace("-", "_")

    def default(self) -> Any:
        value = os.environ.get(self.env) or None
        if value is None:
            return [] if self.multiple else None
        return value.split() if self.multiple else value


WORKER_FLAGS = (
    Flag(
        "--isolation",
        "CLOACINA_ISOLATION",
        "tenant|none",
        "'tenant' (the default): every tenant's plugins run in a supervised worker process; "
        "'none': in the server process, unisolated",
    ),
    Flag(
        "--worker-user",
        "CLOACINA_WORKER_USER",
        "USER",
        "run workers as this unprivileged user (a server running as root)",
    ),
    Flag(
        "--call-deadline",
        "CLOACINA_CALL_DEADLINE",
        "SECONDS",
        "how long one native call may run before its worker is killed and its package "
        "quarantined as hung (default 10; per tenant: PATCH /v1/tenants/NAME)",
    ),
    Flag(
        "--worker-memory",
        "CLOACINA_WORKER_MEMORY_MB",
        "MIB",
        "resident memory a worker may use before it is killed (default 1024; 0: no limit)",
    ),
    Flag("--worker-threads", "CLOACINA_WORKER_THREADS", "N", "threads of each worker (default 4)"),
    Flag(
        "--worker-env",
        "CLOACINA_WORKER_ENV",
        "KEY=VALUE",
        "a variable workers get (repeatable; nothing else of the server's environment "
        "reaches plugins)",
        multiple=True,
    ),
    Flag(
        "--worker-read",
        "CLOACINA_WORKER_READ",
        "PATH",
        "a file or directory workers may read (repeatable)",
        multiple=True,
    ),
)


def worker_settings(values: dict[str, Any], log_level: str) -> tuple[Isolation, WorkerSettings]:
    """The isolation mode and worker settings the flags ask for."""
    isolation = values.get("isolation") or "tenant"
    if isolation not in ("tenant", "none"):
        raise InvalidInputError(f"--isolation must be 'tenant' or 'none', not {isolation!r}")
    defaults = WorkerSettings()

    def number(key: str, flag: str, default: float) -> float:
        raw = values.get(key)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise InvalidInputError(f"{flag} must be a number, not {raw!r}") from None
        if value < 0:
            raise InvalidInputError(f"{flag} must not be negative, got {raw!r}")
        return value

    env = {}
    for item in values.get("worker_env") or []:
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--worker-env takes KEY=VALUE, not {item!r}")
        env[key] = value
    memory = number("worker_memory", "--worker-memory", (defaults.memory_limit or 0) / MiB)
    threads = int(number("worker_threads", "--worker-threads", defaults.threads))
    if threads < 1:
        raise InvalidInputError("--worker-threads must be at least 1")
    workers = WorkerSettings(
        threads=threads,
        call_deadline=number("call_deadline", "--call-deadline", defaults.call_deadline) or 10.0,
        memory_limit=int(memory * MiB) or None,
        user=values.get("worker_user") or None,
        read_paths=tuple(str(p) for p in values.get("worker_read") or []),
        env=env,
        log_level=log_level,
    )
    return ("none" if isolation == "none" else "tenant"), workers
