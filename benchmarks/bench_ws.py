"""WebSocket ingress through a real ``cloacina-server``: events/s end to end, fire latency,
with tenant isolation (each tenant in its worker process) against none, in the same run.

For each isolation mode (``--isolation none`` and ``tenant``, alternating, ``--rounds``
times), starts ``python -m cloacina_host.server`` on a free port of 127.0.0.1 with a
temporary data directory, uploads the tutorial's publisher and subscriber (packed from the
given libraries), then:

- **throughput**: one client pushes N small events as text frames to ``raw_prices`` as fast
  as it can; the clock stops when the server has ingested all N (accumulator counter). The
  reactor wake-ups counter shows the batching (events per wake-up), the fires counter how
  many graph runs ``latest`` coalesced them into;
- **latency**: one event at a time, from the client's send to its ``GraphRun`` arriving on
  ``/v1/ws/graph/price_consumer/outputs``; p50 / p95 / p99.

With isolation it also kills the tenant's worker (SIGKILL) and times how long the server
takes to notice, and until the first event is served by the replacement worker.

Not a test: it prints figures, it asserts little.

    python benchmarks/bench_ws.py --publisher LIB --subscriber LIB [--events N] [--samples K]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import connect

from cloacina_host.packaging.pack import pack_library

KEY = "clk_bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bench:
    def __init__(
        self, work: Path, isolation: str, *flags: str, env: dict[str, str] | None = None
    ) -> None:
        """Start a server; ``flags`` are more of its flags (``--database-url``, …)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
        )
        env = {
            **os.environ,
            "CLOACINA_BOOTSTRAP_KEY": KEY,
            "CLOACINA_LOG_LEVEL": "warning",
            **(env or {}),
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cloacina_host.server",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--data-dir",
                tempfile.mkdtemp(prefix=f"data-{isolation}-", dir=work),
                "--log-level",
                "warning",
                "--isolation",
                isolation,
                *flags,
            ],
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.http.get("/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise SystemExit("the server did not become ready")

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def ticket(self) -> str:
        ticket: str = self.ok("POST", "/v1/auth/ws-ticket")["ticket"]
        return ticket

    def ws(self, path: str) -> Any:
        url = f"ws://127.0.0.1:{self.port}{path}?tenant=bench&token={self.ticket()}"
        return connect(url, compression=None, max_queue=None)

    def events_total(self) -> int:
        items = self.ok("GET", "/v1/tenants/bench/accumulators")["items"]
        return int(next(a for a in items if a["name"] == "raw_prices")["events_total"])

    def counter(self, family: str) -> float:
        text = self.http.get("/metrics").text
        pattern = re.compile(rf"^{family}\{{[^}}]*tenant=\"bench\"[^}}]*\}} (\S+)$", re.M)
        return sum(float(v) for v in pattern.findall(text))


async def throughput(bench: Bench, n: int) -> dict[str, float]:
    frames = [
        orjson.dumps({"symbol": "BTCUSD", "price": 42000 + i % 100}).decode() for i in range(n)
    ]
    start_events = bench.events_total()
    wakeups0 = bench.counter("cloacina_accumulator_wakeups_total")
    fires0 = bench.counter("cloacina_reactor_fires_total")
    async with bench.ws("/v1/ws/accumulator/raw_prices") as ws:
        t0 = time.perf_counter()
        for i, frame in enumerate(frames):
            await ws.send(frame)
            if i % 256 == 255:
                await asyncio.sleep(0)  # let the client's writes drain
        sent = time.perf_counter() - t0
        while await asyncio.to_thread(bench.events_total) - start_events < n:
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - t0
    wakeups = bench.counter("cloacina_accumulator_wakeups_total") - wakeups0
    fires = bench.counter("cloacina_reactor_fires_total") - fires0
    return {
        "events_per_s": n / elapsed,
        "client_send_per_s": n / sent,
        "events_per_wakeup": n / max(wakeups, 1),
        "fires": fires,
    }


async def latency(bench: Bench, samples: int) -> list[float]:
    out: list[float] = []
    async with (
        bench.ws("/v1/ws/graph/price_consumer/outputs") as outputs,
        bench.ws("/v1/ws/accumulator/raw_prices") as ws,
    ):
        await asyncio.sleep(0.2)
        for i in range(samples):
            t0 = time.perf_counter()
            await ws.send(f'{{"symbol":"BTCUSD","price":{42000 + i}}}')
            run = orjson.loads(await outputs.recv())
            out.append(time.perf_counter() - t0)
            assert run["error"] is None, run
    return out


def recovery(bench: Bench) -> tuple[float, float]:
    """Kill the tenant's worker: ms until the server reports it dead, and until an event is
    served again (by the replacement, after the restart backoff)."""
    pid = bench.ok("GET", "/v1/tenants/bench/worker")["pid"]
    path = "/v1/tenants/bench/accumulators/raw_prices/events"
    t0 = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    while bench.ok("GET", "/v1/tenants/bench/worker")["state"] == "ready":
        time.sleep(0.0005)
    detected = time.perf_counter() - t0
    while bench.http.post(path, content=b'{"price": 1}').status_code != 200:
        time.sleep(0.002)
    return detected * 1000, (time.perf_counter() - t0) * 1000


def measure(work: Path, archives: list[Path], isolation: str, args: Any) -> dict[str, Any]:
    bench = Bench(work, isolation)
    try:
        bench.ok("POST", "/v1/tenants", json={"name": "bench"})
        for archive in archives:
            with archive.open("rb") as f:
                body = bench.ok("POST", "/v1/tenants/bench/packages", files={"file": f})
            assert body["status"] == "loaded", body
        bench.ok(
            "POST",
            "/v1/tenants/bench/accumulators/normalized_prices/events",
            json={"symbol": "BTCUSD", "price": 21000},
        )
        asyncio.run(latency(bench, 200))  # warm-up
        result = asyncio.run(throughput(bench, args.events))
        result["latency_ms"] = [v * 1000 for v in asyncio.run(latency(bench, args.samples))]
        if isolation == "tenant":
            result["detected_ms"], result["recovered_ms"] = recovery(bench)
        return result
    finally:
        bench.close()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publisher", type=Path, required=True)
    parser.add_argument("--subscriber", type=Path, required=True)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--samples", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    modes = ("none", "tenant")
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as tmp:
        work = Path(tmp)
        archives = [
            pack_library(lib, work / lib.stem, language="c")
            for lib in (args.publisher, args.subscriber)
        ]
        for _ in range(args.rounds):
            for mode in modes:  # alternating, so a noisy moment does not favour one mode
                runs[mode].append(measure(work, archives, mode, args))
    print(
        f"{args.events} events of ~33 bytes per round, one WebSocket client; latency over "
        f"{args.samples} events one at a time; {args.rounds} rounds per mode, alternating"
    )
    summary: dict[str, dict[str, float]] = {}
    for mode in modes:
        eps = [r["events_per_s"] for r in runs[mode]]
        ms = [v for r in runs[mode] for v in r["latency_ms"]]
        summary[mode] = {"best": max(eps), "p50": pct(ms, 50), "p99": pct(ms, 99)}
        print(
            f"  --isolation {mode:<6}  throughput best {max(eps):>8,.0f} ev/s, median "
            f"{statistics.median(eps):>8,.0f} ev/s ({runs[mode][-1]['events_per_wakeup']:.1f} "
            f"events per wake-up)  fire latency p50 {pct(ms, 50):.3f} ms  p95 {pct(ms, 95):.3f} "
            f"ms  p99 {pct(ms, 99):.3f} ms  max {max(ms):.3f} ms"
        )
    none, tenant = summary["none"], summary["tenant"]
    print(
        f"  tenant/none: throughput {tenant['best'] / none['best']:.2f}x (best/best), "
        f"p50 latency +{tenant['p50'] - none['p50']:.3f} ms, "
        f"p99 +{tenant['p99'] - none['p99']:.3f} ms"
    )
    detected = [r["detected_ms"] for r in runs["tenant"]]
    recovered = [r["recovered_ms"] for r in runs["tenant"]]
    print(
        f"  worker killed (SIGKILL): seen dead after {statistics.median(detected):.1f} ms "
        f"(median; polled from outside), first event served by its replacement after "
        f"{statistics.median(recovered):.0f} ms (incl. the 0.5 s restart backoff)"
    )


if __name__ == "__main__":
    main()
