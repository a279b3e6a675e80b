"""A real ``cloacina-server`` process for the server tests, and small HTTP/WebSocket helpers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.sync.client import ClientConnection, connect

BOOT = "clk_bootstrap-test-key"
GUARD = "reactor 'PriceReactor' has 1 bound subscriber(s): ['price_consumer']; unbind them first"
NOT_LOADED = "Error loading reactor-bound CG 'price_consumer': reactor 'PriceReactor' not loaded"
#: An empty list answer (the default page: docs/api.md, Conventions)
EMPTY = {"items": [], "total": 0, "limit": 100, "offset": 0}
#: How long the shared server's WebSocket tickets live: short, so the expiry test is quick.
TICKET_TTL = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python -m cloacina_host.server`` on a free port, bound to ``host`` (127.0.0.1 by
    default; requests always go to 127.0.0.1), with any further ``args``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        args: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.env = {"CLOACINA_BOOTSTRAP_KEY": BOOT, **(env or {})}
        self.host = host
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0, port: int | None = None) -> Server:
        self.port = port or free_port()
        cmd = [
            sys.executable,
            "-m",
            "cloacina_host.server",
            "--bind",
            f"{self.host}:{self.port}",
            "--data-dir",
            str(self.data_dir),
            *self.args,
        ]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        env = {**os.environ, **self.env, "CLOACINA_LOG_LEVEL": "info"}
        env.pop("CLOACINA_DATABASE_URL", None)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited at start:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"the server was not ready in {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("the server did not stop on SIGTERM") from None
        self.proc = None

    # ------------------------------------------------------------------ HTTP

    def request(
        self, method: str, path: str, key: str | None = BOOT, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        response = httpx.request(method, self.url + path, headers=headers, timeout=60, **kwargs)
        assert response.headers.get("x-request-id"), "every response carries x-request-id"
        return response

    def ok(self, method: str, path: str, key: str | None = BOOT, **kwargs: Any) -> Any:
        response = self.request(method, path, key, **kwargs)
        assert response.status_code < 300, (response.status_code, response.text)
        return response.json()

    def tenant(self, name: str | None = None, role: str = "admin") -> tuple[str, str]:
        """A new tenant and a key of ``role`` in it."""
        name = name or f"t-{uuid.uuid4().hex[:8]}"
        self.ok("POST", "/v1/tenants", json={"name": name})
        key = self.ok("POST", f"/v1/tenants/{name}/keys", json={"name": "ops", "role": role})
        return name, key["key"]

    def key(self, tenant: str, role: str, admin_key: str = BOOT) -> dict[str, Any]:
        created: dict[str, Any] = self.ok(
            "POST", f"/v1/tenants/{tenant}/keys", admin_key, json={"name": role, "role": role}
        )
        return created

    def upload(self, tenant: str, key: str, archive: Path) -> httpx.Response:
        with archive.open("rb") as f:
            return self.request(
                "POST", f"/v1/tenants/{tenant}/packages", key, files={"file": (archive.name, f)}
            )

    def ticket(self, key: str) -> str:
        ticket: str = self.ok("POST", "/v1/auth/ws-ticket", key)["ticket"]
        return ticket

    def ws(self, path: str, key: str | None = None, **kwargs: Any) -> ClientConnection:
        """A WebSocket with a fresh ticket of ``key`` (or no auth when None)."""
        url = self.ws_url + path
        if key is not None:
            url += ("&" if "?" in url else "?") + "token=" + self.ticket(key)
        return connect(url, open_timeout=10, **kwargs)

    def packages(self, tenant: str, key: str = BOOT) -> dict[str, dict[str, Any]]:
        items = self.ok("GET", f"/v1/tenants/{tenant}/packages", key)["items"]
        return {i["name"]: i for i in items}


def assert_error(response: httpx.Response, status: int, code: str, text: str = "") -> None:
    """The response is the error envelope with this status and code (``details`` only
    where an error has them: a refused delete's blockers)."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) - {"details"} == {"error", "code"}, body
    assert "details" not in body or (isinstance(body["details"], dict) and body["details"]), body
    assert body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"]
    assert text in body["error"], body


def eventually(check: Any, timeout: float = 15.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not reached in {timeout}s (last: {last!r})")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One shared server for the session (tests isolate themselves in their own tenants).
    Tickets live :data:`TICKET_TTL` seconds; the body limit is 4 MiB."""
    data = tmp_path_factory.mktemp("server") / "data"
    srv = Server(
        data,
        env={"CLOACINA_WS_TICKET_TTL": str(TICKET_TTL), "CLOACINA_MAX_BODY_BYTES": str(4 << 20)},
    ).start()
    yield srv
    srv.stop()


class Cli:
    """``python -m cloacina_host`` with an isolated CLOACINA_HOME and no CLOACINA_* settings
    inherited from the environment running the tests."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CLOACINA_")}
        self.env.update(CLOACINA_HOME=str(home), COLUMNS="200")

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cloacina_host", *args],
            capture_output=True,
            text=True,
            input=stdin,
            env={**self.env, **(env or {})},
            timeout=120,
        )

    def ok(self, *args: str, **kwargs: Any) -> str:
        proc = self(*args, **kwargs)
        assert proc.returncode == 0, (args, proc.returncode, proc.stdout, proc.stderr)
        return proc.stdout

    def json(self, *args: str, **kwargs: Any) -> Any:
        return orjson.loads(self.ok(*args, "-o", "json", **kwargs))
