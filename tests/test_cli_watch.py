"""``graph status NAME --watch``: a sample every interval with the live fire rate, against a
real server while events are pushed, then Ctrl-C; and the rate itself."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from cloacina_host.cli.tables import FireRate
from server_fixtures import Cli, Server, eventually


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home")


def test_fire_rate_is_fires_per_second_between_samples() -> None:
    rate = FireRate()
    assert rate.sample(10, 100.0) is None  # nothing to compare with yet
    assert rate.sample(14, 102.0) == 2.0
    assert rate.sample(14, 104.0) == 0.0
    assert rate.sample(3, 105.0) == 3.0  # reloaded: counts from zero again
    assert rate.sample(5, 105.0) is None  # no time passed: no rate


class Watcher:
    """``graph status NAME --watch`` in a subprocess, its output read as it comes (as a
    terminal or a pipe into another program would)."""

    def __init__(self, srv: Server, cli: Cli, key: str, name: str, *output: str) -> None:
        self.proc = _watch(srv, cli, key, name, *output)
        self.chunks: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.chunks.append(line)

    def interrupt(self) -> tuple[str, str, int]:
        self.proc.send_signal(signal.SIGINT)  # Ctrl-C
        self.proc.wait(timeout=30)
        self.reader.join(timeout=30)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return "".join(self.chunks), err, self.proc.returncode


def _watch(srv: Server, cli: Cli, key: str, name: str, *output: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "cloacina_host", "graph", "status", name),
            *("--watch", "--interval", "0.5", "--server", srv.url, "--key", key, *output),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
    )


def test_watch_prints_live_fire_rates(
    server: Server, cli: Cli, c_archives: dict[str, Path]
) -> None:
    tenant, key = server.tenant()
    for name in ("pricing-publisher", "pricing-subscriber"):
        assert server.upload(tenant, key, c_archives[name]).json()["status"] == "loaded"
    watchers = {
        "reactor": Watcher(server, cli, key, "PriceReactor", "-o", "json"),
        "graph": Watcher(server, cli, key, "price_consumer", "-o", "json"),
        "lines": Watcher(server, cli, key, "PriceReactor"),
    }
    try:
        # every watcher has printed its first sample; then push for several intervals, and
        # wait for samples taken while and after the events arrived
        eventually(lambda: all(w.chunks for w in watchers.values()), timeout=60)
        started = {what: len(w.chunks) for what, w in watchers.items()}
        for i in range(30):
            path = f"/v1/tenants/{tenant}/accumulators/raw_prices/events"
            server.ok("POST", path, key, json={"symbol": "BTCUSD", "price": 100 + i})
            time.sleep(0.1)
        eventually(
            lambda: all(len(w.chunks) >= started[what] + 3 for what, w in watchers.items()),
            timeout=60,
        )
    finally:
        outputs = {}
        for what, watcher in watchers.items():
            outputs[what] = watcher.interrupt()
            assert outputs[what][2] == 0, (what, outputs[what])

    for what in ("reactor", "graph"):
        samples = [orjson.loads(line) for line in outputs[what][0].splitlines()]
        assert len(samples) >= 2, outputs[what]
        assert samples[0]["fire_rate"] is None  # the first sample has nothing to compare
        assert samples[0]["kind"] == what
        assert any((s["fire_rate"] or 0) > 0 for s in samples), samples
        counts = [s["fires" if what == "reactor" else "runs_ok"] for s in samples]
        assert counts == sorted(counts) and counts[-1] > counts[0]

    lines = outputs["lines"][0].splitlines()
    pattern = re.compile(
        r"^\d\d:\d\d:\d\d reactor PriceReactor: fires (\d+), (measuring…|(\d+\.\d\d) fires/s)$"
    )
    matches = [pattern.match(line) for line in lines]
    assert lines and all(matches), lines
    assert any(m and m.group(3) and float(m.group(3)) > 0 for m in matches), lines


def test_watch_usage_errors(server: Server, cli: Cli) -> None:
    tenant, key = server.tenant()
    remote = ("--server", server.url, "--key", key)
    proc = cli("graph", "status", "PriceReactor", "--interval", "1", *remote)
    assert proc.returncode == 1 and "--interval needs --watch" in proc.stderr
    proc = cli("graph", "status", "PriceReactor", "--watch", "-o", "id", *remote)
    assert proc.returncode == 1 and "--watch does not apply to -o id" in proc.stderr
    proc = cli("graph", "status", "nope", "--watch", *remote)
    assert proc.returncode == 3
    assert proc.stderr == f"Error: no reactor or graph named 'nope' in tenant '{tenant}'\n"


def test_watch_redraws_in_place_on_a_terminal(
    server: Server, cli: Cli, c_archives: dict[str, Path]
) -> None:
    """On a terminal the full status is redrawn in place (rich's Live), with the rate."""
    tenant, key = server.tenant()
    assert server.upload(tenant, key, c_archives["pricing-publisher"]).json()["status"] == "loaded"
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "cloacina_host", "graph", "status", "PriceReactor"),
            *("--watch", "--interval", "0.3", "--server", server.url, "--key", key),
        ],
        stdout=follower,
        stderr=subprocess.PIPE,
        env={**cli.env, "TERM": "xterm"},
    )
    os.close(follower)
    seen = b""
    try:

        def redrawn() -> bool:
            nonlocal seen
            while select.select([leader], [], [], 0.2)[0]:
                try:
                    seen += os.read(leader, 65536)
                except OSError:
                    break
            return seen.count(b"fire rate:") >= 3

        eventually(redrawn, timeout=60)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        os.close(leader)
    assert proc.returncode == 0, err
    text = seen.decode(errors="replace")
    assert "reactor: PriceReactor" in text and "subscribers: 0" in text
    assert "fire rate: measuring…" in text and "fires/s (over the last 0.3s)" in text
    assert "\x1b[" in text  # cursor movement: the same lines redrawn, not appended
