"""The server's part of the reactor WebSocket, framework-free: whether a command is
well-formed and allowed to the caller. The work itself is the event plane's
(:class:`~..events.plane.EventPlane`)."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInputError
from ..isolation.local import COMMANDS
from .access import RANK, ApiError


def check_command(message: Any, role: str) -> dict[str, Any]:
    """A ``/v1/ws/reactor/{name}`` command, checked: its form, and the caller's role for it;
    raises CloacinaError/ApiError."""
    if not isinstance(message, dict) or not isinstance(message.get("command"), str):
        raise InvalidInputError('a command is a JSON object like {"command": "get_state"}')
    command = message["command"]
    if command not in COMMANDS:
        raise InvalidInputError(f"unknown command {command!r}: use one of {', '.join(COMMANDS)}")
    if COMMANDS[command] and RANK[role] < RANK["write"]:
        raise ApiError(403, "forbidden", f"command '{command}' needs a key with role 'write'")
    return message
