"""The ASGI app: one :class:`~.context.Context`, the routers, the error envelope, and the
background work (reconcile every ``poll_seconds``, tick every ``tick_seconds``)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp

from ..control.plane import ControlPlane
from ..control.replicas import HEARTBEAT_SECONDS, Wakeups
from ..control.tickets import Tickets
from ..errors import CloacinaError, WorkerUnavailableError
from ..events.jetstream import JetStreamEvents
from ..events.plane import EmbeddedEvents, EventPlane
from ..log import get_logger
from . import console, openapi, routes, signing, sockets, workers
from .access import ApiError, ensure_bootstrap_key, status_of
from .context import Context, Settings
from .edge import Edge
from .metrics import Metrics
from .payloads import tenant_samples, worker_statuses
from .responses import STATUS_CODES, envelope

log = get_logger()

RECONCILE_THREADS = 4


def create_app(
    plane: ControlPlane,
    metrics: Metrics,
    *,
    bootstrap_key: str | None,
    settings: Settings | None = None,
) -> ASGIApp:
    """The ASGI app of docs/api.md over ``plane``.

    ``metrics`` should be the observer ``plane`` was built with
    (``ControlPlane(..., observer=metrics)``)
    so fires and runs are measured and the live output streams see every run. On a store
    without keys, a platform admin key (``bootstrap_key`` or a generated one) is created
    and written to ``<data>/bootstrap-key``. Startup reconciles the stored packages; a
    background task reconciles again every ``poll_seconds``.
    """
    cfg = settings or Settings()
    tickets = Tickets(plane.store, cfg.ticket_ttl)
    events: EventPlane
    if cfg.events is not None:
        events = JetStreamEvents(plane, cfg.events)
    else:
        embedded = EmbeddedEvents(plane)
        metrics.run_listeners.append(embedded.hub)  # the live output streams
        events = embedded
    ctx = Context(plane=plane, events=events, metrics=metrics, settings=cfg, tickets=tickets)
    if metrics.source is None:
        metrics.source = lambda: tenant_samples(plane)
    if metrics.workers is None:
        metrics.workers = lambda: worker_statuses(plane)
    ensure_bootstrap_key(plane, bootstrap_key)

    api = FastAPI(
        title="cloacina-server",
        version="1",
        description="Reactors, computation graphs and packages of cloacina tenants.",
        lifespan=_lifespan(ctx),
        docs_url=None,
        redoc_url=None,
    )
    api.state.cloacina = ctx
    openapi.install(api)
    _install_error_envelope(api)
    api.include_router(routes.router)
    api.include_router(sockets.router)
    api.include_router(workers.router)
    api.include_router(signing.router)
    api.include_router(console.router)
    return Edge(api, metrics, cfg.max_body)


def _lifespan(ctx: Context) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    plane, store, cfg = ctx.plane, ctx.store, ctx.settings

    def reconcile(tenant: str) -> None:
        try:
            report = plane.reconcile_stored(tenant)
        except WorkerUnavailableError as exc:  # its worker reloads everything when back
            log.info("reconcile_deferred", tenant=tenant, reason=str(exc))
        except Exception as exc:  # one tenant's trouble must not stop the others
            log.error("reconcile_failed", tenant=tenant, error=str(exc))
        else:
            ctx.metrics.load_failures(tenant, len(report.failed))

    def reconcile_all() -> None:
        # tenants side by side: one whose worker hangs in a load does not hold up the rest
        tenants = {t["name"] for t in store.list_tenants()} | set(plane.tenants())
        with ThreadPoolExecutor(RECONCILE_THREADS, thread_name_prefix="cloacina-reconcile") as pool:
            list(pool.map(reconcile, sorted(tenants)))

    def tick_all() -> None:
        if ctx.events.kind != "embedded":
            return  # each reactor's owner ticks it
        for tenant in plane.tenants():
            plane.runtime(tenant).tick()  # in-process runtimes; workers tick themselves

    async def every(seconds: float, work: Callable[[], None], name: str) -> None:
        while True:
            try:
                await anyio.to_thread.run_sync(work)
            except Exception as exc:
                log.error(f"{name}_failed", error=str(exc))
            if name == "reconcile":
                ctx.ready.set()
            await asyncio.sleep(seconds)

    wakeups = Wakeups(reconcile, lambda: [t["name"] for t in store.list_tenants()])

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(plane.replicas.beat)
        await ctx.events.start()
        tasks = [
            asyncio.create_task(every(cfg.poll_seconds, reconcile_all, "reconcile")),
            asyncio.create_task(every(cfg.tick_seconds, tick_all, "tick")),
            asyncio.create_task(every(HEARTBEAT_SECONDS, plane.replicas.beat, "heartbeat")),
        ]
        plane.listen(wakeups.wake)  # PostgreSQL: other replicas' changes wake this one
        log.info(
            "server_started",
            data_dir=str(plane.data_dir),
            database=store.redacted_url,
            replica=plane.replica,
            events=ctx.events.kind,
        )
        try:
            yield
        finally:
            wakeups.close()
            await ctx.events.stop()  # owned reactors saved and handed back first
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            log.info("server_stopped")

    return lifespan


def _install_error_envelope(api: FastAPI) -> None:
    """Every error, whoever raised it, answers with ``{error, code}``."""

    @api.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Response:
        return envelope(exc.status, exc.code, exc.message)

    @api.exception_handler(CloacinaError)
    async def _host_error(_: Request, exc: CloacinaError) -> Response:
        return envelope(status_of(exc), exc.code, str(exc), exc.details)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        status = exc.status_code
        code = STATUS_CODES.get(status, "error")
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
