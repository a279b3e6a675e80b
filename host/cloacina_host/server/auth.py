"""Who is calling and what they may touch: API keys for HTTP, tickets for WebSockets.

Foreign and unknown tenants answer alike (404), so a key cannot probe other tenants."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials

from ..core.registry import Kind
from ..isolation.tenant import TenantRuntime
from .access import RANK, ApiError, Principal, authorize_metrics, bearer_token
from .context import Context, context_of
from .openapi import bearer
from .responses import not_found


def principal(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller of an HTTP request, from its bearer key (``bearer`` only puts the scheme
    in the OpenAPI document: the header is read here, for the envelope's 401)."""
    token = bearer_token(request.headers.get("authorization"))
    record = context_of(request).store.lookup_key(token)
    if record is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    return Principal.of(record)


Caller = Annotated[Principal, Depends(principal)]


def check_tenant(ctx: Context, who: Principal, tenant: str, role: str) -> None:
    if not who.platform and who.tenant != tenant:
        raise not_found(f"tenant '{tenant}'")  # foreign and unknown look alike
    if not ctx.store.tenant_exists(tenant):
        raise not_found(f"tenant '{tenant}'")
    if not who.platform and RANK[who.role] < RANK[role]:
        raise ApiError(
            403, "forbidden", f"this needs a key with role '{role}'; this key is '{who.role}'"
        )


def scoped(role: str) -> Callable[[Request, str, Principal], str]:
    """A dependency giving the path's ``{tenant}`` once the caller may act there as ``role``."""

    def dependency(request: Request, tenant: str, who: Caller) -> str:
        check_tenant(context_of(request), who, tenant, role)
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


def metrics_reader(request: Request) -> None:
    """Whether the caller may read ``/metrics`` on this address (docs/api.md, Metrics)."""
    ctx = context_of(request)
    cfg = ctx.settings
    if cfg.metrics_bind is not None:
        raise ApiError(
            404,
            "not_found",
            "metrics are not served on this address but on the separate metrics address "
            "set by --metrics-bind (CLOACINA_METRICS_BIND)",
        )
    authorize_metrics(
        ctx.store,
        request.headers.get("authorization"),
        bind_host=cfg.bind_host,
        token=cfg.metrics_token,
        auth=cfg.metrics_auth,
    )


MetricsReader = Annotated[None, Depends(metrics_reader)]


def ws_principal(ctx: Context, ws: WebSocket) -> Principal:
    """The caller of a WebSocket upgrade: a single-use ``?token=`` ticket or a bearer key."""
    ticket = ws.query_params.get("token")
    if ticket is not None:
        who = ctx.tickets.redeem(ticket)
        if who is None:
            raise ApiError(401, "unauthorized", "unknown, expired or already used ticket")
        live = any(
            k.id == who.key_id and k.revoked_at is None for k in ctx.store.list_keys(who.tenant)
        )
        if not live:
            raise ApiError(401, "unauthorized", "the ticket's API key was revoked")
        return Principal(who.key_id, who.tenant, who.role, who.is_admin)
    token = bearer_token(ws.headers.get("authorization"))
    record = ctx.store.lookup_key(token)
    if record is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    return Principal.of(record)


def ws_scope(
    ctx: Context, ws: WebSocket, role: str, kind: Kind, name: str
) -> tuple[Principal, TenantRuntime]:
    """Authorize an upgrade to the ``kind`` named ``name`` (worker thread): the caller and
    the runtime of its tenant; a platform key names the tenant with ``?tenant=``."""
    who = ws_principal(ctx, ws)
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
            raise not_found(f"tenant '{asked}'")
    check_tenant(ctx, who, tenant, role)
    runtime = ctx.plane.runtime(tenant)
    if not runtime.has(kind, name):
        raise not_found(f"{kind} '{name}' in tenant '{tenant}'")
    return who, runtime
