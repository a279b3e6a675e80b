"""JSON responses and the ``{error, code}`` envelope every error answer carries."""

from typing import Any

import orjson
from starlette.responses import Response

from .access import ApiError

# the envelope's code for an HTTP status the framework raised itself
STATUS_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    503: "not_ready",
}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # NON_STR_KEYS: SQL rows' keys are str subclasses
    body = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    return Response(body, status, headers, media_type="application/json")


def envelope(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Response:
    """The error answer: ``{error, code}``, plus ``details`` when the error has any (e.g. the
    subscribers blocking a delete)."""
    body: dict[str, Any] = {"error": message, "code": code}
    if details:
        body["details"] = details
    return json_response(body, status)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")
