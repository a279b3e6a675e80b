"""JSON responses, the ``{error, code}`` envelope every error answer carries, RFC 3339
timestamps and the paging of lists (docs/api.md, Conventions)."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, Query
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
    body = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)
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


def rfc3339(epoch: float | None) -> str | None:
    """An epoch timestamp as RFC 3339 in UTC with ``Z`` (microseconds), None as None."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def stamped(item: dict[str, Any], *fields: str) -> dict[str, Any]:
    """``item`` with each of ``fields`` that it has as RFC 3339 (a new dict)."""
    out = dict(item)
    for name in fields:
        if name in out and isinstance(out[name], int | float):
            out[name] = rfc3339(out[name])
    return out


def stamped_run(run: dict[str, Any]) -> dict[str, Any]:
    """A ``GraphRun`` of the API: ``started_at`` as RFC 3339."""
    return stamped(run, "started_at")


DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    def of(self, items: Sequence[Any]) -> dict[str, Any]:
        """``{items, total, limit, offset}``: ``total`` counts ``items`` before paging."""
        window = list(items[self.offset : self.offset + self.limit])
        return {"items": window, "total": len(items), "limit": self.limit, "offset": self.offset}


def paging(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"at most this many items (1-{MAX_LIMIT})")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, description="skip this many items first")] = 0,
) -> Page:
    return Page(limit, offset)


Paging = Annotated[Page, Depends(paging)]


def each(items: Iterable[dict[str, Any]], *fields: str) -> list[dict[str, Any]]:
    return [stamped(i, *fields) for i in items]
