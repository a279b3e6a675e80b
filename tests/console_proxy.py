"""A reverse proxy that serves a server under a path prefix, the way nginx's
``location /cloacina/ { proxy_pass http://upstream/; }`` does: the prefix is stripped, HTTP
and WebSocket are forwarded, nothing outside the prefix is served (404). It records every
path asked for, so a test can tell that a page never left its prefix."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from server_fixtures import free_port

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "proxy-connection",
}
WS_HEADERS = {"authorization", "x-request-id"}

Scope = dict[str, Any]


class PrefixProxy:
    def __init__(self, upstream: str, prefix: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.prefix = prefix.rstrip("/")
        #: (kind, path with query) of every request that reached the proxy
        self.seen: list[tuple[str, str]] = []
        self.port = free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    @contextlib.contextmanager
    def running(self) -> Iterator[PrefixProxy]:
        config = uvicorn.Config(self, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the proxy did not start"
            time.sleep(0.02)
        try:
            yield self
        finally:
            self._server.should_exit = True
            self._thread.join(10)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        self.seen.append((scope["type"], path + (f"?{query}" if query else "")))
        inside = path.startswith(self.prefix + "/")
        rest = path[len(self.prefix) :] + (f"?{query}" if query else "")
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send, rest if inside else None)
        else:
            await self._http(scope, receive, send, rest if inside else None)

    async def _http(self, scope: Scope, receive: Any, send: Any, rest: str | None) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if rest is None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"outside the prefix"})
            return
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in HOP_BY_HOP
        ]
        async with httpx.AsyncClient(timeout=60) as client:
            answer = await client.request(
                scope["method"], self.upstream + rest, headers=headers, content=body
            )
        out = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in answer.headers.multi_items()
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-encoding"
        ]
        out.append((b"content-length", str(len(answer.content)).encode()))
        await send({"type": "http.response.start", "status": answer.status_code, "headers": out})
        await send({"type": "http.response.body", "body": answer.content})

    async def _websocket(self, scope: Scope, receive: Any, send: Any, rest: str | None) -> None:
        assert (await receive())["type"] == "websocket.connect"
        if rest is None:
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() in WS_HEADERS
        }
        url = self.upstream.replace("http://", "ws://", 1) + rest
        try:
            upstream = await connect(url, additional_headers=headers, open_timeout=10)
        except InvalidStatus:
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})

        async def downstream() -> None:  # upstream -> browser
            with contextlib.suppress(ConnectionClosed):
                async for frame in upstream:
                    if isinstance(frame, bytes):
                        await send({"type": "websocket.send", "bytes": frame})
                    else:
                        await send({"type": "websocket.send", "text": frame})
            await send({"type": "websocket.close", "code": 1000})

        pump = asyncio.create_task(downstream())
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    break
                await upstream.send(message.get("text") or message.get("bytes") or b"")
        finally:
            await upstream.close()
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
