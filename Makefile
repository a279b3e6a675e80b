# The two front-door commands are `make demo` (the tutorial end to end) and `make test`.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
PY := .venv/bin/python
BUILD := build/examples

.PHONY: api-docs test-lower-bounds setup demo demo-local demo-cluster console test test-py lint wheel bench bench-ws bench-replicas bench-events c-examples clean

setup:
	@scripts/setup.sh

c-examples: setup
	@cmake -S plugins/examples/c -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) --parallel 2

## The main job: the tutorial end to end against a real cloacina-server (SQLite, local).
demo: setup
	@scripts/tutorial.sh

## The tutorial on a cluster: PostgreSQL, NATS JetStream and three replicas on this
## machine; the owner of PriceReactor is killed and nothing acknowledged is lost.
demo-cluster: setup
	@scripts/demo-cluster.sh

## The operator's console: a local server with the tutorial's packages loaded; prints the
## console's URL and a key to sign in with, and runs until Ctrl-C (state in .console/).
console: setup
	@scripts/console.sh

## The same scenario in-process, with the C example plugins (no server).
demo-local: c-examples
	@.venv/bin/cloacinactl demo \
	  --publisher $(BUILD)/pricing-publisher/libpricing_publisher.so \
	  --subscriber $(BUILD)/pricing-subscriber/libpricing_subscriber.so

## Every test, as CI runs it: the Rust SDK's checks, then the pytest suite (C and Rust
## plugins built once per session; mypy and ruff run inside it too).
test: setup
	@if [ -x plugins/rust-ci.sh ]; then plugins/rust-ci.sh; fi
	@$(PY) -m pytest -q

## docs/python-api.md from the package's docstrings (a test checks it is current).
api-docs: setup
	@$(PY) scripts/api_reference.py

## The declared dependency minimums, tested (uv --resolution lowest-direct in .venv-lower).
test-lower-bounds: setup
	@scripts/lower-bounds.sh

## The pytest suite only (no cargo fmt/clippy/MSRV run).
test-py: setup
	@$(PY) -m pytest -q

## ruff (lint and format) and mypy --strict over the host, tests and benchmarks.
lint: setup
	@.venv/bin/ruff check host tests benchmarks
	@.venv/bin/ruff format --check host tests benchmarks
	@.venv/bin/mypy

## A wheel an index accepts in dist/: built, then `auditwheel repair` gives it the manylinux tag
## its native files allow (the bundled example plugins need only libc: cJSON is compiled in).
wheel: setup
	@rm -rf build/wheel && rm -f dist/cloacina_host-*.whl
	@$(PY) -m pip wheel --no-deps -q . -w build/wheel
	@PATH="$(CURDIR)/.venv/bin:$$PATH" .venv/bin/auditwheel repair --wheel-dir dist build/wheel/cloacina_host-*.whl
	@ls dist/cloacina_host-*.whl

bench: c-examples
	@cargo build --release --quiet --manifest-path plugins/Cargo.toml \
	  -p pricing-publisher -p pricing-subscriber
	@$(PY) benchmarks/bench_pipeline.py --publisher $(BUILD)/pricing-publisher/libpricing_publisher.so \
	  --subscriber $(BUILD)/pricing-subscriber/libpricing_subscriber.so \
	  --rust-publisher plugins/target/release/libpricing_publisher.so \
	  --rust-subscriber plugins/target/release/libpricing_subscriber.so

## The server: WebSocket throughput and fire latency, --isolation tenant against none.
bench-ws: c-examples
	@$(PY) benchmarks/bench_ws.py --publisher $(BUILD)/pricing-publisher/libpricing_publisher.so \
	  --subscriber $(BUILD)/pricing-subscriber/libpricing_subscriber.so

## Replicas on one PostgreSQL: how fast a change reaches the others; decisions vs SQLite.
bench-replicas: c-examples
	@$(PY) benchmarks/bench_replicas.py --publisher $(BUILD)/pricing-publisher/libpricing_publisher.so \
	  --subscriber $(BUILD)/pricing-subscriber/libpricing_subscriber.so

## The event plane: JetStream (1 and 3 replicas) next to the embedded default.
bench-events: c-examples
	@$(PY) benchmarks/bench_events.py --publisher $(BUILD)/pricing-publisher/libpricing_publisher.so \
	  --subscriber $(BUILD)/pricing-subscriber/libpricing_subscriber.so

clean:
	rm -rf build .venv plugins/target
