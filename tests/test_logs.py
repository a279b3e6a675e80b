"""Logs that fit in: the embedded library is silent until logging is configured, never prints
on stdout; the server's lines (uvicorn's included) are one stream of one format, with one
access event per request carrying its request id; NO_COLOR is honoured."""

from __future__ import annotations

import io
import logging
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from cloacina_host import log as logsetup
from server_fixtures import Server

EMBED = """
import logging, sys
if sys.argv[3] == "configured":
    logging.basicConfig(level=logging.INFO)
from cloacina_host import Host
host = Host()
rt = host.runtime("acme")
rt.load(sys.argv[1])
rt.load(sys.argv[2])
rt.push("raw_prices", {"price": 1})
print("outputs", rt.outputs("price_consumer")[-1].outputs)
rt.unload("pricing-subscriber")
try:
    rt.unload("pricing-publisher")
finally:
    host.close()
"""


def embed(c_plugins: dict[str, Path], mode: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOACINA_")}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            EMBED,
            str(c_plugins["pricing-publisher"]),
            str(c_plugins["pricing-subscriber"]),
            mode,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_the_embedded_library_prints_nothing_until_logging_is_configured(
    c_plugins: dict[str, Path],
) -> None:
    quiet = embed(c_plugins, "quiet")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "outputs {'publish': {'signal': 0}}\n"
    assert quiet.stderr == ""
    # an application that configures logging gets the host's events, on stderr
    loud = embed(c_plugins, "configured")
    assert loud.returncode == 0, loud.stderr
    assert loud.stdout == quiet.stdout
    assert "package_loaded" in loud.stderr and "pricing-subscriber" in loud.stderr


def test_the_server_logs_one_json_stream_with_an_access_event_per_request(
    tmp_path: Path,
) -> None:
    srv = Server(tmp_path / "data", args=("--log-format", "json", "--isolation", "none")).start()
    try:
        ok = httpx.get(srv.url + "/health", headers={"x-request-id": "rid-health-1"})
        assert ok.headers["x-request-id"] == "rid-health-1"
        httpx.get(srv.url + "/v1/ws/accumulator/x?token=secret-ticket")
    finally:
        srv.stop()
    lines = [ln for ln in srv.log.read_text().splitlines() if ln.strip()]
    events = [orjson.loads(ln) for ln in lines]  # every line is JSON, uvicorn's too
    assert any(e.get("logger", "").startswith("uvicorn") for e in events), lines
    assert {"server_listening", "server_started", "server_stopped"} <= {e["event"] for e in events}
    access = [e for e in events if e["event"] == "request" and e.get("path") == "/health"]
    assert len(access) >= 1
    mine = [e for e in access if e.get("request_id") == "rid-health-1"]
    assert len(mine) == 1, access
    assert mine[0]["status"] == 200 and mine[0]["method"] == "GET" and mine[0]["level"] == "info"
    assert "secret-ticket" not in srv.log.read_text()  # query strings stay out of the log


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """The host's loggers as they were (handlers, level, propagation) after the test."""
    names = (logsetup.ROOT, *logsetup.FOREIGN)
    saved = {
        n: (
            list(logging.getLogger(n).handlers),
            logging.getLogger(n).level,
            logging.getLogger(n).propagate,
        )
        for n in names
    }
    yield
    for n, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(n)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.mark.usefixtures("restored_logging")
def test_console_format_and_no_color() -> None:
    # not a terminal: readable lines, never colours
    buf = io.StringIO()
    logsetup.configure("info", stream=buf, json=False)
    logsetup.get_logger().info("console_line", answer=42)
    text = buf.getvalue()
    assert "console_line" in text and "answer=42" in text and "\x1b[" not in text
    assert not text.lstrip().startswith("{")
    # a terminal: coloured, unless NO_COLOR is set
    for no_color, coloured in (("", True), ("1", False)):
        master, slave = pty.openpty()
        with os.fdopen(slave, "w") as tty, os.fdopen(master, "rb", buffering=0) as reader:
            old = os.environ.pop("NO_COLOR", None)
            if no_color:
                os.environ["NO_COLOR"] = no_color
            try:
                logsetup.configure("info", stream=tty, json=False)
                logsetup.get_logger().info("tty_line")
                tty.flush()
            finally:
                os.environ.pop("NO_COLOR", None)
                if old is not None:
                    os.environ["NO_COLOR"] = old
            out = reader.read(4096)
        assert b"tty_line" in out
        assert (b"\x1b[" in out) is coloured, (no_color, out)
