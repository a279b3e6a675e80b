"""Routes about the processes behind the API: the replicas sharing the database, a
tenant's worker (its state, an operator's restart), letting a quarantined package load
again, and a tenant's settings (call deadline, signed packages only)."""

from __future__ import annotations

import time

import anyio.to_thread
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from ..log import get_logger
from . import models as m
from .access import ApiError
from .auth import Admin, Platform, Read, Write
from .context import Ctx
from .openapi import STORE, answers
from .responses import Paging, json_response, not_found, stamped

log = get_logger()

router = APIRouter()


class TenantPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call_deadline_seconds: float | None = Field(default=None, gt=0, le=3600)
    require_signed: bool | None = None


def _no_isolation(tenant: str) -> ApiError:
    return ApiError(
        409,
        "no_worker",
        f"tenant '{tenant}' has no worker: this server runs with --isolation none",
    )


WORKER = answers(m.WorkerOut, errors={409: ("no_worker",), 503: ("worker_unavailable", *STORE)})


@router.get(
    "/v1/replicas",
    tags=["replicas"],
    responses=answers(m.ReplicaList, tenant=False, errors={400: ("invalid_request",), 503: STORE}),
)
def list_replicas(ctx: Ctx, _: Platform, page: Paging) -> Response:
    """The replicas sharing this database: alive while their heartbeat is fresh."""
    now = time.time()
    items = [
        stamped(r.to_dict(now), "started_at", "heartbeat_at") for r in ctx.plane.replicas.all()
    ]
    for item in items:
        item["self"] = item["id"] == ctx.plane.replica
    events = dict(ctx.events.status())
    if "owned" in events:
        events["owned"] = [stamped(o, "since") for o in events["owned"]]
    return json_response({**page.of(items), "self": ctx.plane.replica, "events": events})


@router.get("/v1/tenants/{tenant}/worker", tags=["workers"], responses=WORKER)
def get_worker(ctx: Ctx, tenant: Read) -> Response:
    status = ctx.plane.worker_status(tenant)
    if status is None:
        raise _no_isolation(tenant)
    return json_response({"tenant": tenant, **status})


@router.post("/v1/tenants/{tenant}/restart", tags=["workers"], responses=WORKER)
async def restart_worker(ctx: Ctx, tenant: Admin) -> Response:
    """Restart the tenant's worker and reload its packages (also after it was marked
    ``crashed``, which stops the automatic restarts)."""
    status = await anyio.to_thread.run_sync(ctx.plane.restart_tenant, tenant)
    if status is None:
        raise _no_isolation(tenant)
    log.info("tenant_restarted", tenant=tenant)
    return json_response({"tenant": tenant, **status})


@router.post(
    "/v1/tenants/{tenant}/packages/{ref}/retry",
    tags=["packages"],
    responses=answers(
        m.PackageStatusOut, errors={503: ("worker_unavailable", "database_unavailable")}
    ),
)
def retry_package(ctx: Ctx, tenant: Write, ref: str) -> Response:
    """Let a quarantined package load again (also done by uploading it again)."""
    status = ctx.plane.retry(tenant, ref)
    body = status.to_dict() if status is not None else {"name": ref, "status": "pending"}
    return json_response(body)


@router.patch(
    "/v1/tenants/{tenant}",
    tags=["tenants"],
    responses=answers(m.TenantSettingsOut, body=True, errors={503: STORE}),
)
def patch_tenant(ctx: Ctx, tenant: str, body: TenantPatch, _: Platform) -> Response:
    """A tenant's settings, each changed only when given: ``call_deadline_seconds`` (null:
    the server's default) and ``require_signed`` (accept only signed packages)."""
    if not ctx.store.tenant_exists(tenant):
        raise not_found(f"tenant '{tenant}'")
    given = body.model_fields_set
    if "call_deadline_seconds" in given:
        ctx.plane.set_call_deadline(tenant, body.call_deadline_seconds)
    if "require_signed" in given:
        ctx.plane.signers.set_required(tenant, bool(body.require_signed))
    settings = {
        "call_deadline_seconds": ctx.plane.books.call_deadline(tenant),
        "require_signed": ctx.plane.signers.required(tenant),
    }
    log.info("tenant_updated", tenant=tenant, **settings)
    return json_response({"name": tenant, **settings})
