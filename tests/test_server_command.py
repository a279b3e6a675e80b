"""One server command line: ``cloacina-server`` is ``cloacinactl server start`` (same flags,
help and ``--version``), and its TOML config file (flags > env > file > defaults, and the
file's errors named)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

import cloacina_host
import cloacina_host.server
from cloacina_host.cli import main as cloacinactl
from server_fixtures import BOOT, eventually, free_port


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOACINA_")}
    return {**env, **extra}


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=120
    )


def _options(help_text: str) -> list[str]:
    return re.findall(r"^  (--[\w-]+)", help_text, re.MULTILINE)


def test_both_command_lines_are_one(tmp_path: Path) -> None:
    env = _clean_env(CLOACINA_HOME=str(tmp_path), COLUMNS="100")
    server = _run("-m", "cloacina_host.server", "--help", env=env)
    ctl = _run("-m", "cloacina_host", "server", "start", "--help", env=env)
    assert server.returncode == 0 and ctl.returncode == 0, (server.stderr, ctl.stderr)
    assert server.stdout.startswith("Usage: cloacina-server [OPTIONS]")
    assert ctl.stdout.startswith("Usage: cloacinactl server start [OPTIONS]")
    # the same text after the usage line: one set of flags, env vars and help
    assert server.stdout.split("\n", 1)[1] == ctl.stdout.split("\n", 1)[1]
    flags = _options(server.stdout)
    for flag in (
        "--bind",
        "--data-dir",
        "--database-url",
        "--log-level",
        "--log-format",
        "--metrics-bind",
        "--metrics-token",
        "--metrics-auth",
        "--replica-id",
        "--events",
        "--isolation",
        "--worker-env",
        "--config",
        "--version",
    ):
        assert flag in flags, (flag, flags)
    for name in (
        "CLOACINA_BIND",
        "CLOACINA_HOME",
        "CLOACINA_LOG_LEVEL",
        "CLOACINA_CONFIG",
        "CLOACINA_WORKER_READ",
    ):
        assert name in server.stdout

    version = f", version {cloacina_host.__version__}\n"
    out = _run("-m", "cloacina_host.server", "--version", env=env)
    assert out.returncode == 0 and out.stdout == "cloacina-server" + version
    out = _run("-m", "cloacina_host", "server", "start", "--version", env=env)
    assert out.returncode == 0 and out.stdout == "cloacinactl" + version


def test_usage_and_input_errors_exit_1_in_one_style(tmp_path: Path) -> None:
    env = _clean_env(CLOACINA_HOME=str(tmp_path))
    out = _run("-m", "cloacina_host.server", "--metrics-auth", "never", env=env)
    assert out.returncode == 1
    assert "Invalid value for '--metrics-auth'" in out.stderr
    out = _run("-m", "cloacina_host.server", "--bind", "127.0.0.1:http", env=env)
    assert out.returncode == 1
    assert out.stderr == "Error: invalid bind address '127.0.0.1:http': use HOST:PORT\n"


# ------------------------------------------------------------------ the config file


class Captured:
    """What ``server start`` resolved its options to, caught at ``server.run``."""

    def __init__(self) -> None:
        self.args: tuple[Any, ...] = ()
        self.kwargs: dict[str, Any] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Captured:
    catch = Captured()
    monkeypatch.setattr(cloacina_host.server, "run", catch)
    return catch


def _invoke(home: Path, *args: str, **env: str) -> Any:
    runner = CliRunner()
    clean = {k: None for k in os.environ if k.startswith("CLOACINA_")}
    return runner.invoke(
        cloacinactl, ["server", "start", *args], env={**clean, "CLOACINA_HOME": str(home), **env}
    )


def test_flags_beat_env_beat_file_beat_defaults(tmp_path: Path, captured: Captured) -> None:
    conf = tmp_path / "server.toml"
    conf.write_text(
        'bind = "127.0.0.1:7001"\n'
        'replica_id = "from-file"\n'
        'events = "nats://file:4222"\n'
        'metrics_auth = "always"\n'
        "call_deadline = 3\n"
        'worker_env = ["A=1", "B=2"]\n'
    )
    result = _invoke(
        tmp_path,
        "--bind",
        "127.0.0.1:7003",
        CLOACINA_BIND="127.0.0.1:7002",
        CLOACINA_REPLICA_ID="from-env",
    )
    assert result.exit_code == 0, result.output
    host, port = captured.args[1:3]
    assert (host, port) == ("127.0.0.1", 7003)  # flag beats env and file
    assert captured.kwargs["replica"] == "from-env"  # env beats file
    assert captured.kwargs["events"] == "nats://file:4222"  # file beats the default
    assert captured.kwargs["metrics_auth"] == "always"
    workers = captured.kwargs["workers"]
    assert workers.call_deadline == 3.0 and workers.env == {"A": "1", "B": "2"}
    assert captured.args[3] is None  # database_url: nobody set it, the default

    # without any of them: the defaults (the default file is CLOACINA_HOME/server.toml)
    conf.unlink()
    assert _invoke(tmp_path).exit_code == 0
    assert captured.args[1:3] == ("127.0.0.1", 8080)
    assert captured.kwargs["events"] == "embedded" and captured.kwargs["replica"] is None


def test_config_from_flag_and_env(tmp_path: Path, captured: Captured) -> None:
    one, two = tmp_path / "one.toml", tmp_path / "two.toml"
    one.write_text('replica_id = "one"\n[worker_env]\nTZ = "UTC"\n')
    two.write_text('replica_id = "two"\n')
    (tmp_path / "server.toml").write_text('replica_id = "default"\n')
    assert _invoke(tmp_path, "--config", str(one), CLOACINA_CONFIG=str(two)).exit_code == 0
    assert captured.kwargs["replica"] == "one"
    assert captured.kwargs["workers"].env == {"TZ": "UTC"}
    assert _invoke(tmp_path, CLOACINA_CONFIG=str(two)).exit_code == 0
    assert captured.kwargs["replica"] == "two"
    assert _invoke(tmp_path).exit_code == 0
    assert captured.kwargs["replica"] == "default"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('bnd = "127.0.0.1:1"\n', "unknown key 'bnd' (did you mean 'bind'?)"),
        ('database-url = "x"\n', "unknown key 'database-url' (did you mean 'database_url'?)"),
        ("bind = 8080\n", "key 'bind' must be a string, not int 8080"),
        ('call_deadline = "soon"\n', "key 'call_deadline' must be a number, not str 'soon'"),
        ("worker_threads = 2.5\n", "key 'worker_threads' must be an integer, not float 2.5"),
        ('worker_read = "/srv"\n', "key 'worker_read' must be a list of strings, not str '/srv'"),
        (
            'isolation = "tenat"\n',
            "key 'isolation' must be one of tenant, none, not 'tenat' (did you mean 'tenant'?)",
        ),
        ('log_format = "yaml"\n', "key 'log_format' must be one of auto, console, json"),
        ("bind = \n", "is not valid TOML"),
    ],
)
def test_config_errors_name_the_file_and_key(
    tmp_path: Path, captured: Captured, content: str, message: str
) -> None:
    conf = tmp_path / "bad.toml"
    conf.write_text(content)
    result = _invoke(tmp_path, "--config", str(conf))
    assert result.exit_code == 1
    assert f"Error: server config {conf}" in result.output
    assert message in result.output
    assert captured.args == ()  # nothing was served


def test_a_missing_config_file_is_named(tmp_path: Path, captured: Captured) -> None:
    result = _invoke(tmp_path, CLOACINA_CONFIG=str(tmp_path / "nope.toml"))
    assert result.exit_code == 1
    assert "Invalid value for '--config'" in result.output and "nope.toml" in result.output


def test_cloacina_server_serves_from_its_default_config(tmp_path: Path) -> None:
    """The real ``cloacina-server``, no flags and no CLOACINA_HOME: bind and data directory
    from ``~/.cloacina/server.toml``. (With CLOACINA_HOME set, that variable is
    ``--data-dir``'s and beats the file's ``data_dir``.)"""
    home, data, port = tmp_path / "home" / ".cloacina", tmp_path / "elsewhere", free_port()
    home.mkdir(parents=True)
    (home / "server.toml").write_text(
        f'bind = "127.0.0.1:{port}"\ndata_dir = "{data}"\nisolation = "none"\n'
    )
    env = _clean_env(HOME=str(tmp_path / "home"), CLOACINA_BOOTSTRAP_KEY=BOOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloacina_host.server"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:

        def ready() -> bool:
            assert proc.poll() is None, proc.communicate()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        eventually(ready)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert (data / "cloacina.db").is_file() and not (home / "cloacina.db").exists()
