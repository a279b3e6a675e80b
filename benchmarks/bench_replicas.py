"""Replicas on one PostgreSQL: how fast a change on one reaches the others, and what a
decision on the stored truth costs.

Starts a throwaway PostgreSQL (``tests/pg_fixtures.py``) unless ``--database-url`` is
given, then ``--replicas`` servers on it at once, each with its background reconcile
turned off (``CLOACINA_POLL_SECONDS=3600``), so a change can reach the others only by
``NOTIFY``. Figures:

- **start-up**: every replica started at the same moment on an empty database, until all
  answer ``/ready`` (one of them migrates and makes the bootstrap key, the others wait);
- **propagation**, ``--rounds`` times: upload the subscriber on replica 1 (the publisher
  stays loaded) and time until every other replica lists its graph; then delete it on
  replica 2 and time until no replica lists it. Both from the moment the request was
  answered (the replica that took it reconciled before answering), and from when it was sent;
- **decisions**: the upload, the delete and the guard's refusal (``DELETE`` of the
  publisher while bound) as requests, against the same requests on one server on SQLite.

Not a test: it prints figures, it asserts little.

    python benchmarks/bench_replicas.py --publisher LIB --subscriber LIB [--rounds N]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench_ws import Bench, pct
from cloacina_host.packaging.pack import pack_library

TESTS = Path(__file__).resolve().parents[1] / "tests"
POLL_OFF = {"CLOACINA_POLL_SECONDS": "3600"}
TENANT = "bench"
GRAPHS = f"/v1/tenants/{TENANT}/graphs"


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    sys.path.insert(0, str(TESTS))
    from pg_fixtures import create_database, postgres_missing, throwaway_postgres

    reason = postgres_missing()
    if reason is not None:
        raise SystemExit(f"cannot start a PostgreSQL: {reason} (or pass --database-url)")
    with throwaway_postgres() as server:
        yield create_database(server)


def upload(b: Bench, archive: Path) -> dict[str, Any]:
    with archive.open("rb") as f:
        body: dict[str, Any] = b.ok("POST", f"/v1/tenants/{TENANT}/packages", files={"file": f})
    return body


def lists_graph(b: Bench) -> bool:
    return any(g["name"] == "price_consumer" for g in b.ok("GET", GRAPHS)["items"])


def until(check: Any, timeout: float = 30.0) -> float:
    """Poll ``check`` every 2 ms; when it first held (perf_counter)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if check():
            return time.perf_counter()
        time.sleep(0.002)
    raise SystemExit("a replica did not converge within 30 s")


def propagation(servers: list[Bench], sub: Path, rounds: int) -> dict[str, list[float]]:
    first, second, others = servers[0], servers[1], servers[1:]
    out: dict[str, list[float]] = {k: [] for k in ("load", "load_sent", "unload", "unload_sent")}
    for _ in range(rounds):
        t0 = time.perf_counter()
        assert upload(first, sub)["status"] == "loaded"
        answered = time.perf_counter()
        seen = max(until(lambda b=b: lists_graph(b)) for b in others)
        out["load"].append((seen - answered) * 1000)
        out["load_sent"].append((seen - t0) * 1000)
        t0 = time.perf_counter()
        second.ok("DELETE", f"/v1/tenants/{TENANT}/packages/pricing-subscriber")
        answered = time.perf_counter()
        gone = max(until(lambda b=b: not lists_graph(b)) for b in servers if b is not second)
        out["unload"].append((gone - answered) * 1000)
        out["unload_sent"].append((gone - t0) * 1000)
    return out


def decisions(b: Bench, sub: Path, rounds: int) -> dict[str, list[float]]:
    """Request times of an upload, the guard's refusal and a delete, on one replica."""
    out: dict[str, list[float]] = {"upload": [], "refused": [], "delete": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        upload(b, sub)
        t1 = time.perf_counter()
        refused = b.http.delete(f"/v1/tenants/{TENANT}/packages/pricing-publisher")
        t2 = time.perf_counter()
        assert refused.status_code == 409, refused.text
        b.ok("DELETE", f"/v1/tenants/{TENANT}/packages/pricing-subscriber")
        t3 = time.perf_counter()
        out["upload"].append((t1 - t0) * 1000)
        out["refused"].append((t2 - t1) * 1000)
        out["delete"].append((t3 - t2) * 1000)
    return out


def show(label: str, values: list[float]) -> str:
    return (
        f"  {label:<44} p50 {pct(values, 50):8.1f} ms  p95 {pct(values, 95):8.1f} ms  "
        f"max {max(values):8.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publisher", type=Path, required=True)
    parser.add_argument("--subscriber", type=Path, required=True)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    if args.replicas < 2:
        raise SystemExit("--replicas must be at least 2")
    with (
        tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp,
        database(args.database_url) as url,
    ):
        work = Path(tmp)
        pub, sub = (
            pack_library(lib, work / lib.stem, language="c")
            for lib in (args.publisher, args.subscriber)
        )
        started = time.perf_counter()
        with ThreadPoolExecutor(args.replicas) as pool:
            servers = list(
                pool.map(
                    lambda i: Bench(
                        work,
                        "tenant",
                        "--database-url",
                        url,
                        "--replica-id",
                        f"r{i + 1}",
                        env=POLL_OFF,
                    ),
                    range(args.replicas),
                )
            )
        startup = (time.perf_counter() - started) * 1000
        single = Bench(work, "tenant")  # SQLite in its data directory
        try:
            for b in (servers[0], single):
                b.ok("POST", "/v1/tenants", json={"name": TENANT})
                assert upload(b, pub)["status"] == "loaded"
            until(
                lambda: all(b.ok("GET", f"/v1/tenants/{TENANT}/reactors")["items"] for b in servers)
            )
            spread = propagation(servers, sub, args.rounds)
            on_pg = decisions(servers[0], sub, args.rounds)
            on_sqlite = decisions(single, sub, args.rounds)
        finally:
            for b in [*servers, single]:
                b.close()
    n = args.replicas
    print(
        f"{n} replicas on one PostgreSQL (poll off: NOTIFY only), tenant isolation, "
        f"{args.rounds} rounds; the tutorial's subscriber uploaded on r1, deleted on r2"
    )
    print(f"  start-up: {n} replicas at once on an empty database, all ready in {startup:.0f} ms")
    print(show(f"load reaches the other {n - 1} (after the answer)", spread["load"]))
    print(show("                        (after the request)", spread["load_sent"]))
    print(show(f"unload reaches the other {n - 1} (after the answer)", spread["unload"]))
    print(show("                          (after the request)", spread["unload_sent"]))
    for label, key in (
        ("upload", "upload"),
        ("guard refusal (409)", "refused"),
        ("delete", "delete"),
    ):
        pg, lite = on_pg[key], on_sqlite[key]
        print(show(f"{label} on PostgreSQL, {n} replicas", pg))
        print(show(f"{label} on SQLite, one server", lite))
        print(f"  {'':<44} PostgreSQL/SQLite p50 {pct(pg, 50) / pct(lite, 50):.2f}x")
    poll = 5000.0
    print(
        f"  a change reaches every replica in p50 {pct(spread['load'], 50):.1f} ms; waiting "
        f"for the default 5 s poll would take up to {poll:.0f} ms "
        f"({poll / pct(spread['load'], 50):.0f}x the p50)"
    )


if __name__ == "__main__":
    main()
