"""The WebSocket routes: events into an accumulator, reactor commands, a graph's outputs.

Authorization happens before the upgrade is accepted, so unknown names and foreign tenants
are refused with an HTTP answer (the envelope) where the client supports it."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from ..core.registry import Kind
from ..errors import CloacinaError
from ..isolation.tenant import TenantRuntime
from ..log import get_logger
from .access import ApiError, Principal, status_of
from .auth import ws_scope
from .context import Context, context_of
from .responses import envelope, stamped, stamped_run
from .streams import Inbox
from .ws_commands import check_command

log = get_logger()

WS_BATCH = 1024  # frames pushed in one reactor wake-up at most

router = APIRouter()


def _endpoint(ws: WebSocket) -> str:
    parts = ws.url.path.split("/")
    return parts[3] if len(parts) > 3 else "unknown"


def _closed(exc: BaseException) -> bool:
    """Whether an error only says the client went away."""
    return isinstance(exc, WebSocketDisconnect | ConnectionError) or "close" in str(exc).lower()


async def _deny(ctx: Context, ws: WebSocket, status: int, code: str, message: str) -> None:
    ctx.metrics.ws_messages.labels(_endpoint(ws), "refused").inc()
    log.info("ws_refused", path=ws.url.path, status=status, code=code, error=message)
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(envelope(status, code, message))
    else:
        await ws.close(code=1008, reason=message[:120])


async def _accept(
    ws: WebSocket, role: str, kind: Kind, name: str
) -> tuple[Context, Principal, TenantRuntime] | None:
    """Authorize the upgrade and accept it: the context, caller and runtime; None once
    refused (the client has its answer then)."""
    ctx = context_of(ws)
    try:
        who, runtime = await anyio.to_thread.run_sync(ws_scope, ctx, ws, role, kind, name)
    except ApiError as exc:
        await _deny(ctx, ws, exc.status, exc.code, exc.message)
        return None
    except CloacinaError as exc:
        await _deny(ctx, ws, status_of(exc), exc.code, str(exc))
        return None
    await ws.accept()
    return ctx, who, runtime


async def _serve(
    ctx: Context, ws: WebSocket, endpoint: str, body: Callable[[], Awaitable[None]]
) -> None:
    gauge = ctx.metrics.ws_connections.labels(endpoint)
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


@router.websocket("/v1/ws/accumulator/{name}")
async def ws_accumulator(ws: WebSocket, name: str) -> None:
    opened = await _accept(ws, "write", "accumulator", name)
    if opened is None:
        return
    ctx, _, runtime = opened
    tenant, events = runtime.tenant, ctx.events
    received = ctx.metrics.ws_messages.labels("accumulator", "in")
    sent = ctx.metrics.ws_messages.labels("accumulator", "out")
    inbox = Inbox()
    acks = ws.query_params.get("ack", "").lower() in ("1", "true", "yes")

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
            sequences, errors = await events.push_frames(tenant, name, batch)
            replies: list[dict[str, Any]] = [dict(e) for e in errors]
            if acks:  # opt-in: one ack per accepted frame, with its broker sequence
                replies += [{"type": "ack", "sequence": seq} for seq in sequences]
            for reply in replies:
                if open_:
                    try:
                        await ws.send_text(orjson.dumps(reply).decode())
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

    await _serve(ctx, ws, "accumulator", body)


@router.websocket("/v1/ws/reactor/{name}")
async def ws_reactor(ws: WebSocket, name: str) -> None:
    opened = await _accept(ws, "read", "reactor", name)
    if opened is None:
        return
    ctx, who, runtime = opened
    received = ctx.metrics.ws_messages.labels("reactor", "in")
    sent = ctx.metrics.ws_messages.labels("reactor", "out")
    role = who.role if not who.platform else "admin"

    async def body() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            received.inc()
            raw = message.get("text") or message.get("bytes") or b""
            try:
                command = check_command(orjson.loads(raw), role)
                reply = await ctx.events.command(runtime.tenant, name, command)
            except orjson.JSONDecodeError as exc:
                reply = {"type": "error", "code": "invalid_json", "error": f"not JSON: {exc}"}
            except ApiError as exc:
                reply = {"type": "error", "code": exc.code, "error": exc.message}
            except CloacinaError as exc:
                reply = {"type": "error", "code": exc.code, "error": str(exc)}
            await ws.send_text(orjson.dumps(ws_reply(reply)).decode())
            sent.inc()

    await _serve(ctx, ws, "reactor", body)


def ws_reply(reply: dict[str, Any]) -> dict[str, Any]:
    """A reactor socket's reply with the API's RFC 3339 timestamps (``last_fire_at``, each
    run's ``started_at``), as over HTTP."""
    out = stamped(reply, "last_fire_at")
    if isinstance(out.get("runs"), list):
        out["runs"] = [stamped_run(run) for run in out["runs"]]
    return out


def output_frame(run: bytes) -> str:
    """One run of the output stream as its text frame, ``started_at`` in RFC 3339."""
    return orjson.dumps(stamped_run(orjson.loads(run))).decode()


@router.websocket("/v1/ws/graph/{name}/outputs")
async def ws_outputs(ws: WebSocket, name: str) -> None:
    opened = await _accept(ws, "read", "graph", name)
    if opened is None:
        return
    ctx, _, runtime = opened
    tenant = runtime.tenant
    sent = ctx.metrics.ws_messages.labels("outputs", "out")
    follower = await ctx.events.follow(tenant, name)

    async def body() -> None:
        async def drain_client() -> None:
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass

        client = asyncio.create_task(drain_client())
        try:
            while not client.done():
                taker = asyncio.create_task(follower.take())
                await asyncio.wait({taker, client}, return_when=asyncio.FIRST_COMPLETED)
                if not taker.done():
                    taker.cancel()
                    break
                for run in taker.result():
                    await ws.send_text(output_frame(run))
                    sent.inc()
        finally:
            await follower.close()
            client.cancel()
            await asyncio.gather(client, return_exceptions=True)

    await _serve(ctx, ws, "outputs", body)
