"""The real ``cloacinactl`` against a real server process: the tutorial's commands as written,
profiles and environment fallbacks, exit codes and ``-o json``."""

from __future__ import annotations

import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from log_capture import log_events
from server_fixtures import BOOT, GUARD, NOT_LOADED, Cli, Server, eventually, free_port


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of this module's own (its tenant is named acme, as in the tutorial)."""
    server = Server(tmp_path_factory.mktemp("cli-server") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home")


def field(out: str, name: str) -> str:
    match = re.search(rf"^{re.escape(name)}: (.*)$", out, re.MULTILINE)
    assert match, (name, out)
    return match.group(1)


def test_tutorial_flow(srv: Server, cli: Cli, c_archives: dict[str, Path]) -> None:
    # the platform admin: global options on the group, then on the subcommand
    out = cli.ok("--server", srv.url, "--key", BOOT, "tenant", "create", "acme")
    assert out == "OK: tenant acme created\n"
    admin = ["--server", srv.url, "--key", BOOT]
    acme_key = cli.ok("key", "create", "ops", "--role", "admin", "--tenant", "acme", *admin)
    acme_key = acme_key.strip()
    assert acme_key.startswith("clk_")

    # profile set acme-prod + use: from here on, commands carry no server or key
    cli.ok(
        "profile", "set", "acme-prod", "--server", srv.url, "--key", acme_key, "--tenant", "acme"
    )
    assert cli.ok("profile", "use", "acme-prod") == "OK: using profile acme-prod\n"
    assert (cli.home / "config.toml").stat().st_mode & 0o777 == 0o600
    profiles = cli.json("profile", "list")
    assert profiles == [
        {
            "name": "acme-prod",
            "current": True,
            "server": srv.url,
            "tenant": "acme",
            "key": acme_key[:12] + "…",
        }
    ]
    assert acme_key not in cli.ok("profile", "list")

    # subscriber first: stored, pending with the reason
    sub_file, pub_file = c_archives["pricing-subscriber"], c_archives["pricing-publisher"]
    uploaded = cli(
        "package", "upload", str(sub_file), "--tenant", "acme"
    )  # progress goes to stderr
    assert uploaded.returncode == 0, uploaded.stderr
    assert "Uploading pricing-subscriber-0.1.0.cloacina" in uploaded.stderr
    assert field(uploaded.stdout, "status") == "pending"
    assert field(uploaded.stdout, "reason") == NOT_LOADED
    sub_id = field(uploaded.stdout, "id")
    out = cli.ok("package", "upload", str(pub_file), "--tenant", "acme")
    assert field(out, "status") == "loaded"
    pub_id = field(out, "id")

    listed = {p["name"]: p for p in cli.json("package", "list")}
    assert {n: p["status"] for n, p in listed.items()} == {
        "pricing-publisher": "loaded",
        "pricing-subscriber": "loaded",
    }
    assert listed["pricing-publisher"]["id"] == pub_id
    table = cli.ok("package", "list")
    assert "pricing-subscriber" in table and sub_id in table

    # graph list --tenant acme: includes PriceReactor with its accumulators
    out = cli.ok("graph", "list", "--tenant", "acme")
    assert "PriceReactor" in out and "raw_prices" in out and "normalized_prices" in out
    assert "price_consumer" in out
    both = cli.json("graph", "list")
    assert [r["name"] for r in both["reactors"]] == ["PriceReactor"]
    assert [g["name"] for g in both["graphs"]] == ["price_consumer"]

    # graph status PriceReactor --tenant acme: shows subscribers: 1 (price_consumer)
    status = cli.ok("graph", "status", "PriceReactor", "--tenant", "acme")
    assert "subscribers: 1 (price_consumer)" in status.splitlines()
    assert "accumulators: raw_prices, normalized_prices" in status
    assert "criteria: when_any(raw_prices, normalized_prices)" in status

    # an event, and the graph's signal
    out = cli.ok("accumulator", "push", "raw_prices", '{"symbol":"BTCUSD","price":42000}')
    assert out.startswith("OK: event pushed to raw_prices")
    eventually(lambda: '"signal"' in cli.ok("graph", "outputs", "price_consumer"))
    runs = cli.json("graph", "outputs", "price_consumer")
    assert runs[-1]["outputs"] == {"publish": {"signal": 0}} and runs[-1]["error"] is None
    status = cli.ok("graph", "status", "price_consumer")
    assert field(status, "reactor") == "PriceReactor"
    assert field(status, "last outputs") == '{"publish":{"signal":0}}'
    accs = {a["name"]: a for a in cli.json("graph", "accumulators")}
    assert accs["raw_prices"]["events_total"] == 1
    assert "raw_prices" in cli.ok("graph", "accumulators")
    # the event can come on stdin too, and a reactor can be fired by hand
    cli.ok("accumulator", "push", "normalized_prices", stdin='{"price": 1}')
    fired = cli.ok("reactor", "fire", "PriceReactor", "--input", 'raw_prices={"price": 2}')
    assert fired.startswith("price_consumer: {")

    # the guard: publisher first is refused, with the server's text, exit 5
    refused = cli("package", "delete", pub_id, "--tenant", "acme")
    assert refused.returncode == 5
    assert refused.stderr == f"Error: {GUARD}\n" and refused.stdout == ""
    assert len(cli.json("package", "list")) == 2

    # the safe order
    out = cli.ok("package", "delete", sub_id, "--tenant", "acme")
    assert out == "OK: reactor PriceReactor now has 0 subscribers\n"
    out = cli.ok("package", "delete", pub_id, "--tenant", "acme")
    assert out == "OK: reactor PriceReactor torn down\n"
    assert cli.json("package", "list") == []
    assert cli.ok("graph", "list") == "reactors: none\n\ngraphs: none\n"


def test_exit_codes(srv: Server, cli: Cli, c_archives: dict[str, Path]) -> None:
    tenant, key = srv.tenant()
    read_key = srv.key(tenant, "read")["key"]
    remote = ["--server", srv.url, "--tenant", tenant]

    # 2: nothing listens there; the message names the URL
    closed = f"http://127.0.0.1:{free_port()}"
    proc = cli("graph", "list", "--server", closed, "--tenant", tenant, "--key", key)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"Error: cannot reach the server at {closed}")

    # 3: unknown package, reactor or graph, and a tenant the key does not see
    proc = cli("package", "delete", "nope", *remote, "--key", key)
    assert proc.returncode == 3 and proc.stderr.startswith("Error: ")
    proc = cli("graph", "status", "Nope", *remote, "--key", key)
    assert proc.returncode == 3
    assert proc.stderr == f"Error: no reactor or graph named 'Nope' in tenant '{tenant}'\n"
    proc = cli("graph", "outputs", "nope", *remote, "--key", key)
    assert proc.returncode == 3
    proc = cli("graph", "list", "--server", srv.url, "--tenant", "elsewhere", "--key", key)
    assert proc.returncode == 3 and "elsewhere" in proc.stderr

    # 4: no key, a wrong key, a read key writing, a tenant key managing tenants
    for args in (
        [],
        ["--key", "clk_wrong"],
    ):
        proc = cli("graph", "list", *remote, *args)
        assert proc.returncode == 4, proc.stderr
        assert proc.stderr.startswith("Error: ")
    proc = cli(
        "package", "upload", str(c_archives["pricing-publisher"]), *remote, "--key", read_key
    )
    assert proc.returncode == 4 and "role 'write'" in proc.stderr
    proc = cli("tenant", "list", "--server", srv.url, "--key", key)
    assert proc.returncode == 4

    # 1: usage errors (click's own too) and user errors
    assert cli("graph", "list", "--bogus").returncode == 1
    assert cli("graph", "lis").returncode == 1
    assert cli("graph", "status").returncode == 1
    proc = cli("reactor", "fire", "R", "--input", "no-equals", *remote, "--key", key)
    assert proc.returncode == 1 and "SOURCE=<json>" in proc.stderr
    proc = cli("accumulator", "push", "raw_prices", "{not json", *remote, "--key", key)
    assert proc.returncode == 1 and "not valid JSON" in proc.stderr
    proc = cli("graph", "list", "--server", srv.url, "--key", BOOT)
    assert proc.returncode == 1 and "no tenant given and the key is a platform key" in proc.stderr
    proc = cli("graph", "list", "--profile", "missing")
    assert proc.returncode == 1 and "no profile 'missing'" in proc.stderr
    proc = cli("package", "list", "--data-dir", str(cli.home / "no-daemon"))
    assert proc.returncode == 1 and "no daemon state" in proc.stderr


def test_settings_precedence_and_json(srv: Server, cli: Cli) -> None:
    tenant, key = srv.tenant()
    # with no tenant anywhere, a tenant key acts in its own tenant (GET /v1/auth/whoami)
    assert cli.json("graph", "list", "--server", srv.url, "--key", key) == {
        "reactors": [],
        "graphs": [],
    }
    other, other_key = srv.tenant()
    # the environment supplies what no flag gives
    env = {"CLOACINA_SERVER": srv.url, "CLOACINA_API_KEY": key, "CLOACINA_TENANT": tenant}
    assert cli.json("graph", "list", env=env) == {"reactors": [], "graphs": []}
    keys = cli.json("key", "list", env=env)
    assert [k["role"] for k in keys] == ["admin"] and "key" not in keys[0]
    # a flag beats the environment, on the group or on the subcommand
    flags = ["--tenant", other, "--key", other_key]
    assert cli("graph", "list", *flags, env=env).returncode == 0
    assert cli(*flags, "graph", "list", env=env).returncode == 0
    # and the subcommand's flag beats the group's
    proc = cli("--tenant", other, "graph", "list", "--tenant", tenant, env=env)
    assert proc.returncode == 0
    # -o json on the group works too
    assert orjson.loads(cli.ok("-o", "json", "graph", "accumulators", env=env)) == []

    # a profile supplies what neither flag nor environment gives; --profile picks one
    cli.ok("profile", "set", "a", "--server", srv.url, "--key", key, "--tenant", tenant)
    cli.ok("profile", "set", "b", "--server", srv.url, "--key", other_key, "--tenant", other)
    assert cli("graph", "list").returncode == 1  # no current profile: no tenant
    cli.ok("profile", "use", "a")
    assert cli("graph", "list").returncode == 0
    assert cli("graph", "list", "--profile", "b").returncode == 0
    assert cli("graph", "list", env={"CLOACINA_PROFILE": "b"}).returncode == 0
    # profile b's key with profile a's tenant: default deny
    assert cli("graph", "list", "--profile", "b", "--tenant", tenant).returncode == 3
    # updating a profile keeps the fields not given
    cli.ok("profile", "set", "a", "--tenant", other)
    (a,) = [p for p in cli.json("profile", "list") if p["name"] == "a"]
    assert a["server"] == srv.url and a["tenant"] == other

    # tenants as JSON (platform admin), keys created and revoked
    names = [t["name"] for t in cli.json("tenant", "list", "--server", srv.url, "--key", BOOT)]
    assert tenant in names and other in names
    created = cli.json("key", "create", "ci", "--role", "write", env=env)
    assert created["role"] == "write" and created["key"].startswith("clk_")
    assert cli.ok("key", "revoke", created["id"], env=env) == f"OK: key {created['id']} revoked\n"
    revoked = {k["id"]: k for k in cli.json("key", "list", env=env)}[created["id"]]
    assert revoked["revoked"]
    proc = cli("graph", "list", env={**env, "CLOACINA_API_KEY": created["key"]})
    assert proc.returncode == 4
    out = cli.ok("tenant", "delete", other, "--server", srv.url, "--key", BOOT)
    assert out == f"OK: tenant {other} deleted\n"


def test_server_start_command(tmp_path: Path, cli: Cli) -> None:
    """`cloacinactl server start` serves until SIGTERM and exits 0; its metrics flags."""
    port, metrics_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "cloacina_host", "server", "start"),
            *("--bind", f"127.0.0.1:{port}", "--metrics-bind", f"127.0.0.1:{metrics_port}"),
            *("--metrics-auth", "always"),
        ],
        env={
            **cli.env,
            "CLOACINA_BOOTSTRAP_KEY": BOOT,
            "CLOACINA_HOME": str(tmp_path / "data"),
            "CLOACINA_METRICS_TOKEN": "scrape-token",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        eventually(lambda: cli("tenant", "list", "--server", url, "--key", BOOT).returncode == 0)
        assert cli.json("tenant", "list", "--server", url, "--key", BOOT) == []
        assert httpx.get(url + "/metrics").status_code == 404
        metrics = f"http://127.0.0.1:{metrics_port}/metrics"
        assert httpx.get(metrics).status_code == 401
        scraped = httpx.get(metrics, headers={"Authorization": "Bearer scrape-token"})
        assert scraped.status_code == 200 and "cloacina_api_requests_total" in scraped.text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "server_stopped" in log_events(err)  # info logs by default for services
    assert (tmp_path / "data" / "cloacina.db").is_file()  # --data-dir defaults to CLOACINA_HOME


def test_graph_outputs_follow(srv: Server, cli: Cli, c_archives: dict[str, Path]) -> None:
    """`graph outputs --follow` prints runs live from the server's outputs stream."""
    tenant, key = srv.tenant()
    for name in ("pricing-publisher", "pricing-subscriber"):
        assert srv.upload(tenant, key, c_archives[name]).json()["status"] == "loaded"
    follow = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloacina_host",
            "graph",
            "outputs",
            "price_consumer",
            "--follow",
            "--server",
            srv.url,
            "--key",
            key,
            "-o",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
    )
    try:
        seen: list[dict[str, Any]] = []

        def pushed_and_seen() -> bool:
            # push until the follower (connecting in the background) prints a run
            cli.ok(
                "accumulator",
                "push",
                "raw_prices",
                '{"price": 5}',
                "--server",
                srv.url,
                "--key",
                key,
            )
            ready, _, _ = select.select([follow.stdout], [], [], 0.5)
            if ready and follow.stdout is not None:
                seen.append(orjson.loads(follow.stdout.readline()))
            return bool(seen)

        eventually(pushed_and_seen, timeout=60)
        assert seen[0]["graph"] == "price_consumer"
        assert seen[0]["outputs"] == {"publish": {"signal": 0}}
    finally:
        follow.terminate()
        follow.communicate(timeout=20)
    proc = cli("graph", "outputs", "nope", "--follow", "--server", srv.url, "--key", key)
    assert proc.returncode == 3 and proc.stderr.startswith("Error: ")
