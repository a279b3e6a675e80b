"""Many replicas, one truth: three `cloacina-server` processes on one real PostgreSQL.

Any replica answers any control-plane request the same way (packages, the guard, keys,
tickets, status); a change on one reaches the others by NOTIFY (their poll is turned off
here, so only the wake-up can make them converge); start-up races and `kill -9` leave one
truth behind."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cloacina_host.control.migrate import head
from server_fixtures import BOOT, GUARD, Cli, Server, assert_error, eventually

POLL_OFF = "3600"  # no background reconcile: convergence can only come from NOTIFY


@pytest.fixture(scope="module")
def cluster_db(postgres: str) -> str:
    from pg_fixtures import create_database

    return create_database(postgres)


@pytest.fixture(scope="module")
def cluster(cluster_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Three replicas started at the same moment on one empty database."""
    base = tmp_path_factory.mktemp("cluster")
    servers = [
        Server(
            base / f"r{i}",
            database_url=cluster_db,
            env={"CLOACINA_REPLICA_ID": f"r{i}", "CLOACINA_POLL_SECONDS": POLL_OFF},
        )
        for i in (1, 2, 3)
    ]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda s: s.start(), servers))
    yield servers
    for s in servers:
        s.stop()


def tenant(servers: list[Server]) -> tuple[str, str]:
    return servers[0].tenant(f"c-{uuid.uuid4().hex[:6]}", role="admin")


def reactors(srv: Server, name: str, key: str) -> list[str] | None:
    """The tenant's reactors on ``srv``; None while its worker is starting there (503)."""
    answer = srv.request("GET", f"/v1/tenants/{name}/reactors", key)
    if answer.status_code == 503 and answer.json()["code"] == "worker_unavailable":
        return None
    assert answer.status_code == 200, answer.text
    return [r["name"] for r in answer.json()["items"]]


def graphs(srv: Server, name: str, key: str) -> list[str] | None:
    """The tenant's graphs on ``srv``; None while its worker is starting there (503)."""
    answer = srv.request("GET", f"/v1/tenants/{name}/graphs", key)
    if answer.status_code == 503 and answer.json()["code"] == "worker_unavailable":
        return None
    assert answer.status_code == 200, answer.text
    return [g["name"] for g in answer.json()["items"]]


def test_starting_at_once_makes_one_bootstrap_key_and_one_schema(
    cluster: list[Server], cluster_db: str
) -> None:
    engine = sa.create_engine(cluster_db.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            platform = conn.execute(
                sa.text("SELECT count(*) FROM api_keys WHERE tenant IS NULL")
            ).scalar_one()
            revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert platform == 1
    assert revision == [(head(),)]
    written = [
        s.data_dir / "bootstrap-key" for s in cluster if (s.data_dir / "bootstrap-key").exists()
    ]
    assert len(written) == 1  # the replica that made it wrote it; the others did not
    alive = cluster[1].ok("GET", "/v1/replicas")
    assert sorted(i["id"] for i in alive["items"] if i["alive"]) == ["r1", "r2", "r3"]
    assert alive["self"] == "r2"


def test_an_upload_on_one_is_served_by_all(
    cluster: list[Server], c_archives: dict[str, Path]
) -> None:
    name, key = tenant(cluster)
    answered = cluster[0].upload(name, key, c_archives["pricing-publisher"])
    assert answered.status_code == 201 and answered.json()["status"] == "loaded"
    assert answered.json()["replica"] == "r1"
    for srv in cluster[1:]:  # their poll is off: only the NOTIFY can bring it (the time it
        # takes is measured in benchmarks/bench_replicas.py, not asserted here)
        eventually(lambda s=srv: reactors(s, name, key) == ["PriceReactor"], timeout=20)
    item = eventually(
        lambda: (
            (p := cluster[2].packages(name, key)["pricing-publisher"])["summary"]
            == "loaded on 3/3 replicas"
            and p
        )
    )
    assert item["status"] == "loaded"
    assert sorted(r["replica"] for r in item["replicas"]) == ["r1", "r2", "r3"]


def test_bind_on_one_then_delete_the_publisher_on_another_is_refused(
    cluster: list[Server], c_archives: dict[str, Path]
) -> None:
    """The guard is decided on the stored manifests, in a transaction holding the tenant's
    lock: every replica refuses, whatever its runtime has loaded yet."""
    name, key = tenant(cluster)
    a, b, c = cluster
    assert a.upload(name, key, c_archives["pricing-publisher"]).status_code == 201
    for _ in range(100):
        assert a.upload(name, key, c_archives["pricing-subscriber"]).status_code == 201
        refused = b.request("DELETE", f"/v1/tenants/{name}/packages/pricing-publisher", key)
        assert_error(refused, 409, "bound_subscribers", GUARD)
        deleted = c.request("DELETE", f"/v1/tenants/{name}/packages/pricing-subscriber", key)
        assert deleted.status_code == 200, deleted.text
    for srv in cluster:  # consistent: the publisher everywhere, the subscriber nowhere
        assert sorted(srv.packages(name, key)) == ["pricing-publisher"]
        eventually(lambda s=srv: reactors(s, name, key) == ["PriceReactor"])
        eventually(lambda s=srv: graphs(s, name, key) == [])


def test_deletes_in_the_safe_order_converge_everywhere(
    cluster: list[Server], c_archives: dict[str, Path]
) -> None:
    name, key = tenant(cluster)
    a, b, c = cluster
    a.upload(name, key, c_archives["pricing-publisher"])
    a.upload(name, key, c_archives["pricing-subscriber"])
    for srv in cluster:
        eventually(lambda s=srv: graphs(s, name, key) == ["price_consumer"])
    subscriber = b.ok("DELETE", f"/v1/tenants/{name}/packages/pricing-subscriber", key)
    assert subscriber["messages"] == ["reactor PriceReactor now has 0 subscribers"]
    publisher = c.ok("DELETE", f"/v1/tenants/{name}/packages/pricing-publisher", key)
    assert publisher["messages"] == ["reactor PriceReactor torn down"]
    for srv in cluster:
        eventually(lambda s=srv: reactors(s, name, key) == [])
        assert srv.packages(name, key) == {}


def test_concurrent_uploads_of_one_package_to_every_replica(
    cluster: list[Server], c_archives: dict[str, Path]
) -> None:
    name, key = tenant(cluster)
    archive = c_archives["pricing-publisher"]
    statuses: list[int] = []

    def upload(srv: Server, barrier: threading.Barrier) -> int:
        barrier.wait()
        return srv.upload(name, key, archive).status_code

    for _ in range(20):
        barrier = threading.Barrier(3)
        with ThreadPoolExecutor(3) as pool:
            statuses += list(pool.map(upload, cluster, [barrier] * 3))
    assert set(statuses) == {201}, statuses
    for srv in cluster:
        assert list(srv.packages(name, key)) == ["pricing-publisher"]
        (item,) = srv.ok("GET", f"/v1/tenants/{name}/packages", key)["items"]
        assert item["name"] == "pricing-publisher"


def test_a_ticket_is_redeemed_once_across_replicas(
    cluster: list[Server], c_archives: dict[str, Path]
) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    a, b, c = cluster
    name, key = tenant(cluster)
    a.upload(name, key, c_archives["pricing-publisher"])
    eventually(lambda: reactors(b, name, key) == ["PriceReactor"])
    eventually(lambda: reactors(c, name, key) == ["PriceReactor"])
    ticket = a.ticket(key)
    path = f"/v1/ws/reactor/PriceReactor?token={ticket}"
    with connect(b.ws_url + path, open_timeout=10) as ws:
        ws.send('{"command": "get_state"}')
        assert '"type":"state"' in str(ws.recv(timeout=10))
    with pytest.raises(InvalidStatus) as refused:
        connect(c.ws_url + path, open_timeout=10)
    assert refused.value.response.status_code == 401


def test_the_cli_shows_the_replicas_and_how_far_a_package_has_come(
    cluster: list[Server], c_archives: dict[str, Path], tmp_path: Path
) -> None:
    name, key = tenant(cluster)
    cluster[0].upload(name, key, c_archives["pricing-publisher"])
    eventually(
        lambda: (
            cluster[0].packages(name, key)["pricing-publisher"]["summary"]
            == "loaded on 3/3 replicas"
        )
    )
    cli = Cli(tmp_path / "home")
    listed = cli.ok("--server", cluster[1].url, "--key", BOOT, "replica", "list")
    assert "r2 (this one)" in listed
    assert [line.split()[0] for line in listed.splitlines() if " alive " in line] == [
        "r1",
        "r2",
        "r3",
    ]
    remote = ["--server", cluster[2].url, "--key", key, "--tenant", name]
    table = cli.ok("package", "list", *remote)
    assert "loaded on 3/3 replicas" in table
    (item,) = cli.json("package", "list", *remote)
    assert [r["replica"] for r in item["replicas"]] == ["r1", "r2", "r3"]


def test_kill_9_of_one_replica_leaves_the_others_serving(
    cluster: list[Server], c_archives: dict[str, Path]
) -> None:
    """Runs last: kills r3, checks r1 and r2 serve on, restarts r3 and sees it converge."""
    a, b, c = cluster
    name, key = tenant(cluster)
    a.upload(name, key, c_archives["pricing-publisher"])
    assert c.proc is not None
    c.proc.kill()
    c.proc.wait()
    c.proc = None
    a.upload(name, key, c_archives["pricing-subscriber"])  # a change while r3 is down
    for srv in (a, b):
        eventually(lambda s=srv: graphs(s, name, key) == ["price_consumer"])
        fired = srv.ok(
            "POST", f"/v1/tenants/{name}/accumulators/raw_prices/events", key, json={"price": 3}
        )
        assert fired["fires"] == 1
    # r3 stops beating: once its last beat is older than ALIVE_SECONDS it drops out of the
    # replicas counted, and the survivors agree on their own
    eventually(
        lambda: (
            [i["id"] for i in b.ok("GET", "/v1/replicas")["items"] if i["alive"]] == ["r1", "r2"]
        ),
        timeout=30,
    )
    assert a.packages(name, key)["pricing-subscriber"]["summary"] == "loaded on 2/2 replicas"
    c.start(port=c.port)  # the same id (r3): it catches up with a full pass at start
    eventually(lambda: graphs(c, name, key) == ["price_consumer"])
    item: dict[str, Any] = eventually(
        lambda: (
            (p := a.packages(name, key)["pricing-subscriber"])["summary"]
            == "loaded on 3/3 replicas"
            and p
        )
    )
    assert item["status"] == "loaded"
