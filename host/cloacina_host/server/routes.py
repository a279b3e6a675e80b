"""The HTTP routes of docs/api.md: probes, auth, tenants, keys, packages, runtime views.

Handlers that touch the store or a runtime are plain ``def`` functions (FastAPI runs them
in its thread pool) or hand their work to a worker thread, so native calls and SQL never
block the event loop."""

from typing import Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ..control.plane import ControlPlane
from ..control.status import State
from ..control.store import MAX_TENANT_DESCRIPTION, PackageRow
from ..control.topology import StoredPackage, topology
from ..errors import NotFoundError
from ..log import get_logger
from . import models as m
from .access import ApiError
from .auth import Admin, Caller, MetricsReader, Platform, Read, Write
from .context import Ctx
from .openapi import RUNTIME, STORE, answers
from .payloads import package_items
from .responses import (
    Paging,
    each,
    envelope,
    json_response,
    not_found,
    rfc3339,
    stamped,
    stamped_run,
)

log = get_logger()

router = APIRouter()


class TenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=MAX_TENANT_DESCRIPTION)


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    role: Literal["read", "write", "admin"] = "read"


class FireIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: dict[str, Any] | None = None


# ---------------------------------------------------------------------- probes


@router.get("/health", tags=["probes"], responses=answers(m.HealthOut, keyed=False, tenant=False))
async def health() -> Response:
    return json_response({"status": "ok"})


@router.get(
    "/ready",
    tags=["probes"],
    responses=answers(m.ReadyOut, keyed=False, tenant=False, errors={503: ("not_ready",)}),
)
def ready_probe(ctx: Ctx) -> Response:
    try:
        ctx.store.count_keys()
    except Exception as exc:
        return envelope(503, "not_ready", f"the database is not reachable: {exc}")
    if not ctx.ready.is_set():
        return envelope(503, "not_ready", "stored packages are not reconciled yet")
    down = {}
    for tenant in ctx.plane.tenants():
        worker = ctx.plane.worker_status(tenant)
        if worker is not None and worker["state"] not in ("ready", "stopped"):
            down[tenant] = {"state": worker["state"], "reason": worker["last_death"]}
    if down:  # this replica still serves every other tenant: degraded, not unready
        return json_response({"status": "degraded", "tenants": down})
    return json_response({"status": "ready"})


@router.get(
    "/metrics",
    tags=["probes"],
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text",
        },
        **answers(None, tenant=False, errors={404: ("not_found",)}),
    },
    openapi_extra={"security": [{}, {"bearer": []}]},
)
def metrics_route(ctx: Ctx, _: MetricsReader) -> Response:
    return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


# ---------------------------------------------------------------------- auth


@router.post(
    "/v1/auth/ws-ticket",
    tags=["auth"],
    responses=answers(m.TicketOut, tenant=False, errors={429: ("too_many_tickets",), 503: STORE}),
)
def ws_ticket(ctx: Ctx, who: Caller) -> Response:
    ttl = ctx.tickets.ttl
    return json_response(
        {
            "ticket": ctx.tickets.issue(who),
            "expires_in_seconds": int(ttl) if float(ttl).is_integer() else ttl,
        }
    )


@router.get(
    "/v1/auth/whoami",
    tags=["auth"],
    responses=answers(m.WhoAmIOut, tenant=False, errors={503: STORE}),
)
def whoami(who: Caller) -> Response:
    """The calling key: its tenant (null for a platform key) and role."""
    return json_response(
        {
            "key_id": who.key_id,
            "tenant": who.tenant,
            "role": who.role,
            "is_admin": who.is_admin,
        }
    )


# ---------------------------------------------------------------------- tenants


@router.post(
    "/v1/tenants",
    status_code=201,
    tags=["tenants"],
    responses=answers(
        m.TenantOut,
        201,
        tenant=False,
        body=True,
        errors={400: ("invalid_input",), 409: ("conflict",), 503: STORE},
    ),
)
def create_tenant(ctx: Ctx, body: TenantIn, _: Platform) -> Response:
    row = ctx.store.create_tenant(body.name, body.description)
    return json_response(stamped(row, "created_at"), 201)


@router.get(
    "/v1/tenants",
    tags=["tenants"],
    responses=answers(m.TenantList, tenant=False, errors={400: ("invalid_request",), 503: STORE}),
)
def list_tenants(ctx: Ctx, _: Platform, page: Paging) -> Response:
    return json_response(page.of(each(ctx.store.list_tenants(), "created_at")))


@router.delete(
    "/v1/tenants/{tenant}",
    tags=["tenants"],
    responses=answers(m.TenantDeleted, errors={503: STORE}),
)
def delete_tenant(ctx: Ctx, tenant: str, _: Platform) -> Response:
    ctx.store.delete_tenant(tenant)
    ctx.plane.drop_tenant(tenant)
    log.info("tenant_deleted", tenant=tenant)
    return json_response({"status": "deleted", "name": tenant})


# ---------------------------------------------------------------------- keys


@router.post(
    "/v1/tenants/{tenant}/keys",
    status_code=201,
    tags=["keys"],
    responses=answers(m.KeyCreated, 201, body=True, errors={503: STORE}),
)
def create_key(ctx: Ctx, tenant: Admin, body: KeyIn) -> Response:
    record, plaintext = ctx.store.create_key(body.name, body.role, tenant)
    log.info("key_created", tenant=tenant, key=record.id, role=record.role)
    return json_response(
        {
            "id": record.id,
            "name": record.name,
            "key": plaintext,
            "role": record.role,
            "tenant": record.tenant,
            "created_at": rfc3339(record.created_at),
        },
        201,
    )


@router.get(
    "/v1/tenants/{tenant}/keys",
    tags=["keys"],
    responses=answers(m.KeyList, errors={400: ("invalid_request",), 503: STORE}),
)
def list_keys(ctx: Ctx, tenant: Admin, page: Paging) -> Response:
    items = []
    for k in ctx.store.list_keys(tenant):
        d = stamped(k.to_dict(), "created_at")
        del d["is_admin"]
        items.append(d)
    return json_response(page.of(items))


@router.delete(
    "/v1/tenants/{tenant}/keys/{key_id}",
    tags=["keys"],
    responses=answers(m.KeyRevoked, errors={503: STORE}),
)
def revoke_key(ctx: Ctx, tenant: Admin, key_id: str) -> Response:
    try:
        ctx.store.revoke_key(key_id, tenant)
    except NotFoundError:
        raise not_found(f"key '{key_id}' in tenant '{tenant}'") from None
    log.info("key_revoked", tenant=tenant, key=key_id)
    return json_response({"status": "revoked", "id": key_id})


# ---------------------------------------------------------------------- packages


def stored_items(
    plane: ControlPlane, tenant: str, rows: list[PackageRow] | None = None
) -> list[dict[str, Any]]:
    """The tenant's stored packages with their status (``rows``: ones already read)."""
    store = plane.store
    if rows is None:
        rows = store.list_packages(tenant)
    return package_items(rows, store.read_status(tenant), plane.replicas.alive())


UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "signature": {
                            "type": "string",
                            "format": "binary",
                            "description": "the archive's detached signature (.sig)",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/v1/tenants/{tenant}/packages",
    status_code=201,
    tags=["packages"],
    openapi_extra=UPLOAD_DOC,
    responses=answers(
        m.UploadOut,
        201,
        body=True,
        errors={
            400: (
                "invalid_package",
                "abi_mismatch",
                "invalid_declaration",
                "invalid_topology",
                "signature_required",
                "untrusted_signer",
                "bad_signature",
            ),
            409: ("duplicate_name", "contract_changed", "conflict"),
            503: ("worker_unavailable", "database_unavailable"),
        },
    ),
)
async def upload_package(ctx: Ctx, request: Request, tenant: Write) -> Response:
    try:
        form = await request.form(max_files=2, max_fields=4)
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
        signed = form.get("signature")  # the detached .sig, as a file or a text field
        signature = (
            await signed.read()
            if isinstance(signed, UploadFile)
            else (signed.encode() if isinstance(signed, str) else None)
        )
    finally:
        await form.close()
    if not data:
        raise ApiError(400, "invalid_package", "the uploaded file is empty")
    row, status = await anyio.to_thread.run_sync(ctx.plane.upload, tenant, data, signature)
    if status is not None and status.state is State.FAILED:
        ctx.metrics.load_failures(tenant)
    items = await anyio.to_thread.run_sync(stored_items, ctx.plane, tenant)
    mine = next((i for i in items if i["id"] == row.id), None)
    log.info("package_uploaded", tenant=tenant, package=row.name, version=row.version)
    # The status is this replica's: it reconciled the upload before answering. The others
    # load it on their NOTIFY; `summary` and `replicas` say how far they have come.
    here = next(
        (r for r in (mine or {}).get("replicas", []) if r["replica"] == ctx.plane.replica), None
    )
    return json_response(
        {
            "id": row.id,
            "name": row.name,
            "version": row.version,
            "tenant": tenant,
            "signer": row.signer,
            "replica": ctx.plane.replica,
            "status": here["status"] if here else (status.state.value if status else "unknown"),
            "reason": here["reason"] if here else (status.reason if status else None),
            "summary": mine["summary"] if mine else None,
            "replicas": mine["replicas"] if mine else [],
        },
        201,
    )


@router.get(
    "/v1/tenants/{tenant}/packages",
    tags=["packages"],
    responses=answers(m.PackageList, errors={400: ("invalid_request",), 503: STORE}),
)
def list_packages(ctx: Ctx, tenant: Read, page: Paging) -> Response:
    return json_response(page.of(each(stored_items(ctx.plane, tenant), "created_at")))


@router.get(
    "/v1/tenants/{tenant}/packages/{ref}",
    tags=["packages"],
    responses=answers(m.PackageDetail, errors={503: STORE}),
)
def get_package(ctx: Ctx, tenant: Read, ref: str) -> Response:
    row = ctx.store.find_package(tenant, ref)
    if row is None:
        raise not_found(f"package '{ref}' in tenant '{tenant}'")
    item = next((i for i in stored_items(ctx.plane, tenant) if i["id"] == row.id), None)
    if item is None:  # deleted between the two reads
        raise not_found(f"package '{ref}' in tenant '{tenant}'")
    item["declarations"] = row.manifest.declarations
    return json_response(stamped(item, "created_at"))


@router.get(
    "/v1/tenants/{tenant}/topology",
    tags=["packages"],
    responses=answers(m.TopologyOut, errors={503: STORE}),
)
def get_topology(ctx: Ctx, tenant: Read) -> Response:
    """The tenant's binding graph, from its stored packages (``control/topology.py``)."""
    return json_response(tenant_topology(ctx.plane, tenant))


def tenant_topology(plane: ControlPlane, tenant: str) -> dict[str, Any]:
    stored = plane.store.list_packages(tenant)  # read once: the items are made of these rows
    rows = {r.id: r for r in stored}
    items = stored_items(plane, tenant, stored)
    live = [i for i in items if i["status"] != State.SUPERSEDED.value]
    packages = [
        StoredPackage(
            i["name"],
            i["version"],
            rows[i["id"]].manifest.declarations,
            i["status"],
            i.get("reason") or "",
            i.get("summary") or "",
        )
        for i in live
    ]
    return topology(tenant, packages)


@router.delete(
    "/v1/tenants/{tenant}/packages/{ref}",
    tags=["packages"],
    responses=answers(
        m.PackageDeleted,
        errors={409: ("bound_subscribers",), 503: ("worker_unavailable", "database_unavailable")},
    ),
)
def delete_package(ctx: Ctx, tenant: Write, ref: str) -> Response:
    row, messages = ctx.plane.delete(tenant, ref)
    log.info("package_deleted", tenant=tenant, package=row.name, version=row.version)
    return json_response(
        {
            "status": "deleted",
            "id": row.id,
            "name": row.name,
            "version": row.version,
            "messages": messages,
        }
    )


# ---------------------------------------------------------------------- runtime views
#
# Each of these asks the event plane: the tenant's runtime (its worker with isolation), and
# with JetStream the reactor's saved state and the runs stream too. A worker that is down
# answers 503 ``worker_unavailable``; an unreachable broker 503 ``events_unavailable``.


@router.get(
    "/v1/tenants/{tenant}/reactors",
    tags=["runtime"],
    responses=answers(m.ReactorList, errors={400: ("invalid_request",), 503: RUNTIME}),
)
async def list_reactors(ctx: Ctx, tenant: Read, page: Paging) -> Response:
    items = await ctx.events.reactor_views(tenant)
    return json_response(page.of(each(items, "last_fire_at")))


@router.get(
    "/v1/tenants/{tenant}/reactors/{name}",
    tags=["runtime"],
    responses=answers(m.ReactorDetail, errors={503: RUNTIME}),
)
async def get_reactor(ctx: Ctx, tenant: Read, name: str) -> Response:
    return json_response(stamped(await ctx.events.reactor_view(tenant, name), "last_fire_at"))


@router.post(
    "/v1/tenants/{tenant}/reactors/{name}/fire",
    tags=["runtime"],
    responses=answers(
        m.FireOut,
        body=True,
        errors={400: ("invalid_input",), 409: ("invalid_state",), 503: RUNTIME},
    ),
)
async def fire_reactor(ctx: Ctx, tenant: Write, name: str, body: FireIn | None = None) -> Response:
    inputs = body.inputs if body is not None else None
    runs = await ctx.events.fire(tenant, name, inputs or None)
    return json_response({"reactor": name, "runs": [stamped_run(r) for r in runs]})


COMMAND = answers(m.CommandOut, errors={409: ("invalid_state",), 503: RUNTIME})


@router.post("/v1/tenants/{tenant}/reactors/{name}/pause", tags=["runtime"], responses=COMMAND)
async def pause_reactor(ctx: Ctx, tenant: Write, name: str) -> Response:
    """Stop firing (events still accumulate); the same as the socket's ``pause``."""
    return json_response(await ctx.events.command(tenant, name, {"command": "pause"}))


@router.post("/v1/tenants/{tenant}/reactors/{name}/resume", tags=["runtime"], responses=COMMAND)
async def resume_reactor(ctx: Ctx, tenant: Write, name: str) -> Response:
    """Fire again (at once when the criteria hold); the same as the socket's ``resume``."""
    return json_response(await ctx.events.command(tenant, name, {"command": "resume"}))


def graph_item(item: dict[str, Any]) -> dict[str, Any]:
    """A graph view of the API: its runs' ``started_at`` as RFC 3339."""
    out = dict(item)
    if out.get("last_run") is not None:
        out["last_run"] = stamped_run(out["last_run"])
    if "outputs" in out:
        out["outputs"] = [stamped_run(r) for r in out["outputs"]]
    return out


@router.get(
    "/v1/tenants/{tenant}/graphs",
    tags=["runtime"],
    responses=answers(m.GraphList, errors={400: ("invalid_request",), 503: RUNTIME}),
)
async def list_graphs(ctx: Ctx, tenant: Read, page: Paging) -> Response:
    items = await ctx.events.graph_views(tenant)
    return json_response(page.of([graph_item(i) for i in items]))


@router.get(
    "/v1/tenants/{tenant}/graphs/{name}",
    tags=["runtime"],
    responses=answers(m.GraphDetail, errors={503: RUNTIME}),
)
async def get_graph(ctx: Ctx, tenant: Read, name: str) -> Response:
    items = await ctx.events.graph_views(tenant, name)
    if not items:
        raise not_found(f"graph '{name}' in tenant '{tenant}'")
    return json_response(graph_item(items[0]))


@router.get(
    "/v1/tenants/{tenant}/accumulators",
    tags=["runtime"],
    responses=answers(m.AccumulatorList, errors={400: ("invalid_request",), 503: RUNTIME}),
)
async def list_accumulators(ctx: Ctx, tenant: Read, page: Paging) -> Response:
    items = await ctx.events.accumulator_views(tenant)
    return json_response(page.of(each(items, "last_event_at")))


@router.post(
    "/v1/tenants/{tenant}/accumulators/{name}/events",
    tags=["runtime"],
    responses=answers(
        m.PushOut,
        body=True,
        errors={400: ("invalid_input", "plugin_error"), 503: RUNTIME},
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"description": "the event"}}},
        }
    },
)
async def push_event(ctx: Ctx, request: Request, tenant: Write, name: str) -> Response:
    """One event. With the embedded event plane the answer has the fires it caused; with
    JetStream it comes once the broker confirmed the event, with its ``sequence`` (the
    ``Idempotency-Key`` header, when given, is its message id: a repeat is not applied
    twice)."""
    body = await request.body()
    key = request.headers.get("idempotency-key")
    return json_response(await ctx.events.push(tenant, name, body, key))
