"""``cloacina-server``: the HTTP + WebSocket API of docs/api.md over an :class:`~.app.App`.

FastAPI on uvicorn. Only this module names the web framework. Handlers that touch the
store or a runtime are plain ``def`` functions (FastAPI runs them in its thread pool) or
hand their work to a worker thread, so native calls and SQL never block the event loop.

Start it with :func:`run` (what ``cloacinactl server start`` calls) or ``cloacina-server``
(:func:`main`); build the ASGI app alone with :func:`create_app`.
"""

import argparse
import asyncio
import contextlib
import os
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, Literal

import anyio.to_thread
import orjson
import structlog
import uvicorn
from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from . import log as logsetup
from .access import (
    RANK,
    TICKET_TTL,
    ApiError,
    Principal,
    Tickets,
    bearer_token,
    ensure_bootstrap_key,
    status_of,
)
from .app import App, default_data_dir
from .errors import (
    CloacinaError,
    InvalidInputError,
    NotFoundError,
)
from .executor import GraphRun
from .metrics import Metrics
from .runtime import Runtime
from .store import Store
from .views import (
    accumulator_views,
    graph_views,
    newest_ids,
    package_item,
    push_frames,
    reactor_command,
    reactor_view,
    tenant_samples,
)

log = structlog.get_logger("cloacina")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
POLL_SECONDS = 5.0  # background reconcile (SPEC §5)
TICK_SECONDS = 0.1  # batch flushes and polling accumulators
MAX_BODY = 256 * 1024 * 1024
WS_QUEUE = 4096  # frames read ahead of the pusher; a full queue stops reading (backpressure)
WS_BATCH = 1024  # frames pushed in one reactor wake-up at most
WATCH_BUFFER = 10_000  # runs buffered per output-stream watcher before the oldest are dropped

_STATUS_CODES = {
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


# ---------------------------------------------------------------------- errors


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # NON_STR_KEYS: SQL rows' keys are str subclasses
    body = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    return Response(body, status, headers, media_type="application/json")


def envelope(status: int, code: str, message: str) -> Response:
    return _json({"error": message, "code": code}, status)


def _not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


# ---------------------------------------------------------------------- live outputs


class _Watch:
    """One output-stream subscriber: runs arrive from worker threads, are read on the loop.
    A burst of runs costs one loop wake-up."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.event = asyncio.Event()
        self.dropped = 0
        self._buf: deque[GraphRun] = deque(maxlen=WATCH_BUFFER)
        self._lock = threading.Lock()
        self._scheduled = False

    def offer(self, run: GraphRun) -> None:
        with self._lock:
            if len(self._buf) == WATCH_BUFFER:
                self.dropped += 1
            self._buf.append(run)
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        with self._lock:
            self._scheduled = False
        self.event.set()

    async def take(self) -> list[GraphRun]:
        await self.event.wait()
        self.event.clear()
        with self._lock:
            runs = list(self._buf)
            self._buf.clear()
        return runs


class OutputHub:
    """Fans finished graph runs out to the ``/v1/ws/graph/{name}/outputs`` streams.

    Registered as a :class:`~.metrics.Metrics` run listener; with nobody watching a graph,
    a run costs one dict lookup."""

    def __init__(self) -> None:
        self._watchers: dict[tuple[str, str], tuple[_Watch, ...]] = {}
        self._lock = threading.Lock()

    def __call__(self, tenant: str, run: GraphRun) -> None:
        watchers = self._watchers.get((tenant, run.graph))
        if watchers:
            for w in watchers:
                w.offer(run)

    def watch(self, tenant: str, graph: str) -> _Watch:
        w = _Watch(asyncio.get_running_loop())
        with self._lock:
            key = (tenant, graph)
            self._watchers[key] = (*self._watchers.get(key, ()), w)
        return w

    def unwatch(self, tenant: str, graph: str, w: _Watch) -> None:
        with self._lock:
            key = (tenant, graph)
            rest = tuple(x for x in self._watchers.get(key, ()) if x is not w)
            if rest:
                self._watchers[key] = rest
            else:
                self._watchers.pop(key, None)


class _Inbox:
    """Frames read from a socket, waiting for the pusher: a deque and two events rather than
    an ``asyncio.Queue`` (this is per frame, so it is kept cheap). Bounded: a full inbox stops
    the reader, and so the socket (TCP backpressure)."""

    def __init__(self, limit: int = WS_QUEUE) -> None:
        self.limit = limit
        self.frames: deque[bytes] = deque()
        self.closed = False
        self._ready = asyncio.Event()
        self._space = asyncio.Event()

    async def put(self, frame: bytes) -> None:
        frames = self.frames
        frames.append(frame)
        if not self._ready.is_set():
            self._ready.set()
        if len(frames) >= self.limit:
            self._space.clear()
            await self._space.wait()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def take(self, most: int) -> list[bytes]:
        """Up to ``most`` frames, waiting for one; [] once closed and drained."""
        frames = self.frames
        while not frames:
            if self.closed:
                return []
            self._ready.clear()
            await self._ready.wait()
        if len(frames) <= most:
            batch = list(frames)
            frames.clear()
        else:
            batch = [frames.popleft() for _ in range(most)]
        self._space.set()
        return batch


# ---------------------------------------------------------------------- edge middleware


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            rid = str(value.decode("latin-1")).strip()
            if 0 < len(rid) <= 128 and rid.isprintable():
                return rid
    return uuid.uuid4().hex


class _BodyTooLarge(ApiError):
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
        rid = _request_id(scope)
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

        await self.app(scope, receive, send_with_id)

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
                    raise _BodyTooLarge(limit)
            return message

        try:
            length = _content_length(scope)
            if length is not None and length > limit:
                raise _BodyTooLarge(limit)
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
            self.metrics.api_duration.labels(method, template).observe(time.perf_counter() - t0)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


# ---------------------------------------------------------------------- request bodies


class TenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    description: str = ""


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    role: Literal["read", "write", "admin"] = "read"


class FireIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: dict[str, Any] | None = None


# ---------------------------------------------------------------------- the app


@dataclass
class Settings:
    """Knobs of :func:`create_app` (tests shorten them)."""

    ticket_ttl: float = TICKET_TTL
    poll_seconds: float = POLL_SECONDS
    tick_seconds: float = TICK_SECONDS
    max_body: int = MAX_BODY


def create_app(
    app: App,
    metrics: Metrics,
    *,
    bootstrap_key: str | None,
    settings: Settings | None = None,
) -> ASGIApp:
    """The ASGI app of docs/api.md over ``app``.

    ``metrics`` should be the observer ``app`` was built with (``App(..., observer=metrics)``)
    so fires and runs are measured and the live output streams see every run. On a store
    without keys, a platform admin key (``bootstrap_key`` or a generated one) is created
    and written to ``<data>/bootstrap-key``. Startup reconciles the stored packages; a
    background task reconciles again every ``poll_seconds``.
    """
    cfg = settings or Settings()
    store: Store = app.store
    tickets = Tickets(cfg.ticket_ttl)
    hub = OutputHub()
    metrics.run_listeners.append(hub)
    if metrics.source is None:
        metrics.source = lambda: tenant_samples(app)
    ensure_bootstrap_key(app, bootstrap_key)
    ready = threading.Event()

    def reconcile_all() -> None:
        tenants = {t["name"] for t in store.list_tenants()} | set(app.host.tenants())
        for tenant in sorted(tenants):
            try:
                report = app.reconcile_stored(tenant)
            except Exception as exc:  # one tenant's trouble must not stop the others
                log.error("reconcile_failed", tenant=tenant, error=str(exc))
            else:
                metrics.load_failures(tenant, len(report.failed))

    def tick_all() -> None:
        for tenant in app.host.tenants():
            app.host.runtime(tenant).tick()

    async def every(seconds: float, work: Callable[[], None], name: str) -> None:
        while True:
            try:
                await anyio.to_thread.run_sync(work)
            except Exception as exc:
                log.error(f"{name}_failed", error=str(exc))
            if name == "reconcile":
                ready.set()
            await asyncio.sleep(seconds)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(every(cfg.poll_seconds, reconcile_all, "reconcile")),
            asyncio.create_task(every(cfg.tick_seconds, tick_all, "tick")),
        ]
        log.info(
            "server_started",
            data_dir=str(app.data_dir),
            database=store.engine.url.render_as_string(),
        )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            log.info("server_stopped")

    api = FastAPI(
        title="cloacina-server",
        version="1",
        description="Reactors, computation graphs and packages of cloacina tenants.",
        lifespan=lifespan,
    )

    # ------------------------------------------------------------------ error envelope

    @api.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Response:
        return envelope(exc.status, exc.code, exc.message)

    @api.exception_handler(CloacinaError)
    async def _host_error(_: Request, exc: CloacinaError) -> Response:
        return envelope(status_of(exc), exc.code, str(exc))

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        status = exc.status_code
        code = _STATUS_CODES.get(status, "error")
        if status == 404:
            message = f"no route {request.method} {request.url.path}"
        elif status == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        response = envelope(status, code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @api.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # starlette's ServerErrorMiddleware sends this, then re-raises to the Edge
        log.error("request_failed", path=request.url.path, error=repr(exc), exc_info=exc)
        return envelope(500, "internal", f"internal error: {exc}")

    @api.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors()[:3]:
            if err.get("type") == "json_invalid":
                parts.append("the body is not valid JSON")
                continue
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return envelope(400, "invalid_request", "invalid request: " + "; ".join(parts))

    # ------------------------------------------------------------------ dependencies

    def principal(request: Request) -> Principal:
        token = bearer_token(request.headers.get("authorization"))
        record = store.lookup_key(token)
        if record is None:
            raise ApiError(401, "unauthorized", "unknown or revoked API key")
        return Principal.of(record)

    Caller = Annotated[Principal, Depends(principal)]

    def check_tenant(who: Principal, tenant: str, role: str) -> None:
        if not who.platform and who.tenant != tenant:
            raise _not_found(f"tenant '{tenant}'")  # foreign and unknown look alike
        if not store.tenant_exists(tenant):
            raise _not_found(f"tenant '{tenant}'")
        if not who.platform and RANK[who.role] < RANK[role]:
            raise ApiError(
                403, "forbidden", f"this needs a key with role '{role}'; this key is '{who.role}'"
            )

    def scoped(role: str) -> Callable[[str, Principal], str]:
        def dependency(tenant: str, who: Caller) -> str:
            check_tenant(who, tenant, role)
            return tenant

        return dependency

    Read = Annotated[str, Depends(scoped("read"))]
    Write = Annotated[str, Depends(scoped("write"))]
    Admin = Annotated[str, Depends(scoped("admin"))]

    def platform(who: Caller) -> Principal:
        if not who.platform:
            raise ApiError(403, "forbidden", "this needs a platform admin key")
        return who

    Platform = Annotated[Principal, Depends(platform)]

    # ------------------------------------------------------------------ probes

    @api.get("/health", tags=["probes"])
    async def health() -> Response:
        return _json({"status": "ok"})

    @api.get("/ready", tags=["probes"])
    def ready_probe() -> Response:
        try:
            store.count_keys()
        except Exception as exc:
            return envelope(503, "not_ready", f"the database is not reachable: {exc}")
        if not ready.is_set():
            return envelope(503, "not_ready", "stored packages are not reconciled yet")
        return _json({"status": "ready"})

    @api.get("/metrics", tags=["probes"])
    def metrics_route() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    # ------------------------------------------------------------------ auth

    @api.post("/v1/auth/ws-ticket", tags=["auth"])
    def ws_ticket(who: Caller) -> Response:
        ttl = tickets.ttl
        return _json(
            {
                "ticket": tickets.issue(who),
                "expires_in_seconds": int(ttl) if float(ttl).is_integer() else ttl,
            }
        )

    @api.get("/v1/auth/whoami", tags=["auth"])
    def whoami(who: Caller) -> Response:
        """The calling key: its tenant (null for a platform key) and role."""
        return _json(
            {
                "key_id": who.key_id,
                "tenant": who.tenant,
                "role": who.role,
                "is_admin": who.is_admin,
            }
        )

    # ------------------------------------------------------------------ tenants

    @api.post("/v1/tenants", status_code=201, tags=["tenants"])
    def create_tenant(body: TenantIn, _: Platform) -> Response:
        return _json(store.create_tenant(body.name, body.description), 201)

    @api.get("/v1/tenants", tags=["tenants"])
    def list_tenants(_: Platform) -> Response:
        items = store.list_tenants()
        return _json({"items": items, "total": len(items)})

    @api.delete("/v1/tenants/{tenant}", tags=["tenants"])
    def delete_tenant(tenant: str, _: Platform) -> Response:
        store.delete_tenant(tenant)
        app.drop_tenant(tenant)
        log.info("tenant_deleted", tenant=tenant)
        return _json({"status": "deleted", "name": tenant})

    # ------------------------------------------------------------------ keys

    @api.post("/v1/tenants/{tenant}/keys", status_code=201, tags=["keys"])
    def create_key(tenant: Admin, body: KeyIn) -> Response:
        record, plaintext = store.create_key(body.name, body.role, tenant)
        log.info("key_created", tenant=tenant, key=record.id, role=record.role)
        return _json(
            {
                "id": record.id,
                "name": record.name,
                "key": plaintext,
                "role": record.role,
                "tenant": record.tenant,
                "created_at": record.created_at,
            },
            201,
        )

    @api.get("/v1/tenants/{tenant}/keys", tags=["keys"])
    def list_keys(tenant: Admin) -> Response:
        items = []
        for k in store.list_keys(tenant):
            d = k.to_dict()
            del d["is_admin"]
            items.append(d)
        return _json({"items": items, "total": len(items)})

    @api.delete("/v1/tenants/{tenant}/keys/{key_id}", tags=["keys"])
    def revoke_key(tenant: Admin, key_id: str) -> Response:
        try:
            store.revoke_key(key_id, tenant)
        except NotFoundError:
            raise _not_found(f"key '{key_id}' in tenant '{tenant}'") from None
        log.info("key_revoked", tenant=tenant, key=key_id)
        return _json({"status": "revoked", "id": key_id})

    # ------------------------------------------------------------------ packages

    def package_items(tenant: str) -> list[dict[str, Any]]:
        rows = store.list_packages(tenant)
        statuses = {s["name"]: s for s in store.read_status(tenant)}
        newest = newest_ids(rows)
        return [package_item(r, statuses, newest[r.name]) for r in rows]

    upload_doc: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    }

    @api.post(
        "/v1/tenants/{tenant}/packages",
        status_code=201,
        tags=["packages"],
        openapi_extra=upload_doc,
    )
    async def upload_package(request: Request, tenant: Write) -> Response:
        try:
            form = await request.form(max_files=1, max_fields=4)
        except StarletteHTTPException as exc:
            raise ApiError(400, "invalid_request", f"invalid multipart body: {exc.detail}") from exc
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(
                    400,
                    "invalid_request",
                    "upload the archive as multipart/form-data field 'file'",
                )
            data = await upload.read()
        finally:
            await form.close()
        if not data:
            raise ApiError(400, "invalid_package", "the uploaded file is empty")
        row, status = await anyio.to_thread.run_sync(app.upload, tenant, data)
        if status.get("status") == "failed":
            metrics.load_failures(tenant)
        item = await anyio.to_thread.run_sync(package_items, tenant)
        mine = next((i for i in item if i["id"] == row.id), None)
        log.info("package_uploaded", tenant=tenant, package=row.name, version=row.version)
        return _json(
            {
                "id": row.id,
                "name": row.name,
                "version": row.version,
                "tenant": tenant,
                "status": mine["status"] if mine else status.get("status"),
                "reason": mine["reason"] if mine else status.get("reason"),
            },
            201,
        )

    @api.get("/v1/tenants/{tenant}/packages", tags=["packages"])
    def list_packages(tenant: Read) -> Response:
        items = package_items(tenant)
        return _json({"items": items, "total": len(items)})

    @api.get("/v1/tenants/{tenant}/packages/{ref}", tags=["packages"])
    def get_package(tenant: Read, ref: str) -> Response:
        row = store.find_package(tenant, ref)
        if row is None:
            raise _not_found(f"package '{ref}' in tenant '{tenant}'")
        item = next(i for i in package_items(tenant) if i["id"] == row.id)
        item["declarations"] = row.manifest.declarations
        return _json(item)

    @api.delete("/v1/tenants/{tenant}/packages/{ref}", tags=["packages"])
    def delete_package(tenant: Write, ref: str) -> Response:
        row, messages = app.delete(tenant, ref)
        log.info("package_deleted", tenant=tenant, package=row.name, version=row.version)
        return _json(
            {
                "status": "deleted",
                "id": row.id,
                "name": row.name,
                "version": row.version,
                "messages": messages,
            }
        )

    # ------------------------------------------------------------------ runtime views

    @api.get("/v1/tenants/{tenant}/reactors", tags=["runtime"])
    def list_reactors(tenant: Read) -> Response:
        reactors = sorted(app.runtime(tenant).reactors(), key=lambda r: r.decl.name)
        items = [reactor_view(r) for r in reactors]
        return _json({"items": items, "total": len(items)})

    @api.get("/v1/tenants/{tenant}/reactors/{name}", tags=["runtime"])
    def get_reactor(tenant: Read, name: str) -> Response:
        return _json(reactor_view(app.runtime(tenant).reactor(name), detail=True))

    @api.post("/v1/tenants/{tenant}/reactors/{name}/fire", tags=["runtime"])
    def fire_reactor(tenant: Write, name: str, body: FireIn | None = None) -> Response:
        inputs = body.inputs if body is not None else None
        runs = app.runtime(tenant).fire(name, inputs or None)
        return _json({"reactor": name, "runs": [r.to_dict() for r in runs]})

    @api.get("/v1/tenants/{tenant}/graphs", tags=["runtime"])
    def list_graphs(tenant: Read) -> Response:
        items = graph_views(app.runtime(tenant))
        return _json({"items": items, "total": len(items)})

    @api.get("/v1/tenants/{tenant}/graphs/{name}", tags=["runtime"])
    def get_graph(tenant: Read, name: str) -> Response:
        items = graph_views(app.runtime(tenant), only=name)
        if not items:
            raise _not_found(f"graph '{name}' in tenant '{tenant}'")
        return _json(items[0])

    @api.get("/v1/tenants/{tenant}/accumulators", tags=["runtime"])
    def list_accumulators(tenant: Read) -> Response:
        items = accumulator_views(app.runtime(tenant))
        return _json({"items": items, "total": len(items)})

    @api.post("/v1/tenants/{tenant}/accumulators/{name}/events", tags=["runtime"])
    async def push_event(request: Request, tenant: Write, name: str) -> Response:
        body = await request.body()
        fires = await anyio.to_thread.run_sync(app.runtime(tenant).push, name, body)
        return _json({"accumulator": name, "fires": fires})

    # ------------------------------------------------------------------ websockets

    async def deny(ws: WebSocket, status: int, code: str, message: str) -> None:
        metrics.ws_messages.labels(_endpoint(ws), "refused").inc()
        log.info("ws_refused", path=ws.url.path, status=status, code=code, error=message)
        if "websocket.http.response" in ws.scope.get("extensions", {}):
            await ws.send_denial_response(envelope(status, code, message))
        else:
            await ws.close(code=1008, reason=message[:120])

    def ws_principal(ws: WebSocket) -> Principal:
        """The caller of a WebSocket upgrade (worker thread)."""
        ticket = ws.query_params.get("token")
        if ticket is not None:
            who = tickets.redeem(ticket)
            if who is None:
                raise ApiError(401, "unauthorized", "unknown, expired or already used ticket")
            live = any(
                k.id == who.key_id and k.revoked_at is None for k in store.list_keys(who.tenant)
            )
            if not live:
                raise ApiError(401, "unauthorized", "the ticket's API key was revoked")
            return who
        token = bearer_token(ws.headers.get("authorization"))
        record = store.lookup_key(token)
        if record is None:
            raise ApiError(401, "unauthorized", "unknown or revoked API key")
        return Principal.of(record)

    def ws_scope(ws: WebSocket, role: str, kind: str, name: str) -> tuple[Principal, Runtime]:
        who = ws_principal(ws)
        asked = ws.query_params.get("tenant")
        if who.platform:
            if not asked:
                raise ApiError(
                    400, "invalid_request", "a platform admin key must name a tenant: ?tenant="
                )
            tenant = asked
        else:
            assert who.tenant is not None
            tenant = who.tenant
            if asked and asked != tenant:
                raise _not_found(f"tenant '{asked}'")
        check_tenant(who, tenant, role)
        runtime = app.host.runtime(tenant)
        registry = runtime.registry
        names: Collection[str] = (
            registry.accumulators
            if kind == "accumulator"
            else registry.reactors
            if kind == "reactor"
            else registry.graphs
        )
        if name not in names:
            raise _not_found(f"{kind} '{name}' in tenant '{tenant}'")
        return who, runtime

    async def open_ws(
        ws: WebSocket, role: str, kind: str, name: str
    ) -> tuple[Principal, Runtime] | None:
        try:
            return await anyio.to_thread.run_sync(ws_scope, ws, role, kind, name)
        except ApiError as exc:
            await deny(ws, exc.status, exc.code, exc.message)
        except CloacinaError as exc:
            await deny(ws, status_of(exc), exc.code, str(exc))
        return None

    async def serve_ws(ws: WebSocket, endpoint: str, body: Callable[[], Awaitable[None]]) -> None:
        gauge = metrics.ws_connections.labels(endpoint)
        gauge.inc()
        try:
            await body()
        except Exception as exc:
            if not _closed(exc):
                log.exception("ws_failed", endpoint=endpoint)
                with contextlib.suppress(Exception):
                    await ws.close(code=1011)
        finally:
            gauge.dec()

    @api.websocket("/v1/ws/accumulator/{name}")
    async def ws_accumulator(ws: WebSocket, name: str) -> None:
        opened = await open_ws(ws, "write", "accumulator", name)
        if opened is None:
            return
        runtime = opened[1]
        await ws.accept()
        received = metrics.ws_messages.labels("accumulator", "in")
        sent = metrics.ws_messages.labels("accumulator", "out")
        inbox = _Inbox()

        async def read() -> None:
            receive = ws.receive
            try:
                while True:
                    message = await receive()
                    text = message.get("text")
                    if text is not None:
                        data: bytes | None = text.encode("utf-8")
                    elif message["type"] == "websocket.disconnect":
                        break
                    else:
                        data = message.get("bytes")
                    if data is not None:
                        await inbox.put(data)
            finally:
                inbox.close()

        async def pump() -> None:
            open_ = True
            while True:
                batch = await inbox.take(WS_BATCH)  # all that arrived: one wake-up for it
                if not batch:
                    return
                received.inc(len(batch))
                _, errors = await anyio.to_thread.run_sync(push_frames, runtime, name, batch)
                for error in errors:
                    if open_:
                        try:
                            await ws.send_text(orjson.dumps(error).decode())
                            sent.inc()
                        except Exception:
                            open_ = False

        async def body() -> None:
            reader = asyncio.create_task(read())
            try:
                await pump()
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

        await serve_ws(ws, "accumulator", body)

    @api.websocket("/v1/ws/reactor/{name}")
    async def ws_reactor(ws: WebSocket, name: str) -> None:
        opened = await open_ws(ws, "read", "reactor", name)
        if opened is None:
            return
        who, runtime = opened
        await ws.accept()
        received = metrics.ws_messages.labels("reactor", "in")
        sent = metrics.ws_messages.labels("reactor", "out")

        async def body() -> None:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                received.inc()
                raw = message.get("text") or message.get("bytes") or b""
                try:
                    command = orjson.loads(raw)
                    reply = await anyio.to_thread.run_sync(
                        reactor_command,
                        runtime,
                        name,
                        command,
                        who.role if not who.platform else "admin",
                    )
                except orjson.JSONDecodeError as exc:
                    reply = {"type": "error", "code": "invalid_json", "error": f"not JSON: {exc}"}
                except ApiError as exc:
                    reply = {"type": "error", "code": exc.code, "error": exc.message}
                except CloacinaError as exc:
                    reply = {"type": "error", "code": exc.code, "error": str(exc)}
                await ws.send_text(orjson.dumps(reply).decode())
                sent.inc()

        await serve_ws(ws, "reactor", body)

    @api.websocket("/v1/ws/graph/{name}/outputs")
    async def ws_outputs(ws: WebSocket, name: str) -> None:
        opened = await open_ws(ws, "read", "graph", name)
        if opened is None:
            return
        tenant = opened[1].tenant
        await ws.accept()
        sent = metrics.ws_messages.labels("outputs", "out")
        watch = hub.watch(tenant, name)

        async def body() -> None:
            async def drain_client() -> None:
                while (await ws.receive())["type"] != "websocket.disconnect":
                    pass

            client = asyncio.create_task(drain_client())
            try:
                while not client.done():
                    taker = asyncio.create_task(watch.take())
                    await asyncio.wait({taker, client}, return_when=asyncio.FIRST_COMPLETED)
                    if not taker.done():
                        taker.cancel()
                        break
                    for run in taker.result():
                        await ws.send_text(orjson.dumps(run.to_dict()).decode())
                        sent.inc()
            finally:
                hub.unwatch(tenant, name, watch)
                client.cancel()
                await asyncio.gather(client, return_exceptions=True)

        await serve_ws(ws, "outputs", body)

    return Edge(api, metrics, cfg.max_body)


def _endpoint(ws: WebSocket) -> str:
    parts = ws.url.path.split("/")
    return parts[3] if len(parts) > 3 else "unknown"


def _closed(exc: BaseException) -> bool:
    """Whether an error only says the client went away."""
    return isinstance(exc, WebSocketDisconnect | ConnectionError) or "close" in str(exc).lower()


# ---------------------------------------------------------------------- running


def parse_bind(bind: str) -> tuple[str, int]:
    """``host:port`` (or ``:port``, or ``host``) into a host and a port."""
    host, sep, port = bind.rpartition(":")
    if not sep:
        return bind or DEFAULT_HOST, DEFAULT_PORT
    try:
        number = int(port)
    except ValueError:
        raise InvalidInputError(f"invalid bind address {bind!r}: use HOST:PORT") from None
    return (host.strip("[]") or DEFAULT_HOST), number


def run(
    data_dir: str | Path | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    database_url: str | None = None,
    *,
    log_level: str = "info",
    bootstrap_key: str | None = None,
    settings: Settings | None = None,
) -> None:
    """Serve the API until SIGINT/SIGTERM (what ``cloacinactl server start`` runs).

    - ``data_dir``: state directory (``$CLOACINA_HOME`` or ``~/.cloacina`` when None): the
      SQLite database, library copies and ``bootstrap-key``.
    - ``host``/``port``: where to listen (default ``127.0.0.1:8080``; see :func:`parse_bind`).
    - ``database_url``: ``postgresql://…`` for PostgreSQL; None for SQLite in ``data_dir``.
    - ``log_level``: uvicorn's level. structlog is configured by the caller
      (:func:`cloacina_host.log.configure`), not here.
    - ``bootstrap_key``: the first platform admin key; None reads ``CLOACINA_BOOTSTRAP_KEY``
      and generates one when that is unset too (only used while the store has no keys).
    - ``settings``: None reads ``CLOACINA_WS_TICKET_TTL`` (seconds) and
      ``CLOACINA_MAX_BODY_BYTES`` from the environment, else the defaults.
    """
    data = Path(data_dir) if data_dir else default_data_dir()
    if bootstrap_key is None:
        bootstrap_key = os.environ.get("CLOACINA_BOOTSTRAP_KEY") or None
    if settings is None:
        settings = Settings(
            ticket_ttl=float(os.environ.get("CLOACINA_WS_TICKET_TTL") or TICKET_TTL),
            max_body=int(os.environ.get("CLOACINA_MAX_BODY_BYTES") or MAX_BODY),
        )
    store = Store.for_data_dir(data, database_url)
    metrics = Metrics()
    app = App(data, store, observer=metrics)
    try:
        asgi = create_app(app, metrics, bootstrap_key=bootstrap_key, settings=settings)
        config = uvicorn.Config(
            asgi,
            host=host,
            port=port,
            log_config=None,
            log_level=log_level.lower(),
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        log.info("server_listening", url=f"http://{host}:{port}")
        if threading.current_thread() is threading.main_thread():
            # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to
            # the handler it found: make that handler end the process with status 0.
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, _exit_ok)
        uvicorn.Server(config).run()
    finally:
        app.close()


def _exit_ok(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    """``cloacina-server``: flags fall back to environment variables."""
    parser = argparse.ArgumentParser(
        prog="cloacina-server", description="Serve the cloacina HTTP and WebSocket API."
    )
    parser.add_argument(
        "--bind",
        default=os.environ.get("CLOACINA_BIND") or f"{DEFAULT_HOST}:{DEFAULT_PORT}",
        help="HOST:PORT to listen on (env CLOACINA_BIND; default %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=os.environ.get("CLOACINA_HOME") or None,
        help="state directory (env CLOACINA_HOME; default ~/.cloacina)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CLOACINA_DATABASE_URL") or None,
        help="postgresql://… (env CLOACINA_DATABASE_URL; default SQLite in the data directory)",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("CLOACINA_LOG_LEVEL") or "info",
        help="log level (env CLOACINA_LOG_LEVEL; default %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        host, port = parse_bind(args.bind)
    except InvalidInputError as exc:
        parser.error(str(exc))
    logsetup.configure(args.log_level)
    run(args.data_dir, host, port, args.database_url, log_level=args.log_level)


if __name__ == "__main__":
    main()
