"""The outermost ASGI layer: request ids, the body limit, request metrics and the access log,
a last envelope."""

import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..log import get_logger
from .access import ApiError
from .metrics import Metrics
from .responses import envelope

log = get_logger()


def request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            rid = str(value.decode("latin-1")).strip()
            if 0 < len(rid) <= 128 and rid.isprintable():
                return rid
    return uuid.uuid4().hex


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413, "too_large", f"request body is larger than the limit of {limit} bytes"
        )


class Edge:
    """Outermost ASGI layer: ``x-request-id`` on every response (HTTP and WebSocket
    handshakes), the body size limit, request metrics, and an envelope for any error
    that escaped the handlers."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        header = (b"x-request-id", rid.encode("latin-1"))
        scope.setdefault("state", {})["request_id"] = rid
        with structlog.contextvars.bound_contextvars(request_id=rid):
            if kind == "websocket":
                await self._websocket(scope, receive, send, header)
            else:
                await self._http(scope, receive, send, header)

    async def _websocket(
        self, scope: Scope, receive: Receive, send: Send, header: tuple[bytes, bytes]
    ) -> None:
        async def send_with_id(message: Message) -> None:
            if message["type"] in ("websocket.accept", "websocket.http.response.start"):
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "websocket",
                path=scope.get("path"),
                duration_ms=round((time.perf_counter() - t0) * 1000, 3),
            )

    async def _http(
        self, scope: Scope, receive: Receive, send: Send, header: tuple[bytes, bytes]
    ) -> None:
        t0 = time.perf_counter()
        state = {"started": False, "status": 500}
        limit = self.max_body

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                state["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            length = content_length(scope)
            if length is not None and length > limit:
                raise BodyTooLarge(limit)
            await self.app(scope, limited_receive, send_with_id)
        except Exception as exc:
            if not state["started"]:
                if isinstance(exc, ApiError):
                    response = envelope(exc.status, exc.code, exc.message)
                else:
                    log.exception("request_failed", path=scope.get("path"))
                    response = envelope(500, "internal", f"internal error: {exc}")
                await response(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.api_requests.labels(method, template, str(state["status"])).inc()
            elapsed = time.perf_counter() - t0
            self.metrics.api_duration.labels(method, template).observe(elapsed)
            # the access log: one event per request (the query string, which may carry a
            # ticket, is left out; the request id comes from the bound context)
            log.info(
                "request",
                method=method,
                path=scope.get("path"),
                route=template,
                status=state["status"],
                duration_ms=round(elapsed * 1000, 3),
            )


def content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
