"""The JetStream event plane: three replicas on one PostgreSQL and one real
``nats-server -js``. Any replica accepts events and every replica shows the same state;
exactly one owns each reactor, and a reactor survives its owner's ``kill -9`` with every
acknowledged event folded in exactly once."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import pack_library
from nats_fixtures import Nats
from server_fixtures import Cli, Server, eventually

RUNS_KEPT = 20_000  # runs kept per graph: the audit reads all of them back


@pytest.fixture(scope="module")
def multi_archive(c_plugins: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pack_library(c_plugins["test_multi"], tmp_path_factory.mktemp("multi"))


@pytest.fixture(scope="module")
def stream_archive(c_plugins: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pack_library(c_plugins["test_stream"], tmp_path_factory.mktemp("stream"))


@pytest.fixture(scope="module")
def cluster(
    postgres: str, nats_server: Nats, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Server]]:
    from pg_fixtures import create_database

    db = create_database(postgres)
    base = tmp_path_factory.mktemp("js-cluster")
    servers = [
        Server(
            base / f"j{i}",
            database_url=db,
            env={
                "CLOACINA_REPLICA_ID": f"j{i}",
                "CLOACINA_EVENTS": nats_server.url,
                "CLOACINA_EVENTS_RUNS_PER_GRAPH": str(RUNS_KEPT),
            },
        )
        for i in (1, 2, 3)
    ]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda s: s.start(), servers))
    yield servers
    for s in servers:
        s.stop()


def new_tenant(servers: list[Server], archive: Path) -> tuple[str, str]:
    """A tenant with ``archive`` loaded on every replica."""
    name, key = servers[0].tenant(f"js-{uuid.uuid4().hex[:6]}", role="admin")
    assert servers[0].upload(name, key, archive).json()["status"] == "loaded"
    for srv in servers:
        eventually(lambda s=srv: answered(s, f"/v1/tenants/{name}/reactors", key) is not None)
    return name, key


def answered(srv: Server, path: str, key: str) -> Any:
    """The JSON answer, or None while the replica is not ready for it (503)."""
    response = srv.request("GET", path, key)
    if response.status_code == 503:
        return None
    assert response.status_code == 200, response.text
    return response.json()


def reactor(srv: Server, name: str, key: str, reactor: str) -> dict[str, Any]:
    view: dict[str, Any] = srv.ok("GET", f"/v1/tenants/{name}/reactors/{reactor}", key)
    return view


def owned(srv: Server) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = srv.ok("GET", "/v1/replicas")["events"]["owned"]
    return items


def push(srv: Server, name: str, key: str, acc: str, event: Any, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = srv.ok(
        "POST", f"/v1/tenants/{name}/accumulators/{acc}/events", key, json=event, **kw
    )
    return body


def broker_runs(url: str, tenant: str, graph: str) -> list[dict[str, Any]]:
    """Every run the broker keeps for a graph, read straight from the runs stream."""
    import nats
    from nats.js.api import DeliverPolicy

    async def read() -> list[dict[str, Any]]:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            subject = f"cloacina.runs.{tenant}.{graph}"
            info = await js.stream_info("CLOACINA_RUNS", subjects_filter=subject)
            count = (info.state.subjects or {}).get(subject, 0)
            sub = await js.subscribe(
                subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
            )
            out = []
            while len(out) < count:
                out.append(orjson.loads((await sub.next_msg(timeout=10)).data))
            await sub.unsubscribe()
            return out
        finally:
            await nc.close()

    return asyncio.run(read())


def test_events_through_any_replica_reach_the_one_owner_and_read_the_same_everywhere(
    cluster: list[Server], c_archives: dict[str, Path]
) -> None:
    name, key = cluster[0].tenant(f"js-{uuid.uuid4().hex[:6]}", role="admin")
    for pkg in ("pricing-publisher", "pricing-subscriber"):
        assert cluster[0].upload(name, key, c_archives[pkg]).json()["status"] == "loaded"
    owner = eventually(
        lambda: (
            (r := answered(cluster[1], f"/v1/tenants/{name}/reactors/PriceReactor", key))
            and r["owner"]
        )
    )
    with cluster[2].ws(f"/v1/ws/graph/price_consumer/outputs?tenant={name}", key) as follow:
        time.sleep(0.3)  # the follower subscribes before the first event
        answers = [
            push(srv, name, key, "raw_prices", {"price": 10 + i}) for i, srv in enumerate(cluster)
        ]
        assert [a["fires"] for a in answers] == [None, None, None]  # fired by the owner, later
        assert sorted(a["sequence"] for a in answers) == sorted({a["sequence"] for a in answers})
        streamed = [orjson.loads(follow.recv(timeout=10)) for _ in range(3)]
    assert [r["outputs"] is not None for r in streamed] == [True, True, True]
    assert {r["owner"] for r in streamed} == {owner}
    views = [
        eventually(lambda s=srv: (v := reactor(s, name, key, "PriceReactor"))["fires"] == 3 and v)
        for srv in cluster
    ]
    for view in views[1:]:  # the same state, read from any replica
        assert {k: view[k] for k in ("fires", "cache", "owner", "epoch", "applied_sequence")} == {
            k: views[0][k] for k in ("fires", "cache", "owner", "epoch", "applied_sequence")
        }
    assert views[0]["cache"]["raw_prices"] in ({"price": 10}, {"price": 11}, {"price": 12})
    graphs = [s.ok("GET", f"/v1/tenants/{name}/graphs/price_consumer", key) for s in cluster]
    assert [g["runs_ok"] for g in graphs] == [3, 3, 3]
    assert graphs[0]["outputs"] == graphs[1]["outputs"] == graphs[2]["outputs"]
    accs = [s.ok("GET", f"/v1/tenants/{name}/accumulators", key)["items"] for s in cluster]
    assert accs[0] == accs[1] == accs[2]
    assert next(a for a in accs[0] if a["name"] == "raw_prices")["events_total"] == 3


def test_a_when_all_reactor_fed_through_two_replicas_fires(
    cluster: list[Server], multi_archive: Path
) -> None:
    name, key = new_tenant(cluster, multi_archive)
    push(cluster[0], name, key, "a", {"side": "a"})
    push(cluster[1], name, key, "b", {"side": "b"})
    graph = eventually(
        lambda: (
            (g := cluster[2].ok("GET", f"/v1/tenants/{name}/graphs/all_graph", key))["runs_ok"] == 1
            and g
        )
    )
    assert graph["last_run"]["outputs"] == {"both": [{"side": "a"}, {"side": "b"}]}


def test_commands_reach_the_owner_from_any_replica(
    cluster: list[Server], multi_archive: Path
) -> None:
    name, key = new_tenant(cluster, multi_archive)
    eventually(lambda: reactor(cluster[0], name, key, "LatestReactor")["owner"])
    with cluster[1].ws(f"/v1/ws/reactor/LatestReactor?tenant={name}", key) as ws:
        ws.send('{"command": "pause"}')
        assert orjson.loads(ws.recv(timeout=10))["type"] == "paused"
    push(cluster[2], name, key, "l", {"v": 1})
    eventually(lambda: reactor(cluster[0], name, key, "LatestReactor")["applied_sequence"] > 0)
    state = reactor(cluster[2], name, key, "LatestReactor")
    assert (state["state"], state["fires"]) == ("paused", 0)
    with cluster[0].ws(f"/v1/ws/reactor/LatestReactor?tenant={name}", key) as ws:
        ws.send('{"command": "resume"}')
        assert orjson.loads(ws.recv(timeout=10)) == {
            "type": "resumed",
            "reactor": "LatestReactor",
            "fires": 1,
        }
        ws.send('{"command": "get_state"}')
        got = orjson.loads(ws.recv(timeout=10))
    assert got["type"] == "state" and got["cache"] == {"l": {"tagged": {"v": 1}}}
    fired = cluster[2].ok("POST", f"/v1/tenants/{name}/reactors/LatestReactor/fire", key, json={})
    assert [r["graph"] for r in fired["runs"]] == ["latest_graph"]
    assert reactor(cluster[1], name, key, "LatestReactor")["fires"] == 2


def test_an_idempotency_key_is_applied_once(
    cluster: list[Server], multi_archive: Path, tmp_path: Path
) -> None:
    name, key = new_tenant(cluster, multi_archive)
    cli = Cli(tmp_path / "home")
    remote = ["--server", cluster[2].url, "--key", key, "--tenant", name]
    said = [
        cli.ok("accumulator", "push", "l", '{"v": 7}', "--idempotency-key", "cli-1", *remote)
        for _ in range(2)
    ]
    assert said[0].startswith("OK: event accepted for l as sequence ")
    assert said[0].endswith("; reactor LatestReactor fires on its owner\n")
    assert said[1] == said[0].replace("; reactor", " (a repeat: already accepted); reactor")
    status = eventually(
        lambda: (
            "applied sequence: " in (out := cli.ok("graph", "status", "LatestReactor", *remote))
            and "fires: 1" in out
            and out
        )
    )
    owner = reactor(cluster[0], name, key, "LatestReactor")["owner"]
    assert f"owner: {owner} (epoch " in status
    headers = {"Idempotency-Key": f"order-{uuid.uuid4().hex}"}
    first = push(cluster[0], name, key, "s", {"n": 1}, headers=headers)
    again = push(cluster[1], name, key, "s", {"n": 1}, headers=headers)
    assert (first["duplicate"], again["duplicate"]) == (False, True)
    assert first["sequence"] == again["sequence"]
    push(cluster[2], name, key, "s", {"n": 2})
    view = eventually(
        lambda: (v := reactor(cluster[0], name, key, "SeqReactor"))["fires"] == 2 and v
    )
    assert view["applied_sequence"] > first["sequence"]


def publish_straight(url: str, subject: str, events: list[Any]) -> None:
    """A publisher that is not cloacina: it writes to the broker subject itself."""
    import nats

    async def write() -> None:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            for event in events:
                await js.publish(subject, orjson.dumps(event))
        finally:
            await nc.close()

    asyncio.run(write())


def test_a_stream_accumulator_is_fed_by_a_publisher_writing_to_the_broker(
    cluster: list[Server], stream_archive: Path, nats_server: Nats
) -> None:
    name, key = new_tenant(cluster, stream_archive)
    accs = {
        a["name"]: a for a in cluster[1].ok("GET", f"/v1/tenants/{name}/accumulators", key)["items"]
    }
    assert (accs["btc_ticks"]["subject"], accs["btc_ticks"]["durable"]) == ("prices.btc", "pricing")
    # written before anyone may own the reactor yet: nothing is missed
    publish_straight(
        nats_server.url, f"cloacina.stream.{name}.prices.eth", [{"eth": i} for i in range(3)]
    )
    publish_straight(
        nats_server.url, f"cloacina.stream.{name}.prices.btc", [{"btc": 1}, {"btc": 2}]
    )
    eth = eventually(
        lambda: (v := reactor(cluster[2], name, key, "EthReactor"))["fires"] == 3 and v, timeout=20
    )
    assert eth["cache"] == {"eth_ticks": {"eth": 2}}
    runs = eventually(
        lambda: (
            (g := cluster[0].ok("GET", f"/v1/tenants/{name}/graphs/eth_graph", key))["runs_ok"] == 3
            and g["outputs"]
        )
    )
    assert [r["outputs"] for r in runs] == [{"eth_seen": {"eth": i}} for i in range(3)]
    ticker = eventually(
        lambda: (
            (v := reactor(cluster[1], name, key, "TickerReactor"))["cache"]["btc_ticks"]
            == {"streamed": {"btc": 2}}
            and v
        )
    )
    assert ticker["fires"] >= 1
    # another tenant's plugin naming the same subject reads its own tenant's space only
    other, other_key = new_tenant(cluster, stream_archive)
    time.sleep(1.0)
    assert reactor(cluster[0], other, other_key, "EthReactor")["fires"] == 0
    counts = {
        a["name"]: a["events_total"]
        for a in cluster[2].ok("GET", f"/v1/tenants/{name}/accumulators", key)["items"]
    }
    assert counts == {"btc_ticks": 2, "eth_ticks": 3, "manual_ticks": 0}


def test_reactors_are_spread_over_the_replicas(cluster: list[Server], multi_archive: Path) -> None:
    tenants = [new_tenant(cluster, multi_archive) for _ in range(2)]
    names = {t for t, _ in tenants}

    def spread() -> dict[str, list[tuple[str, str]]] | None:
        by = {
            s.env["CLOACINA_REPLICA_ID"]: [
                (o["tenant"], o["reactor"]) for o in owned(s) if o["tenant"] in names
            ]
            for s in cluster
        }
        everyone = [r for rs in by.values() for r in rs]
        assert len(everyone) == len(set(everyone))  # never a reactor owned twice
        # 7 reactors each, all owned, and rendezvous spreads them: the first replica to see a
        # tenant may take all its reactors, and hands each to its preferred owner once that
        # one has settled (the handover is 10 s after the claim)
        return by if len(everyone) == 14 and sum(1 for rs in by.values() if rs) >= 2 else None

    eventually(spread, timeout=45)


def test_a_reactor_survives_its_owners_death_with_every_acknowledged_event_once(
    cluster: list[Server], multi_archive: Path, nats_server: Nats
) -> None:
    """10,000 numbered events, round-robin over the replicas by WebSocket with acks, into
    the sequential SeqReactor; its owner is killed with SIGKILL midway."""
    name, key = new_tenant(cluster, multi_archive)
    first = eventually(lambda: reactor(cluster[0], name, key, "SeqReactor")["owner"])
    victim = next(s for s in cluster if s.env["CLOACINA_REPLICA_ID"] == first)
    survivors = [s for s in cluster if s is not victim]
    n_events, chunk = 10_000, 100
    acked: dict[int, int] = {}  # number -> broker sequence
    sent: set[int] = set()
    lock = threading.Lock()
    killed = threading.Event()

    def pusher(index: int) -> None:
        numbers = list(range(index, n_events, 3))
        srv, at = cluster[index], 0
        while at < len(numbers):
            with srv.ws(f"/v1/ws/accumulator/s?tenant={name}&ack=1", key) as ws:
                while at < len(numbers):
                    part = numbers[at : at + chunk]
                    at += len(part)
                    try:
                        for n in part:
                            ws.send(orjson.dumps({"n": n}).decode())
                            with lock:
                                sent.add(n)
                        for n in part:  # one ack per accepted frame, in order
                            reply = orjson.loads(ws.recv(timeout=30))
                            assert reply["type"] == "ack", reply
                            with lock:
                                acked[n] = reply["sequence"]
                    except Exception:
                        if srv is not victim or not killed.is_set():
                            raise
                        # its replica is gone: what it did not acknowledge may or may not
                        # be in (no resend: that could apply an event twice); go on
                        # through a live replica
                        srv = survivors[index % 2]
                        break

    pool = ThreadPoolExecutor(3)
    futures = [pool.submit(pusher, i) for i in range(3)]
    eventually(lambda: len(acked) >= n_events // 2, timeout=120, interval=0.01)
    assert victim.proc is not None
    killed.set()
    victim.proc.kill()
    t_kill = time.monotonic()
    victim.proc.wait()
    victim.proc = None
    new_owner = eventually(
        lambda: (
            (o := reactor(survivors[0], name, key, "SeqReactor")["owner"]) not in (None, first)
            and o
        ),
        timeout=15,
        interval=0.02,
    )
    takeover = time.monotonic() - t_kill
    for f in futures:
        f.result(timeout=180)
    pool.shutdown()
    assert takeover < 5.0, f"the reactor had no new owner for {takeover:.1f}s"
    assert n_events - chunk <= len(acked) <= n_events  # all but what died unacknowledged
    last = max(acked.values())
    views = [
        eventually(
            lambda s=srv: (
                (v := reactor(s, name, key, "SeqReactor"))["applied_sequence"] >= last and v
            ),
            timeout=60,
        )
        for srv in survivors
    ]
    runs = broker_runs(nats_server.url, name, "seq_graph")
    fires = [r["fire"] for r in runs]
    numbers = [r["outputs"]["each"][0]["n"] for r in runs]
    # exactly once: one run per fire, fires 1..F, no number twice, every acknowledged one in
    assert fires == list(range(1, len(runs) + 1))
    assert len(numbers) == len(set(numbers))
    assert set(acked) <= set(numbers) <= sent
    assert views[0]["fires"] == views[1]["fires"] == len(runs)
    # no moment with two owners: in fire order the epochs never go back, one owner each
    epochs = [r["epoch"] for r in runs]
    assert epochs == sorted(epochs)
    owners_of = {e: {r["owner"] for r in runs if r["epoch"] == e} for e in set(epochs)}
    assert all(len(o) == 1 for o in owners_of.values()), owners_of
    assert owners_of[min(epochs)] == {first} and new_owner in owners_of[max(epochs)]
    assert all(not r["replayed"] for r in runs if r["epoch"] == min(epochs))
    # the same from every replica; the killed one rejoins and agrees
    keys = ("fires", "cache", "owner", "epoch", "applied_sequence", "state")
    assert {k: views[0][k] for k in keys} == {k: views[1][k] for k in keys}
    victim.start(port=victim.port)
    eventually(lambda: answered(victim, f"/v1/tenants/{name}/reactors/SeqReactor", key) is not None)
    back = reactor(victim, name, key, "SeqReactor")
    same = ("fires", "cache", "applied_sequence", "state")  # (it may have been handed on)
    assert {k: back[k] for k in same} == {k: views[0][k] for k in same}
    push(victim, name, key, "s", {"n": n_events})
    eventually(
        lambda: all(reactor(s, name, key, "SeqReactor")["fires"] == len(runs) + 1 for s in cluster)
    )
