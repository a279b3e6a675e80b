"""Events per second through the tutorial pipeline, host vs a bare cffi loop.

The host path: ``Runtime.push`` -> accumulator function (FFI) -> PriceReactor criteria ->
price_consumer's nodes ``score`` and ``publish`` (FFI each) -> terminal output recorded.
The bare loop calls the same three functions of the same libraries directly through cffi
with preallocated scratch and decodes the final output: the floor for this work in Python.
The ratio is the host's overhead. Not a test: it prints figures, it asserts nothing.

    python benchmarks/bench_pipeline.py --publisher LIB --subscriber LIB [--events N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import orjson

from cloacina_host import Host, log
from cloacina_host.core.ffi import as_slice_data, ffi
from cloacina_host.core.loader import open_plugin


def events(n: int) -> list[bytes]:
    return [orjson.dumps({"symbol": "BTCUSD", "price": 42000 + i % 100}) for i in range(n)]


def bare_loop(publisher: Path, subscriber: Path, payloads: list[bytes]) -> float:
    pub = open_plugin(publisher)
    sub = open_plugin(subscriber)
    try:
        acc = pub.lib.functions.accumulators["raw_prices"]
        score = sub.lib.functions.nodes[("price_consumer", "score")]
        publish = sub.lib.functions.nodes[("price_consumer", "publish")]
        out = ffi.new("cloacina_buffer *")
        slices = ffi.new("cloacina_slice[2]")
        normalized = orjson.dumps({"symbol": "BTCUSD", "price": 21000})
        buffer, null = ffi.buffer, ffi.NULL

        def call(fn: Any, inputs: list[bytes]) -> bytes:
            # the same cffi primitives the host uses, minus its bookkeeping
            keep = [as_slice_data(b) for b in inputs]
            for i, b in enumerate(keep):
                slices[i] = (b, len(inputs[i]))
            status = fn(null, slices, len(inputs), out)
            data = buffer(out.data, out.len)[:]
            out.release(out)
            assert status == 0
            return data

        t0 = time.perf_counter()
        for payload in payloads:
            boundary = call(acc, [payload])
            scored = call(score, [boundary, normalized])
            result = orjson.loads(call(publish, [scored]))
        elapsed = time.perf_counter() - t0
        assert result["signal"] > 0
        return len(payloads) / elapsed
    finally:
        pub.close()
        sub.close()


def host_loop(publisher: Path, subscriber: Path, payloads: list[bytes], batch: int) -> float:
    host = Host()
    rt = host.runtime("bench")
    rt.load(publisher)
    rt.load(subscriber)
    rt.push("normalized_prices", {"symbol": "BTCUSD", "price": 21000})
    try:
        t0 = time.perf_counter()
        if batch == 1:
            for payload in payloads:
                rt.push("raw_prices", payload)
        else:
            for i in range(0, len(payloads), batch):
                rt.push_many("raw_prices", payloads[i : i + batch])
        elapsed = time.perf_counter() - t0
        assert rt.outputs("price_consumer")[-1].ok
        return len(payloads) / elapsed
    finally:
        host.close()


def bench_pair(
    label: str, publisher: Path, subscriber: Path, payloads: list[bytes], rounds: int
) -> None:
    print(f"\n{label}: {publisher.name} + {subscriber.name}")
    results: dict[str, list[float]] = {"bare": [], "host": [], "host-batch64": []}
    for _ in range(rounds):  # interleaved, so drift hits every variant alike
        results["bare"].append(bare_loop(publisher, subscriber, payloads))
        results["host"].append(host_loop(publisher, subscriber, payloads, 1))
        results["host-batch64"].append(host_loop(publisher, subscriber, payloads, 64))
    bare = max(results["bare"])
    for name, rates in results.items():
        best, median = max(rates), statistics.median(rates)
        # each round's bare run next to this variant's run of the same round: a machine
        # whose speed drifts between rounds moves both sides of the ratio alike
        paired = statistics.median(b / r for b, r in zip(results["bare"], rates, strict=True))
        print(
            f"{name:>14}: best {best:>10,.0f} ev/s  median {median:>10,.0f} ev/s  "
            f"bare/this {bare / best:4.2f}x (best/best), {paired:4.2f}x (median of rounds)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publisher", type=Path, required=True, help="C publisher library")
    parser.add_argument("--subscriber", type=Path, required=True, help="C subscriber library")
    parser.add_argument("--rust-publisher", type=Path, help="Rust publisher cdylib (optional)")
    parser.add_argument("--rust-subscriber", type=Path, help="Rust subscriber cdylib (optional)")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    log.configure("warning")
    payloads = events(args.events)
    print(f"{args.events} events of {len(payloads[0])} bytes, best and median of {args.rounds}")
    bench_pair("C plugins (node by node)", args.publisher, args.subscriber, payloads, args.rounds)
    if args.rust_publisher and args.rust_subscriber:
        bench_pair(
            "Rust plugins (host: one fused FFI call per fire; bare: the per-node functions)",
            args.rust_publisher,
            args.rust_subscriber,
            payloads,
            args.rounds,
        )
    print(
        "\n(host-batch64 pushes 64 events per reactor wake-up; latest coalesces them into "
        "one fire, so it runs the graph 1/64 as often)"
    )


if __name__ == "__main__":
    main()
