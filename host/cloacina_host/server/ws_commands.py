"""The work behind the WebSocket endpoints, framework-free (run on worker threads): pushing
a batch of frames into an accumulator, and the reactor commands."""

from __future__ import annotations

from typing import Any

import orjson

from ..core.runtime import Runtime
from ..errors import CloacinaError, InvalidInputError, PluginCallError
from .access import RANK, ApiError


def push_frames(
    runtime: Runtime, name: str, frames: list[bytes]
) -> tuple[int, list[dict[str, str]]]:
    """Push WebSocket frames to an accumulator in one reactor wake-up (worker thread).

    Each frame is one JSON event. A frame that is not JSON, or that the accumulator refuses,
    becomes an error frame; the others are still pushed, in order."""
    errors: list[dict[str, str]] = []
    valid: list[bytes] = []
    for frame in frames:
        try:
            orjson.loads(frame)
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
    refused: list[PluginCallError] = []
    try:
        fires = runtime.reactor_of(name).push(name, valid, refused) if valid else 0
    except CloacinaError as exc:
        errors.append({"type": "error", "code": exc.code, "error": str(exc)})
        return 0, errors
    errors += [{"type": "error", "code": e.code, "error": str(e)} for e in refused]
    return fires, errors


def reactor_command(runtime: Runtime, name: str, message: Any, role: str) -> dict[str, Any]:
    """One ``/v1/ws/reactor/{name}`` command (worker thread); raises CloacinaError/ApiError."""
    if not isinstance(message, dict) or not isinstance(message.get("command"), str):
        raise InvalidInputError('a command is a JSON object like {"command": "get_state"}')
    command = message["command"]
    if command == "get_state":
        return {"type": "state", **runtime.reactor(name).state_snapshot()}
    known = ("force_fire", "fire_with", "pause", "resume")
    if command not in known:
        raise InvalidInputError(
            f"unknown command {command!r}: use one of get_state, {', '.join(known)}"
        )
    if RANK[role] < RANK["write"]:
        raise ApiError(403, "forbidden", f"command '{command}' needs a key with role 'write'")
    if command == "force_fire":
        runs = runtime.fire(name)
        return {"type": "fired", "reactor": name, "runs": [r.to_dict() for r in runs]}
    if command == "fire_with":
        inputs = message.get("inputs")
        if not isinstance(inputs, dict):
            raise InvalidInputError('fire_with needs "inputs": {accumulator: value}')
        runs = runtime.fire(name, inputs)
        return {"type": "fired", "reactor": name, "runs": [r.to_dict() for r in runs]}
    if command == "pause":
        runtime.pause(name)
        return {"type": "paused", "reactor": name}
    return {"type": "resumed", "reactor": name, "fires": runtime.resume(name)}
