"""Crash containment with real hostile libraries (tests/plugins/hostile): a plugin that
segfaults, aborts, exits, spins, eats memory, forks or snoops costs at most its own tenant's
worker. For each: the server answers throughout, a second tenant pushing events at the same
time loses nothing and sees no error, the culprit is named and quarantined, and the server
restarts clean on the same data directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from conftest import pack_library
from server_fixtures import BOOT, Server, eventually

DEADLINE = 2.0  # the hostile server's call deadline, seconds
MEMORY_MB = 256  # and its workers' memory limit


@pytest.fixture(scope="module")
def forker_pidfile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("forker") / "stray.pid"


@pytest.fixture(scope="module")
def hostile_server(
    tmp_path_factory: pytest.TempPathFactory, forker_pidfile: Path
) -> Iterator[Server]:
    """A server whose workers have a short call deadline and a small memory limit; its
    workers get the forker's pid-file variable on purpose (--worker-env)."""
    data = tmp_path_factory.mktemp("hostile-server") / "data"
    env = {
        "CLOACINA_CALL_DEADLINE": str(DEADLINE),
        "CLOACINA_WORKER_MEMORY_MB": str(MEMORY_MB),
        "CLOACINA_WORKER_ENV": f"CLOACINA_TEST_FORKER_PIDFILE={forker_pidfile}",
        "CLOACINA_SECRET_OF_THE_SERVER": "must-not-reach-plugins",
    }
    srv = Server(data, env=env).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def hostile_archives(
    c_plugins: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    dest = tmp_path_factory.mktemp("hostile-archives")
    names = [
        "hostile",
        "evasive_init_segv",
        "evasive_entry_exit",
        "evasive_ctor_abort",
        "forker",
        "snoop",
    ]
    return {n: pack_library(c_plugins[n], dest / n) for n in names}


@pytest.fixture(scope="module")
def victim_tenant(hostile_server: Server, c_archives: dict[str, Path]) -> tuple[str, str]:
    """A second tenant with the tutorial's pair, shared by the tests of this module."""
    tenant, key = hostile_server.tenant(f"victim-{uuid.uuid4().hex[:6]}", role="write")
    for name in ("pricing-publisher", "pricing-subscriber"):
        uploaded = hostile_server.upload(tenant, key, c_archives[name])
        assert uploaded.json()["status"] == "loaded", uploaded.text
    return tenant, key


class Victim:
    """The second tenant pushing an event every few milliseconds on a thread, and polling
    /health, while the test does its worst elsewhere."""

    def __init__(self, srv: Server, tenant: tuple[str, str]) -> None:
        self.srv = srv
        self.tenant, self.key = tenant
        self.pushed = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._before = self._runs_ok()

    def _runs_ok(self) -> int:
        graph = self.srv.ok("GET", f"/v1/tenants/{self.tenant}/graphs/price_consumer", self.key)
        assert graph["runs_failed"] == 0
        return int(graph["runs_ok"])

    def __enter__(self) -> Victim:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        path = f"/v1/tenants/{self.tenant}/accumulators/raw_prices/events"
        with httpx.Client(base_url=self.srv.url, timeout=30) as client:
            headers = {"Authorization": f"Bearer {self.key}"}
            while not self._stop.is_set():
                try:
                    r = client.post(path, content=b'{"price": 2}', headers=headers)
                    if r.status_code != 200:
                        self.failures.append(f"push {r.status_code}: {r.text}")
                    else:
                        self.pushed += 1
                    health = client.get("/health")
                    if health.status_code != 200:
                        self.failures.append(f"/health {health.status_code}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.005)

    def check(self) -> None:
        """Nothing was lost: every accepted event fired the graph once, without errors."""
        assert not self.failures, self.failures[:5]
        assert self.pushed > 0
        assert self._runs_ok() - self._before == self.pushed


def hostile_tenant(srv: Server, archive: Path) -> tuple[str, str, dict[str, Any]]:
    tenant, key = srv.tenant(f"h-{uuid.uuid4().hex[:6]}", role="write")
    response = srv.upload(tenant, key, archive)
    assert response.status_code == 201, response.text
    return tenant, key, response.json()


def package(srv: Server, tenant: str, name: str) -> dict[str, Any]:
    item: dict[str, Any] = srv.packages(tenant)[name]
    return item


def worker(srv: Server, tenant: str) -> dict[str, Any]:
    state: dict[str, Any] = srv.ok("GET", f"/v1/tenants/{tenant}/worker")
    return state


def quarantined(srv: Server, tenant: str, name: str) -> dict[str, Any]:
    """The package once it is quarantined and the tenant's worker is back."""
    item = eventually(
        lambda: (p := package(srv, tenant, name))["status"] in ("crashed", "hung") and p
    )
    eventually(lambda: worker(srv, tenant)["state"] == "ready")
    return item


def server_maps_no_plugin(srv: Server) -> None:
    """The server process never mapped a plugin library (they live in workers only)."""
    assert srv.proc is not None
    plugin_maps = []
    for line in Path(f"/proc/{srv.proc.pid}/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        path = fields[5] if len(fields) > 5 else ""
        # a library's code is an executable mapping; the host maps plugins from unique,
        # unlinked copies (" (deleted)"), a worker from its scratch dir, nobody from libs/
        if "x" in fields[1] and (
            "(deleted)" in path or "cloacina-worker-" in path or str(srv.data_dir) in path
        ):
            plugin_maps.append(line)
    assert not plugin_maps, plugin_maps[:3]


NODE = "node 'score' of graph 'victim' in package 'hostile'"
ACC = "accumulator 'orders' in package 'hostile'"
SEGV, ABRT = "crashed the worker (SIGSEGV)", "crashed the worker (SIGABRT)"
EXIT0, EXIT3 = (f"ended the worker process (exit status {n})" for n in (0, 3))
CRASHES = [
    ("node", "segv", f"{NODE} {SEGV}"),
    ("node", "abort", f"{NODE} {ABRT}"),
    ("node", "exit0", f"{NODE} {EXIT0}"),
    ("node", "exit3", f"{NODE} {EXIT3}"),
    ("acc", "segv", f"{ACC} {SEGV}"),
    ("acc", "abort", f"{ACC} {ABRT}"),
    ("acc", "exit0", f"{ACC} {EXIT0}"),
    ("release", "segv", f"{NODE} {SEGV}"),  # the node's output buffer's release callback
    ("release", "abort", f"{NODE} {ABRT}"),
    ("release", "exit0", f"{NODE} {EXIT0}"),
]


@pytest.mark.parametrize(
    ("where", "how", "reason"), CRASHES, ids=[f"{w}-{h}" for w, h, _ in CRASHES]
)
def test_a_crashing_call_is_contained_and_quarantined(
    hostile_server: Server,
    hostile_archives: dict[str, Path],
    victim_tenant: tuple[str, str],
    where: str,
    how: str,
    reason: str,
) -> None:
    srv = hostile_server
    tenant, key, uploaded = hostile_tenant(srv, hostile_archives["hostile"])
    assert uploaded["status"] == "loaded"
    events = f"/v1/tenants/{tenant}/accumulators/orders/events"
    assert srv.ok("POST", events, key, content=b'{"fine": 1}')["fires"] == 1  # it works
    with Victim(srv, victim_tenant) as victim:
        time.sleep(0.2)
        answer = srv.request("POST", events, key, content=f'{{"{where}": "{how}"}}'.encode())
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "worker_unavailable"
        assert reason in answer.json()["error"]
        item = quarantined(srv, tenant, "hostile")
        time.sleep(0.3)
    victim.check()
    assert item["status"] == "crashed" and item["reason"] == reason
    state = worker(srv, tenant)
    assert state["restarts"] >= 1 and reason in (state["last_death"] or "")
    # the worker came back without it: the package's names are gone, nothing hangs
    missing = srv.request("POST", events, key, content=b'{"fine": 2}')
    assert missing.status_code == 404, missing.text
    server_maps_no_plugin(srv)


def test_a_hanging_call_is_killed_at_its_deadline(
    hostile_server: Server, hostile_archives: dict[str, Path], victim_tenant: tuple[str, str]
) -> None:
    srv = hostile_server
    tenant, key, _ = hostile_tenant(srv, hostile_archives["hostile"])
    events = f"/v1/tenants/{tenant}/accumulators/orders/events"
    with Victim(srv, victim_tenant) as victim:
        started = time.monotonic()
        answer = srv.request("POST", events, key, content=b'{"node": "loop"}')
        waited = time.monotonic() - started
        assert answer.status_code == 503, answer.text
        item = quarantined(srv, tenant, "hostile")
    victim.check()
    assert waited >= DEADLINE  # a clear answer, after the deadline, never a hang
    assert item["status"] == "hung"
    assert item["reason"] == (
        f"node 'score' of graph 'victim' in package 'hostile' did not return within "
        f"{DEADLINE:g}s; the worker was killed"
    )
    assert worker(srv, tenant)["deadline_kills"] == 1


def test_a_node_allocating_past_the_limit_kills_only_its_worker(
    hostile_server: Server, hostile_archives: dict[str, Path], victim_tenant: tuple[str, str]
) -> None:
    srv = hostile_server
    tenant, key, _ = hostile_tenant(srv, hostile_archives["hostile"])
    events = f"/v1/tenants/{tenant}/accumulators/orders/events"
    with Victim(srv, victim_tenant) as victim:
        answer = srv.request("POST", events, key, content=b'{"node": "alloc"}')
        assert answer.status_code == 503, answer.text
        item = quarantined(srv, tenant, "hostile")
    victim.check()
    assert item["status"] == "crashed"
    assert item["reason"].startswith(
        "node 'score' of graph 'victim' in package 'hostile' took the worker past its memory "
        f"limit of {MEMORY_MB} MiB"
    ), item["reason"]


def test_a_shutdown_hook_crashing_on_delete_costs_only_its_worker(
    hostile_server: Server, hostile_archives: dict[str, Path], victim_tenant: tuple[str, str]
) -> None:
    """The delete is decided in the store first (every replica must agree on it), so it
    stands: the worker dying in the package's shutdown hook is replaced without the package,
    nothing is quarantined, and the same archive uploads and loads again."""
    srv = hostile_server
    tenant, key, _ = hostile_tenant(srv, hostile_archives["hostile"])
    events = f"/v1/tenants/{tenant}/accumulators/orders/events"
    assert srv.ok("POST", events, key, content=b'{"arm_shutdown": "segv"}')["fires"] == 1
    with Victim(srv, victim_tenant) as victim:
        deleted = srv.ok("DELETE", f"/v1/tenants/{tenant}/packages/hostile", key)
        assert deleted["status"] == "deleted"
        eventually(lambda: worker(srv, tenant)["restarts"] >= 1)
        eventually(lambda: worker(srv, tenant)["state"] == "ready")
    victim.check()
    state = worker(srv, tenant)
    assert "shutdown hook in package 'hostile' crashed the worker (SIGSEGV)" in (
        state["last_death"] or ""
    )
    assert "hostile" not in srv.packages(tenant)
    again = srv.upload(tenant, key, hostile_archives["hostile"])  # not kept out
    assert again.json()["status"] == "loaded", again.text
    assert srv.ok("POST", events, key, content=b'{"fine": 1}')["fires"] == 1


LOADING = "library (while loading) in package"
EVASIVE = [
    ("evasive_init_segv", "evasive-init-segv", f"init hook in package 'evasive-init-segv' {SEGV}"),
    ("evasive_entry_exit", "evasive-entry-exit", f"{LOADING} 'evasive-entry-exit' {EXIT0}"),
    ("evasive_ctor_abort", "evasive-ctor-abort", f"{LOADING} 'evasive-ctor-abort' {ABRT}"),
]


@pytest.mark.parametrize(("lib", "name", "reason"), EVASIVE, ids=[e[0] for e in EVASIVE])
def test_a_library_that_only_crashes_outside_the_check(
    hostile_server: Server,
    hostile_archives: dict[str, Path],
    c_archives: dict[str, Path],
    lib: str,
    name: str,
    reason: str,
    victim_tenant: tuple[str, str],
) -> None:
    """It passes the upload's check (the probe), then takes the worker down while loading:
    the answer says so, and the tenant's other packages keep running."""
    srv = hostile_server
    tenant, key = srv.tenant(f"e-{uuid.uuid4().hex[:6]}", role="write")
    for other in ("pricing-publisher", "pricing-subscriber"):
        assert srv.upload(tenant, key, c_archives[other]).json()["status"] == "loaded"
    with Victim(srv, victim_tenant) as victim:
        response = srv.upload(tenant, key, hostile_archives[lib])
        assert response.status_code == 201, response.text
        assert (response.json()["status"], response.json()["reason"]) == ("crashed", reason)
        item = quarantined(srv, tenant, name)
    victim.check()
    assert item["reason"] == reason
    # the tenant's own packages were reloaded into the new worker and still fire
    fired = srv.ok(
        "POST", f"/v1/tenants/{tenant}/accumulators/raw_prices/events", key, content=b'{"price": 4}'
    )
    assert fired["fires"] == 1


def test_a_stray_forked_by_a_constructor_dies_with_its_worker(
    hostile_server: Server, hostile_archives: dict[str, Path], forker_pidfile: Path
) -> None:
    srv = hostile_server
    tenant, key, uploaded = hostile_tenant(srv, hostile_archives["forker"])
    assert uploaded["status"] == "loaded"
    stray = int(eventually(lambda: forker_pidfile.exists() and forker_pidfile.read_text().strip()))
    os.kill(stray, 0)  # alive, holding the worker's pipes
    fired = srv.ok("POST", f"/v1/tenants/{tenant}/accumulators/forks/events", key, content=b"1")
    assert fired["fires"] == 1
    # deleting the package stops the idle worker: its process group goes, stray included
    srv.ok("DELETE", f"/v1/tenants/{tenant}/packages/forker", key)
    eventually(lambda: not Path(f"/proc/{stray}").exists() or _zombie(stray))


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_a_plugin_cannot_read_the_database_keys_or_the_servers_environment(
    hostile_server: Server, hostile_archives: dict[str, Path]
) -> None:
    srv = hostile_server
    tenant, key, _ = hostile_tenant(srv, hostile_archives["snoop"])
    events = f"/v1/tenants/{tenant}/accumulators/probe_requests/events"
    graph = f"/v1/tenants/{tenant}/graphs/snooper"
    for secret in (srv.data_dir / "cloacina.db", srv.data_dir / "bootstrap-key"):
        assert secret.exists()
        srv.ok("POST", events, key, json={"path": str(secret)})
        peek = srv.ok("GET", graph, key)["last_run"]["outputs"]["peek"]
        assert peek["opened"] is False, peek
        assert peek["bytes"] == 0 and "denied" in str(peek["errno"]).lower()
    parent = peek["parent_environ"]
    assert parent["opened"] is False and parent["bytes"] == 0
    environ = "\n".join(peek["environ"])
    for name in ("CLOACINA_BOOTSTRAP_KEY", "CLOACINA_SECRET_OF_THE_SERVER", "CLOACINA_HOME"):
        assert name not in environ
    assert BOOT not in environ and "must-not-reach-plugins" not in environ
    assert "CLOACINA_TEST_FORKER_PIDFILE=" in environ  # what the operator passes on purpose
    sandbox = worker(srv, tenant)["sandbox"]
    assert sandbox["landlock"] >= 1 and sandbox["user"] == "root without capabilities"


def test_retry_and_reupload_release_the_quarantine(
    hostile_server: Server, hostile_archives: dict[str, Path]
) -> None:
    srv = hostile_server
    tenant, key, _ = hostile_tenant(srv, hostile_archives["hostile"])
    events = f"/v1/tenants/{tenant}/accumulators/orders/events"
    srv.request("POST", events, key, content=b'{"node": "abort"}')
    quarantined(srv, tenant, "hostile")
    retried = srv.ok("POST", f"/v1/tenants/{tenant}/packages/hostile/retry", key)
    assert retried["status"] == "loaded"
    assert srv.ok("POST", events, key, content=b'{"fine": 3}')["fires"] == 1
    srv.request("POST", events, key, content=b'{"node": "segv"}')
    quarantined(srv, tenant, "hostile")
    again = srv.upload(tenant, key, hostile_archives["hostile"])  # a re-upload releases it too
    assert again.json()["status"] == "loaded"
    not_held = srv.request("POST", f"/v1/tenants/{tenant}/packages/hostile/retry", key)
    assert not_held.status_code == 404


def test_five_straight_failures_mark_the_tenant_crashed_until_restarted(
    hostile_server: Server, c_archives: dict[str, Path]
) -> None:
    """Deaths with no call to blame (the worker is killed from outside) are not anyone's
    quarantine: they count as straight failures, and the fifth stops the restarts."""
    srv = hostile_server
    tenant, key = srv.tenant(f"k-{uuid.uuid4().hex[:6]}", role="admin")
    srv.upload(tenant, key, c_archives["pricing-publisher"])
    for _ in range(5):
        pid = eventually(
            lambda: worker(srv, tenant)["state"] == "ready" and worker(srv, tenant)["pid"]
        )
        os.kill(pid, signal.SIGKILL)
        eventually(lambda p=pid: worker(srv, tenant)["pid"] != p, timeout=30)
    state = eventually(lambda: (w := worker(srv, tenant))["state"] == "crashed" and w, timeout=60)
    assert state["failures"] == 5
    down = srv.request("GET", f"/v1/tenants/{tenant}/reactors", key)
    assert down.status_code == 503 and down.json()["code"] == "worker_unavailable"
    assert f"cloacinactl tenant restart {tenant}" in down.json()["error"]
    ready = srv.ok("GET", "/ready")
    assert ready["status"] == "degraded" and ready["tenants"][tenant]["state"] == "crashed"
    srv.ok("POST", f"/v1/tenants/{tenant}/restart", key)
    assert worker(srv, tenant)["state"] == "ready"
    assert [r["name"] for r in srv.ok("GET", f"/v1/tenants/{tenant}/reactors", key)["items"]] == [
        "PriceReactor"
    ]


def cli(srv: Server, key: str, tenant: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CLOACINA_SERVER": srv.url,
        "CLOACINA_API_KEY": key,
        "CLOACINA_TENANT": tenant,
        "CLOACINA_HOME": str(srv.data_dir.parent / "cli-home"),
    }
    return subprocess.run(
        [sys.executable, "-m", "cloacina_host", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_the_cli_and_metrics_show_the_quarantine(
    hostile_server: Server, hostile_archives: dict[str, Path]
) -> None:
    srv = hostile_server
    tenant, key = srv.tenant(f"c-{uuid.uuid4().hex[:6]}", role="admin")
    srv.upload(tenant, key, hostile_archives["hostile"])
    events = f"/v1/tenants/{tenant}/accumulators/orders/events"
    srv.request("POST", events, key, content=b'{"node": "segv"}')
    quarantined(srv, tenant, "hostile")
    listed = cli(srv, key, tenant, "package", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    (item,) = orjson.loads(listed.stdout)
    assert (item["status"], item["reason"]) == ("crashed", f"{NODE} {SEGV}")
    status = cli(srv, key, tenant, "graph", "status", "HostileReactor")
    assert status.returncode == 3
    assert status.stderr.strip() == (
        f"Error: 'HostileReactor' of package 'hostile' is not loaded in tenant '{tenant}' "
        f"(package crashed: {NODE} {SEGV})"
    )
    shown = cli(srv, key, tenant, "tenant", "worker")
    assert shown.returncode == 0 and "worker: ready" in shown.stdout
    assert f"last death: {NODE} {SEGV}" in shown.stdout
    metrics = srv.request("GET", "/metrics", key=None).text
    for family in (
        f'cloacina_worker_crashes_total{{cause="crashed",tenant="{tenant}"}} 1.0',
        f'cloacina_worker_restarts_total{{tenant="{tenant}"}} 1.0',
        f'cloacina_package_quarantines_total{{tenant="{tenant}"}} 1.0',
        f'cloacina_worker_up{{tenant="{tenant}"}} 1.0',
        f'cloacina_worker_channel_depth{{tenant="{tenant}"}} 0.0',
    ):
        assert family in metrics, family
    retried = cli(srv, key, tenant, "package", "retry", "hostile")
    assert retried.returncode == 0 and retried.stdout.strip() == "OK: package hostile is loaded"
    restarted = cli(srv, key, tenant, "tenant", "restart")
    assert restarted.returncode == 0, restarted.stderr
    assert restarted.stdout.startswith(f"OK: the worker of tenant {tenant} restarted")
    assert srv.packages(tenant, key)["hostile"]["status"] == "loaded"  # reloaded by the restart


def test_workers_can_run_as_an_unprivileged_user(
    tmp_path: Path, hostile_archives: dict[str, Path]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("--worker-user needs a server running as root")
    srv = Server(tmp_path / "data", env={"CLOACINA_WORKER_USER": "nobody"}).start()
    try:
        tenant, key, uploaded = hostile_tenant(srv, hostile_archives["snoop"])
        assert uploaded["status"] == "loaded", uploaded
        assert worker(srv, tenant)["sandbox"]["user"] == "nobody"
        events = f"/v1/tenants/{tenant}/accumulators/probe_requests/events"
        srv.ok("POST", events, key, json={"path": str(srv.data_dir / "cloacina.db")})
        peek = srv.ok("GET", f"/v1/tenants/{tenant}/graphs/snooper", key)["last_run"]
        assert peek["outputs"]["peek"]["opened"] is False
    finally:
        srv.stop()


def test_a_replacement_worker_gets_the_reactor_caches_back_without_firing(
    hostile_server: Server, c_archives: dict[str, Path]
) -> None:
    srv = hostile_server
    tenant, key = srv.tenant(f"m-{uuid.uuid4().hex[:6]}", role="write")
    for name in ("pricing-publisher", "pricing-subscriber"):
        srv.upload(tenant, key, c_archives[name])
    events = f"/v1/tenants/{tenant}/accumulators"
    srv.ok("POST", f"{events}/normalized_prices/events", key, json={"price": 20})
    srv.ok("POST", f"{events}/raw_prices/events", key, json={"price": 50})
    reactor = f"/v1/tenants/{tenant}/reactors/PriceReactor"
    before = srv.ok("GET", reactor, key)
    assert before["fires"] == 2
    pid = worker(srv, tenant)["pid"]
    os.kill(pid, signal.SIGKILL)  # no call in flight: nobody is quarantined
    eventually(lambda: (w := worker(srv, tenant))["state"] == "ready" and w["pid"] != pid)
    after = srv.ok("GET", reactor, key)
    assert (
        after["cache"]
        == before["cache"]
        == {
            "raw_prices": {"price": 50},
            "normalized_prices": {"price": 20},
        }
    )
    assert after["fires"] == 0  # restored, not fired
    fired = srv.ok("POST", f"{events}/raw_prices/events", key, json={"price": 60})
    assert fired["fires"] == 1
    last = srv.ok("GET", f"/v1/tenants/{tenant}/graphs/price_consumer", key)["last_run"]
    assert last["outputs"] == {"publish": {"signal": 3.0}}  # 60 / the restored 20


def test_the_server_restarts_clean_on_the_same_data_dir(
    hostile_server: Server, hostile_archives: dict[str, Path], c_archives: dict[str, Path]
) -> None:
    """Runs last in this module: the quarantines it made survive a restart, nothing crashes
    again at start-up, and the other tenants' packages come back."""
    srv = hostile_server
    tenant, key = srv.tenant(f"r-{uuid.uuid4().hex[:6]}", role="write")
    for other in ("pricing-publisher", "pricing-subscriber"):
        srv.upload(tenant, key, c_archives[other])
    srv.upload(tenant, key, hostile_archives["evasive_init_segv"])
    quarantined(srv, tenant, "evasive-init-segv")
    port = srv.port
    srv.stop()
    srv.start(port=port)  # the same port: no stray holds it
    assert srv.ok("GET", "/ready")["status"] == "ready"
    packages = srv.packages(tenant)
    assert packages["evasive-init-segv"]["status"] == "crashed"
    assert packages["pricing-subscriber"]["status"] == "loaded"
    assert worker(srv, tenant)["restarts"] == 0  # it started once, and did not die


def test_views_answer_while_the_last_package_is_deleted(
    server: Server, c_archives: dict[str, Path]
) -> None:
    """Deleting a tenant's last package stops its worker; a view asked at that moment answers
    what the tenant now has (nothing), never 503."""
    tenant, key = server.tenant(f"v-{uuid.uuid4().hex[:6]}")
    answers: list[int] = []
    for _ in range(4):
        assert server.upload(tenant, key, c_archives["pricing-publisher"]).status_code == 201
        done = threading.Event()

        def hammer(done: threading.Event = done) -> None:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                while not done.is_set():
                    for view in ("reactors", "accumulators", "graphs"):
                        r = client.get(
                            f"/v1/tenants/{tenant}/{view}",
                            headers={"Authorization": f"Bearer {key}"},
                        )
                        answers.append(r.status_code)

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            deleted = server.request(
                "DELETE", f"/v1/tenants/{tenant}/packages/pricing-publisher", key
            )
            assert deleted.status_code == 200, deleted.text
            time.sleep(0.3)
        finally:
            done.set()
            for t in threads:
                t.join()
    assert answers and set(answers) == {200}, sorted(set(answers))
