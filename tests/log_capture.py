"""The host's log events as dicts, for tests that assert what was logged: a handler on the
``cloacina`` logger (the host logs through stdlib logging; see ``cloacina_host/log.py``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import orjson


class _Collect(logging.Handler):
    def __init__(self, events: list[dict[str, Any]]) -> None:
        super().__init__(logging.DEBUG)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, dict):  # a structlog event (wrap_for_formatter)
            self.events.append({**record.msg, "log_level": record.levelname.lower()})


@contextlib.contextmanager
def capture_logs(name: str = "cloacina") -> Iterator[list[dict[str, Any]]]:
    logger = logging.getLogger(name)
    events: list[dict[str, Any]] = []
    handler, level = _Collect(events), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield events
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def log_events(stream: bytes) -> list[str]:
    """The ``event`` of every JSON log line in a process's captured output."""
    events = []
    for line in stream.splitlines():
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(item, dict) and isinstance(item.get("event"), str):
            events.append(item["event"])
    return events
