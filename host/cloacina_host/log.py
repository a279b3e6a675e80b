"""Logging: structlog events carried by the standard library's ``logging``.

Every module logs through :func:`get_logger`, a structlog logger bound to the stdlib logger
``cloacina``. A library must not print: until an application configures logging, ``cloacina``
has only a ``NullHandler``, so embedding the host (``from cloacina_host import Host``) prints
nothing, and an application that calls ``logging.basicConfig`` (or attaches its own handler)
gets the host's events like any other library's. It does not touch structlog's global
configuration, so an application's own structlog set-up is left alone.

The host's own processes (CLI, daemon, server, tenant workers) call :func:`configure`: one
handler on standard error, one rendering for every line — JSON objects, or readable lines
(coloured on a terminal unless ``NO_COLOR`` is set) — for the host's events and for the
libraries it runs on (uvicorn's server and error loggers), so the server's output is one
stream of one format.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

import orjson
import structlog

ROOT = "cloacina"
#: Loggers of libraries whose lines join the host's stream (their own handlers are dropped).
FOREIGN = ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic")

logging.getLogger(ROOT).addHandler(logging.NullHandler())

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


class _BoundLogger(structlog.stdlib.BoundLogger):
    """The stdlib bound logger, asking the level first: a call whose level is off returns
    before any processor runs (``filter_by_level`` alone drops it by raising, which costs
    microseconds per call)."""

    def debug(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        if self._logger.isEnabledFor(logging.DEBUG):
            return super().debug(event, *args, **kw)
        return None

    def info(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        if self._logger.isEnabledFor(logging.INFO):
            return super().info(event, *args, **kw)
        return None


def get_logger(name: str = ROOT) -> Any:
    """A structlog logger for ``name`` (``cloacina`` or below it): silent unless logging is
    configured, cheap when its level is off."""
    return structlog.wrap_logger(
        logging.getLogger(name),
        wrapper_class=_BoundLogger,
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        cache_logger_on_first_use=True,
    )


#: ``--log-format``: ``auto`` is JSON unless the stream is a terminal.
FORMATS: dict[str, bool | None] = {"auto": None, "json": True, "console": False}


def _json_line(event: Any, **_: Any) -> str:
    """orjson for the JSON lines (several times faster than the stdlib's encoder); a value
    it cannot encode is written as its ``str``."""
    return orjson.dumps(event, default=str).decode()


def _renderer(out: TextIO, json: bool | None) -> Any:
    as_json = not out.isatty() if json is None else json
    if as_json:
        return structlog.processors.JSONRenderer(serializer=_json_line)
    colors = out.isatty() and not os.environ.get("NO_COLOR")
    return structlog.dev.ConsoleRenderer(colors=colors)


def configure(level: str = "info", stream: TextIO | None = None, json: bool | None = None) -> None:
    """Send the host's events (and uvicorn's) to ``stream`` (standard error) at ``level``:
    JSON when ``json`` (default: when the stream is not a terminal), else readable lines."""
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _renderer(out, json),
            ],
        )
    )
    number = logging.getLevelNamesMapping()[level.upper()]
    for name in (ROOT, *FOREIGN):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if not isinstance(old, logging.NullHandler):
                logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(number)
        logger.propagate = False
