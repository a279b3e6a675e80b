"""Routes for signed packages: the public keys a tenant trusts (``signer add|list|remove``).
Whether a tenant accepts only signed packages is a tenant setting (``PATCH /v1/tenants/{t}``,
``require_signed``); an upload's signature is checked by the control plane."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from ..log import get_logger
from . import models as m
from .auth import Admin, Read
from .context import Ctx
from .openapi import STORE, answers
from .responses import Paging, json_response, stamped

log = get_logger()

router = APIRouter()


class SignerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    public_key: str = Field(min_length=1, max_length=4096)


@router.get(
    "/v1/tenants/{tenant}/signers",
    tags=["signers"],
    responses=answers(m.SignerList, errors={400: ("invalid_request",), 503: STORE}),
)
async def list_signers(ctx: Ctx, tenant: Read, page: Paging) -> Response:
    signers = await anyio.to_thread.run_sync(ctx.plane.signers.list, tenant)
    items = [stamped(s.to_dict(), "created_at") for s in signers]
    required = await anyio.to_thread.run_sync(ctx.plane.signers.required, tenant)
    return json_response({**page.of(items), "require_signed": required})


@router.post(
    "/v1/tenants/{tenant}/signers",
    status_code=201,
    tags=["signers"],
    responses=answers(
        m.SignerOut,
        201,
        body=True,
        errors={400: ("bad_signature",), 409: ("conflict",), 503: STORE},
    ),
)
async def add_signer(ctx: Ctx, tenant: Admin, body: SignerIn) -> Response:
    signer = await anyio.to_thread.run_sync(
        ctx.plane.signers.add, tenant, body.name, body.public_key
    )
    log.info("signer_added", tenant=tenant, key_id=signer.key_id, name=signer.name)
    return json_response(stamped(signer.to_dict(), "created_at"), 201)


@router.delete(
    "/v1/tenants/{tenant}/signers/{key_id}",
    tags=["signers"],
    responses=answers(m.SignerRemoved, errors={503: STORE}),
)
async def remove_signer(ctx: Ctx, tenant: Admin, key_id: str) -> Response:
    await anyio.to_thread.run_sync(ctx.plane.signers.remove, tenant, key_id)
    log.info("signer_removed", tenant=tenant, key_id=key_id)
    return json_response({"status": "removed", "key_id": key_id})
