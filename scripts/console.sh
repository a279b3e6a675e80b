#!/usr/bin/env bash
# `make console`: the operator's console (docs/console.md) on a local cloacina-server with
# the tutorial's packages loaded, in the foreground until Ctrl-C. Safe to re-run: the data
# directory, the archives and the console key live in .console/ and are reused
# (rm -rf .console for a fresh start).
#
#   build + pack the C publisher and subscriber  ->  start cloacina-server (SQLite)
#   -> tenant acme + an admin key  ->  upload both (skipped when stored)  ->  print URL and key
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export PATH="$ROOT/.venv/bin:$PATH"

PORT=${CLOACINA_CONSOLE_PORT:-8080}
SERVER="http://127.0.0.1:$PORT"
DIR="$ROOT/.console"
DATA="$DIR/data"
mkdir -p "$DIR/archives"
SERVER_PID=""

stop() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    echo "server stopped"
  fi
}
trap stop EXIT
trap 'exit 0' INT TERM

if curl -s -o /dev/null "$SERVER/health"; then
  echo "something already listens on $SERVER; set CLOACINA_CONSOLE_PORT to another port" >&2
  exit 1
fi

echo "== building and packing the tutorial's C packages"
for pkg in pricing-publisher pricing-subscriber; do
  log="$DIR/build-$pkg.log"
  if ! { cloacinactl package build "plugins/examples/c/$pkg" &&
         cloacinactl package pack "plugins/examples/c/$pkg" --out-dir "$DIR/archives"; } >"$log" 2>&1; then
    cat "$log" >&2; exit 1
  fi
  echo "   $DIR/archives/$pkg-0.1.0.cloacina"
done

echo "== starting cloacina-server on $SERVER (data in $DATA, log in $DIR/server.log)"
# the bootstrap key is used on the first start only; later starts read it back from the file
CLOACINA_BOOTSTRAP_KEY="${CLOACINA_BOOTSTRAP_KEY:-clk_console_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}" \
  cloacina-server --bind "127.0.0.1:$PORT" --data-dir "$DATA" >>"$DIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
  curl -sf -o /dev/null "$SERVER/ready" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$DIR/server.log" >&2; exit 1; }
  sleep 0.1
done
ADMIN=$(cat "$DATA/bootstrap-key")
api() { curl -s -H "Authorization: Bearer $1" "${@:2}"; }

# tenant acme (a 409 on re-runs: it exists) and one admin key of it, kept in .console/acme-key
api "$ADMIN" -o /dev/null -X POST "$SERVER/v1/tenants" -H 'Content-Type: application/json' \
  -d '{"name": "acme", "description": "the tutorial"}'
KEY=""
[ -f "$DIR/acme-key" ] && KEY=$(cat "$DIR/acme-key")
if [ -z "$KEY" ] || [ "$(api "$KEY" -o /dev/null -w '%{http_code}' "$SERVER/v1/auth/whoami")" != 200 ]; then
  KEY=$(api "$ADMIN" -X POST "$SERVER/v1/tenants/acme/keys" -H 'Content-Type: application/json' \
    -d '{"name": "console", "role": "admin"}' | jq -r .key)
  (umask 077; echo "$KEY" > "$DIR/acme-key")
fi

echo "== uploading the packages (publisher first) unless stored"
stored=$(api "$KEY" "$SERVER/v1/tenants/acme/packages" | jq -r '.items[].name')
for pkg in pricing-publisher pricing-subscriber; do
  if grep -qx "$pkg" <<<"$stored"; then
    echo "   $pkg: already stored"
  else
    api "$KEY" -F "file=@$DIR/archives/$pkg-0.1.0.cloacina" "$SERVER/v1/tenants/acme/packages" \
      | jq -r '"   \(.name) \(.version): \(.status) \(.reason // "")"'
  fi
done

cat <<MSG

The console:   $SERVER/ui/
Sign in with:  $KEY
               (an admin key of tenant acme; the platform admin key is in $DATA/bootstrap-key)
Push an event from the Reactors view and watch it under Live fires, or:
  curl -s -H "Authorization: Bearer \$(cat .console/acme-key)" -d '{"symbol":"BTCUSD","price":42000}' \\
    $SERVER/v1/tenants/acme/accumulators/raw_prices/events

Ctrl-C stops the server.
MSG
wait "$SERVER_PID"
