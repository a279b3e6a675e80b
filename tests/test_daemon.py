"""The local daemon: a folder of archives reconciled into SQLite-backed state."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from cloacina_host.control.daemon import Daemon
from cloacina_host.control.store import Store
from log_capture import log_events


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def status(data_dir: Path) -> dict[str, dict[str, object]]:
    store = Store.for_data_dir(data_dir)
    try:
        return {row.name: row.to_dict() for _, row in store.read_status("default")}
    finally:
        store.close()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "packages", tmp_path / "data", poll_seconds=0.5)
    thread = threading.Thread(target=d.run, daemon=True)
    thread.start()
    yield d
    d.stop_event.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def loaded(data: Path, *names: str) -> bool:
    s = status(data)
    return all(s.get(n, {}).get("status") == "loaded" for n in names)


@pytest.mark.parametrize("first", ["pricing-publisher", "pricing-subscriber"])
def test_either_drop_order_ends_bound(
    daemon: Daemon, c_archives: dict[str, Path], first: str
) -> None:
    data = daemon.plane.data_dir
    second = "pricing-subscriber" if first == "pricing-publisher" else "pricing-publisher"
    shutil.copy(c_archives[first], daemon.packages_dir)
    if first == "pricing-subscriber":
        eventually(lambda: status(data).get("pricing-subscriber", {}).get("status") == "pending")
        assert status(data)["pricing-subscriber"]["reason"] == (
            "Error loading reactor-bound CG 'price_consumer': reactor 'PriceReactor' not loaded"
        )
    shutil.copy(c_archives[second], daemon.packages_dir)
    eventually(lambda: loaded(data, "pricing-publisher", "pricing-subscriber"))
    s = status(data)
    assert s["pricing-publisher"]["reactors"] == ["PriceReactor"]
    assert s["pricing-subscriber"]["graphs"] == ["price_consumer"]


def test_guard_then_safe_order(daemon: Daemon, c_archives: dict[str, Path]) -> None:
    data, folder = daemon.plane.data_dir, daemon.packages_dir
    for name in ("pricing-publisher", "pricing-subscriber"):
        shutil.copy(c_archives[name], folder)
    eventually(lambda: loaded(data, "pricing-publisher", "pricing-subscriber"))
    (folder / c_archives["pricing-publisher"].name).unlink()
    guard = (
        "unload refused: reactor 'PriceReactor' has 1 bound subscriber(s): ['price_consumer']; "
        "unbind them first"
    )
    eventually(lambda: status(data)["pricing-publisher"].get("reason") == guard)
    assert status(data)["pricing-publisher"]["status"] == "loaded"
    (folder / c_archives["pricing-subscriber"].name).unlink()
    eventually(lambda: status(data) == {})
    assert daemon.plane.runtime("default").counts()["registry"] == 0


def test_broken_archive_is_reported_and_others_load(
    daemon: Daemon, c_archives: dict[str, Path]
) -> None:
    data, folder = daemon.plane.data_dir, daemon.packages_dir
    (folder / "junk-1.0.cloacina").write_bytes(b"not a tar at all")
    shutil.copy(c_archives["pricing-publisher"], folder)
    eventually(lambda: loaded(data, "pricing-publisher"))
    eventually(lambda: "junk-1.0.cloacina" in status(data))
    junk = status(data)["junk-1.0.cloacina"]
    assert junk["status"] == "failed" and "junk-1.0.cloacina" in str(junk["reason"])


def test_daemon_process_and_package_list(tmp_path: Path, c_archives: dict[str, Path]) -> None:
    """The real command: `cloacinactl daemon start`, `package list --data-dir`, SIGTERM."""
    folder, data = tmp_path / "pk", tmp_path / "data"
    folder.mkdir()
    for name in ("pricing-subscriber", "pricing-publisher"):
        shutil.copy(c_archives[name], folder)
    cli = [sys.executable, "-m", "cloacina_host"]
    env = {**os.environ, "CLOACINA_LOG_LEVEL": "info"}
    proc = subprocess.Popen(
        [*cli, "daemon", "start", "--packages", str(folder), "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:

        def listed() -> list[dict[str, object]]:
            out = subprocess.run(
                [*cli, "package", "list", "--data-dir", str(data), "-o", "json"],
                capture_output=True,
                text=True,
            )
            return orjson.loads(out.stdout) if out.returncode == 0 and out.stdout else []

        eventually(
            lambda: (
                sorted((p["name"], p["status"]) for p in listed())
                == [("pricing-publisher", "loaded"), ("pricing-subscriber", "loaded")]
            )
        )
        table = subprocess.run(
            [*cli, "package", "list", "--data-dir", str(data)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "pricing-publisher" in table and "PriceReactor" in table
        assert "price_consumer" in table
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "daemon_stopped" in log_events(err)
    steps = [orjson.loads(ln).get("step") for ln in err.splitlines() if ln.startswith(b"{")]
    assert 5 in steps  # the reconciler's steps are logged
