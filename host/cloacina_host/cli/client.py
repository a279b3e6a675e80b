"""A small HTTP client of the server's API (docs/api.md), for ``cloacinactl``.

Every failure becomes one exception with the server's own sentence: :class:`RemoteError`
(the server answered with an error status) or :class:`UnreachableError` (no answer).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import orjson

from ..errors import CloacinaError

DEFAULT_SERVER = "http://127.0.0.1:8080"
TIMEOUT = 60.0
CHUNK = 256 * 1024


#: items asked for per request when a command lists everything (the server's maximum)
PAGE = 1000


class RemoteError(CloacinaError):
    """The server answered with an error status; the message is the envelope's ``error``."""

    code = "remote_error"

    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.remote_code = code


class UnreachableError(CloacinaError):
    """No HTTP answer: connection refused, DNS failure, timeout, broken connection."""

    code = "unreachable"


def segment(name: str) -> str:
    """One URL path segment (names may hold characters that are special in URLs)."""
    return quote(name, safe="@")


class Client:
    """Bearer-authenticated JSON requests against one server."""

    def __init__(self, server: str, key: str | None, *, timeout: float = TIMEOUT) -> None:
        self.server = server.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "cloacinactl"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        try:
            self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)
        except (httpx.InvalidURL, ValueError) as exc:
            raise CloacinaError(f"invalid server URL '{server}': {exc}") from None

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request; the decoded JSON answer, or :class:`RemoteError` /
        :class:`UnreachableError`."""
        try:
            response = self._http.request(method, path, **kwargs)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise CloacinaError(f"invalid server URL '{self.server}': {exc}") from None
        except httpx.TimeoutException:
            raise UnreachableError(
                f"the server at {self.server} did not answer in {self._http.timeout.read:g}s"
            ) from None
        except httpx.TransportError as exc:
            raise UnreachableError(
                f"cannot reach the server at {self.server}: {_reason(exc)}"
            ) from None
        if response.status_code >= 400:
            raise _remote_error(response)
        if not response.content:
            return None
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise RemoteError(
                f"the server at {self.server} answered {method} {path} with something that "
                "is not JSON (is this a cloacina server?)",
                response.status_code,
                "invalid_response",
            ) from None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def get_all(self, path: str) -> Any:
        """A list route's answer with every item: its pages (``limit``/``offset``, at most
        :data:`PAGE` a request) fetched in turn; ``total`` is the server's count."""
        body = self.request("GET", path, params={"limit": PAGE, "offset": 0})
        items = list(body["items"])
        while len(items) < int(body.get("total", 0)):
            more = self.request("GET", path, params={"limit": PAGE, "offset": len(items)})
            if not more["items"]:  # shrank while paging
                break
            items.extend(more["items"])
        whole = {k: v for k, v in body.items() if k not in ("limit", "offset")}
        whole["items"] = items
        return whole

    def post(self, path: str, body: Any = None) -> Any:
        return (
            self.request("POST", path, json=body)
            if body is not None
            else self.request("POST", path)
        )

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def upload(
        self,
        path: str,
        file: Path,
        progress: Callable[[int], None],
        signature: bytes | None = None,
    ) -> Any:
        """POST ``file`` as the multipart field ``file``, streamed, and ``signature`` (its
        detached .sig) as the field ``signature``; ``progress(n)`` is called with every
        chunk's size as it is read for sending."""
        boundary = secrets.token_hex(16)
        filename = file.name.replace('"', "%22").replace("\r", "").replace("\n", "")
        signed = b""
        if signature is not None:
            signed = (
                (
                    f"--{boundary}\r\n"
                    'Content-Disposition: form-data; name="signature"; '
                    f'filename="{filename}.sig"\r\n'
                    "Content-Type: application/json\r\n\r\n"
                ).encode()
                + signature
                + b"\r\n"
            )
        head = (
            signed
            + (
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
        )
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = file.stat().st_size

        def body() -> Iterator[bytes]:
            yield head
            with file.open("rb") as f:
                while chunk := f.read(CHUNK):
                    progress(len(chunk))
                    yield chunk
            yield tail

        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail)),
        }
        return self.request("POST", path, content=body(), headers=headers)

    def follow(self, path: str, params: dict[str, str] | None = None) -> Iterator[Any]:
        """JSON messages of a WebSocket endpoint (``path``, e.g. ``/v1/ws/…``), authenticated
        with a single-use ticket, until the server closes the socket."""
        from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
        from websockets.sync.client import connect

        ticket = self.request("POST", "/v1/auth/ws-ticket")["ticket"]
        query = urlencode({**(params or {}), "token": ticket})
        url = self.server.replace("http", "ws", 1) + path + "?" + query
        try:
            with connect(url, open_timeout=TIMEOUT) as ws:
                while True:
                    try:
                        message = ws.recv()
                    except ConnectionClosed:
                        return
                    yield orjson.loads(message)
        except InvalidStatus as exc:
            body = exc.response.body or b""
            try:
                envelope = orjson.loads(body)
                message, code = str(envelope["error"]), str(envelope["code"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                message, code = body.decode("utf-8", "replace") or str(exc), "error"
            raise RemoteError(message, exc.response.status_code, code) from None
        except (OSError, WebSocketException) as exc:
            raise UnreachableError(f"cannot follow {url.split('?')[0]}: {exc}") from None


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text:
        return "connection refused (is `cloacinactl server start` running there?)"
    return text


def _remote_error(response: httpx.Response) -> RemoteError:
    status = response.status_code
    message, code = "", "error"
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
        code = str(body.get("code") or code)
    if not message:
        text = response.text.strip().splitlines()
        message = f"HTTP {status} {response.reason_phrase}" + (f": {text[0]}" if text else "")
    return RemoteError(message, status, code)
