"""Routes for signed packages: the public keys a tenant trusts (``signer add|list|remove``).
Whether a tenant accepts only signed packages is a tenant setting (``PATCH /v1/tenants/{t}``,
``require_signed``); an upload's signature is checked by the control plane."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from ..log import get_logger
from .auth import Admin, Read
from .context import Ctx
from .responses import json_response

log = get_logger()

router = APIRouter()


class SignerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    public_key: str = Field(min_length=1, max_length=4096)


@router.get("/v1/tenants/{tenant}/signers", tags=["signers"])
async def list_signers(ctx: Ctx, tenant: Read) -> Response:
    items = [s.to_dict() for s in await anyio.to_thread.run_sync(ctx.plane.signers.list, tenant)]
    required = await anyio.to_thread.run_sync(ctx.plane.signers.required, tenant)
    return json_response({"items": items, "total": len(items), "require_signed": required})


@router.post("/v1/tenants/{tenant}/signers", status_code=201, tags=["signers"])
async def add_signer(ctx: Ctx, tenant: Admin, body: SignerIn) -> Response:
    signer = await anyio.to_thread.run_sync(
        ctx.plane.signers.add, tenant, body.name, body.public_key
    )
    log.info("signer_added", tenant=tenant, key_id=signer.key_id, name=signer.name)
    return json_response(signer.to_dict(), 201)


@router.delete("/v1/tenants/{tenant}/signers/{key_id}", tags=["signers"])
async def remove_signer(ctx: Ctx, tenant: Admin, key_id: str) -> Response:
    await anyio.to_thread.run_sync(ctx.plane.signers.remove, tenant, key_id)
    log.info("signer_removed", tenant=tenant, key_id=key_id)
    return json_response({"status": "removed", "key_id": key_id})
