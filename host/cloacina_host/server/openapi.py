"""The OpenAPI document as the server really answers: each route's answer model and error
codes (:func:`answers`), the bearer scheme, no phantom 422 (validation errors answer 400
``invalid_request``), and Swagger UI and ReDoc served from assets inside the package
(``server/docs_assets``), so ``/docs`` works offline."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPBearer
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from .models import ErrorOut
from .responses import not_found

ASSETS = Path(__file__).resolve().parent / "docs_assets"
ASSETS_URL = "/docs/assets"
#: the files ``/docs/assets/{name}`` serves (nothing else of the folder)
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}

#: the bearer scheme: a dependency of every keyed route (``auth.principal``); it parses
#: nothing itself (``auto_error=False``), the envelope's 401 stays ``access.bearer_token``'s
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="an API key: `Authorization: Bearer clk_…` (docs/api.md, Conventions)",
)

WHY = {
    400: "malformed request",
    401: "missing, malformed, unknown or revoked key",
    403: "the key's role is too low for the route",
    404: "not found (an unknown tenant and a foreign one answer alike)",
    409: "conflict",
    413: "request body over the limit",
    429: "too many outstanding WebSocket tickets",
    503: "unavailable: nothing was done, retry later",
}

STORE = ("database_unavailable",)
RUNTIME = ("worker_unavailable", "events_unavailable", "no_owner", "database_unavailable")


def answers(
    model: type[BaseModel] | None,
    status: int = 200,
    *,
    keyed: bool = True,
    tenant: bool = True,
    body: bool = False,
    errors: Mapping[int, Sequence[str]] | None = None,
    description: str = "",
) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: ``model`` at ``status``, and the error envelope at
    each status the route can answer with its codes. ``keyed``: 401 and 403;
    ``tenant``: 404 for the path's tenant; ``body``: 400 ``invalid_request`` and 413;
    ``errors``: more codes by status (merged)."""
    codes: dict[int, list[str]] = {}

    def add(status: int, *names: str) -> None:
        for name in names:
            if name not in codes.setdefault(status, []):
                codes[status].append(name)

    if body:
        add(400, "invalid_request")
        add(413, "too_large")
    if keyed:
        add(401, "unauthorized")
        add(403, "forbidden")
    if tenant:
        add(404, "not_found")
    for status_, names in (errors or {}).items():
        add(status_, *names)
    out: dict[int | str, dict[str, Any]] = {}
    if model is not None:
        out[status] = {"model": model, "description": description or "Successful Response"}
    for status_ in sorted(codes):
        listed = ", ".join(f"`{c}`" for c in codes[status_])
        out[status_] = {"model": ErrorOut, "description": f"{WHY.get(status_, '')}: {listed}"}
    return out


def install(api: FastAPI) -> None:
    """The document without 422s, and ``/docs``, ``/redoc`` and their assets."""

    def document() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = get_openapi(
                title=api.title,
                version=api.version,
                description=api.description,
                routes=api.routes,
            )
            api.openapi_schema = without_422(schema)
        return api.openapi_schema

    api.openapi = document  # type: ignore[method-assign]

    @api.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{api.title} API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
            # no badge fetched from validator.swagger.io: nothing leaves this server
            swagger_ui_parameters={"validatorUrl": None},
        )

    @api.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{api.title} API",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
            with_google_fonts=False,
        )

    @api.get(ASSETS_URL + "/{name}", include_in_schema=False)
    async def asset(request: Request, name: str) -> Response:
        media = ASSET_TYPES.get(name)
        path = ASSETS / name
        if media is None or not path.is_file():
            raise not_found(f"documentation asset '{name}'")
        return FileResponse(path, media_type=media, headers={"cache-control": "max-age=3600"})


def without_422(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI advertises 422 for every route with parameters; this server answers a
    request that does not validate with 400 ``invalid_request`` instead (``asgi.py``).
    (And the empty JSON answer FastAPI adds beside a declared text one goes too.)"""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            if isinstance(operation, dict):
                responses = operation.get("responses", {})
                responses.pop("422", None)
                for answer in responses.values():
                    # a route answering text (``/metrics``) has no JSON answer too
                    content = answer.get("content", {})
                    if "text/plain" in content and content.get("application/json") == {
                        "schema": {}
                    }:
                        del content["application/json"]
    # and the schemas only those 422s named (HTTPValidationError holds ValidationError)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        rest = {k: v for k, v in components.items() if k != name}
        if f'"#/components/schemas/{name}"' not in json.dumps([schema.get("paths"), rest]):
            components.pop(name, None)
    return schema
