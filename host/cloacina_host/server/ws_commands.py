"""The server's part of the WebSocket endpoints, framework-free: which frames are JSON
events, and whether a reactor command is well-formed and allowed to the caller. The work
itself is the tenant runtime's (:class:`~..isolation.tenant.TenantRuntime`)."""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import InvalidInputError
from ..isolation.local import COMMANDS
from ..isolation.tenant import PushResult, TenantRuntime
from .access import RANK, ApiError


def split_frames(frames: list[bytes]) -> tuple[list[bytes], list[dict[str, str]]]:
    """The frames that are JSON (in order), and an error frame for each that is not."""
    errors: list[dict[str, str]] = []
    valid: list[bytes] = []
    loads = orjson.loads
    for frame in frames:
        try:
            loads(frame)
        except orjson.JSONDecodeError as exc:
            errors.append(
                {
                    "type": "error",
                    "code": "invalid_json",
                    "error": f"event is not valid JSON: {exc}",
                }
            )
        else:
            valid.append(frame)
    return valid, errors


async def push_frames(
    runtime: TenantRuntime, name: str, frames: list[bytes]
) -> tuple[int, list[dict[str, str]]]:
    """Push WebSocket frames to an accumulator in one reactor wake-up.

    Each frame is one JSON event. A frame that is not JSON, or that the accumulator refuses,
    becomes an error frame; the others are still pushed, in order."""
    valid, errors = split_frames(frames)
    result = await runtime.push_frames_async(name, valid) if valid else PushResult(0, [])
    return result.fires, errors + result.errors


def reactor_command(runtime: TenantRuntime, name: str, message: Any, role: str) -> dict[str, Any]:
    """One ``/v1/ws/reactor/{name}`` command (worker thread); raises CloacinaError/ApiError."""
    if not isinstance(message, dict) or not isinstance(message.get("command"), str):
        raise InvalidInputError('a command is a JSON object like {"command": "get_state"}')
    command = message["command"]
    if command not in COMMANDS:
        raise InvalidInputError(f"unknown command {command!r}: use one of {', '.join(COMMANDS)}")
    if COMMANDS[command] and RANK[role] < RANK["write"]:
        raise ApiError(403, "forbidden", f"command '{command}' needs a key with role 'write'")
    return runtime.command(name, message)
