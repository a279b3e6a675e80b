#!/usr/bin/env bash
# The tutorial "Cross-Package Reactor Binding", end to end, on the embedded default
# (SQLite, local server): every command is the tutorial's own, run for real.
#
#   build + pack the Rust publisher and subscriber  ->  start cloacina-server
#   -> tenant acme + key + profile  ->  upload both  ->  graph list / status
#   -> WebSocket ticket (curl) + event (websocat)  ->  signals and /metrics
#   -> the guard refuses the publisher  ->  subscribers first, then the publisher
#   -> (extra) a segfaulting plugin in another tenant: quarantined, the rest keeps firing
#
# Run it with `make demo` (which installs what is missing first).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export PATH="$ROOT/.venv/bin:$HOME/.cargo/bin:$PATH"

PORT=${CLOACINA_TUTORIAL_PORT:-8080}
SERVER="http://127.0.0.1:$PORT"
WORK=$(mktemp -d -t cloacina-tutorial-XXXXXX)
export CLOACINA_HOME="$WORK/home"          # profiles and the server's data stay in here
export CLOACINA_BOOTSTRAP_KEY="clk_tutorial_bootstrap_$(date +%s)"
SERVER_PID=""

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# print a command as it runs, with secrets shown by name rather than value
show() {
  local line="$*" name
  for name in CLOACINA_BOOTSTRAP_KEY ACME_KEY MIXED_KEY ROGUE_KEY; do
    [ -n "${!name:-}" ] && line=${line//"${!name}"/\$$name}
  done
  printf '$ %s\n' "$line"
  "$@"
}
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    echo "server stopped"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if curl -s -o /dev/null "$SERVER/health"; then
  echo "something already listens on $SERVER; set CLOACINA_TUTORIAL_PORT to another port" >&2
  exit 1
fi

step "1. Build and pack the publisher (Rust crate: #[reactor] + two #[passthrough_accumulator])"
cd "$ROOT/plugins/examples/rust/pricing-publisher"
show cloacinactl package build . >/dev/null 2>"$WORK/build-publisher.log" || { cat "$WORK/build-publisher.log"; exit 1; }
show cloacinactl package pack .
PUBLISHER_ARCHIVE="$PWD/pricing-publisher-0.1.0.cloacina"

step "2. Build and pack the subscriber (#[computation_graph(trigger = reactor(\"PriceReactor\"))])"
cd "$ROOT/plugins/examples/rust/pricing-subscriber"
show cloacinactl package build . >/dev/null 2>"$WORK/build-subscriber.log" || { cat "$WORK/build-subscriber.log"; exit 1; }
show cloacinactl package pack .
SUBSCRIBER_ARCHIVE="$PWD/pricing-subscriber-0.1.0.cloacina"
cd "$WORK"

step "3. Start cloacina-server on $SERVER (embedded SQLite under \$CLOACINA_HOME)"
cloacina-server --bind "127.0.0.1:$PORT" --data-dir "$CLOACINA_HOME" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "$SERVER/health" && break; sleep 0.1; done
show curl -s "$SERVER/health"; echo

step "4. A tenant, a tenant-scoped key, and the acme-prod profile"
show cloacinactl --server "$SERVER" --key "$CLOACINA_BOOTSTRAP_KEY" tenant create acme
ACME_KEY=$(cloacinactl --server "$SERVER" --key "$CLOACINA_BOOTSTRAP_KEY" -o json \
  key create tutorial --role admin --tenant acme | jq -r .key)
echo "ACME_KEY=${ACME_KEY:0:8}… (an admin key of tenant acme)"
show cloacinactl profile set acme-prod --server "$SERVER" --key "$ACME_KEY" --tenant acme
show cloacinactl profile use acme-prod

step "5. Upload the publisher: step 3 of the reconciler registers PriceReactor"
show cloacinactl package upload "$PUBLISHER_ARCHIVE" --tenant acme
show cloacinactl graph list --tenant acme

step "6. Upload the subscriber: step 5 binds price_consumer to PriceReactor by name"
show cloacinactl package upload "$SUBSCRIBER_ARCHIVE" --tenant acme
show cloacinactl graph status PriceReactor --tenant acme
echo "-- the server log shows the reconciler's steps:"
grep -E '"event": ?"(load_step|load_step_skipped|graph_bound)"' "$WORK/server.log" | jq -r '
  if .event == "load_step_skipped" then "  \(.package): step \(.step) (\(.title)) skipped: nothing declared"
  elif .event == "load_step" then "  \(.package): step \(.step) (\(.title)): \(.names | join(", "))"
  else "  \(.package): bound \(.graph) to \(.reactor) (owned by \(.reactor_package))" end' || true

step "7. Push events over WebSocket (a single-use ticket, then websocat)"
for event in '{"symbol":"BTCUSD","price":42000}' '{"symbol":"BTCUSD","price":42100}'; do
  TICKET=$(curl -s -X POST "$SERVER/v1/auth/ws-ticket" \
    -H "Authorization: Bearer $ACME_KEY" \
    | jq -r .ticket)
  echo "\$ echo '$event' | websocat \"ws://127.0.0.1:$PORT/v1/ws/accumulator/raw_prices?token=\$TICKET\""
  echo "$event" | websocat -1 "ws://127.0.0.1:$PORT/v1/ws/accumulator/raw_prices?token=$TICKET"
done
TICKET=$(curl -s -X POST "$SERVER/v1/auth/ws-ticket" -H "Authorization: Bearer $ACME_KEY" | jq -r .ticket)
echo '{"symbol":"BTCUSD","price":21000}' | websocat -1 "ws://127.0.0.1:$PORT/v1/ws/accumulator/normalized_prices?token=$TICKET"
sleep 0.5
show cloacinactl graph outputs price_consumer --tenant acme

step "8. Metrics"
echo "\$ curl -s $SERVER/metrics | grep -E 'cloacina_(graph|reactor)'"
curl -s "$SERVER/metrics" | grep -E 'cloacina_(graph|reactor)' | grep -vE '^#|_bucket|_created'

step "9. Unload the publisher first: the bound-subscriber guard refuses"
PUBLISHER_ID=$(cloacinactl -o json package list --tenant acme | jq -r '.[] | select(.name=="pricing-publisher") | .id')
SUBSCRIBER_ID=$(cloacinactl -o json package list --tenant acme | jq -r '.[] | select(.name=="pricing-subscriber") | .id')
set +e
show cloacinactl package delete "$PUBLISHER_ID" --tenant acme
rc=$?
set -e
echo "(exit code $rc: conflict)"
[ "$rc" -eq 5 ] || { echo "expected the guard to refuse with exit code 5" >&2; exit 1; }

step "10. The safe order: subscribers first, then the publisher"
show cloacinactl package delete "$SUBSCRIBER_ID" --tenant acme
show cloacinactl package delete "$PUBLISHER_ID" --tenant acme
show cloacinactl package list --tenant acme

step "11. And had the subscriber come first? It waits as pending, then binds when the publisher lands"
show cloacinactl package upload "$SUBSCRIBER_ARCHIVE" --tenant acme
show cloacinactl package upload "$PUBLISHER_ARCHIVE" --tenant acme
show cloacinactl package list --tenant acme

step "12. Across languages: the C publisher (built with CMake) feeding the Rust subscriber"
cd "$ROOT/plugins/examples/c/pricing-publisher"
show cloacinactl package build . >/dev/null 2>"$WORK/build-c.log" || { cat "$WORK/build-c.log"; exit 1; }
show cloacinactl package pack . --out-dir "$WORK"
cd "$WORK"
show cloacinactl --key "$CLOACINA_BOOTSTRAP_KEY" tenant create mixed
MIXED_KEY=$(cloacinactl --key "$CLOACINA_BOOTSTRAP_KEY" -o json key create ops --role admin --tenant mixed | jq -r .key)
show cloacinactl package upload "$WORK/pricing-publisher-0.1.0.cloacina" --tenant mixed --key "$MIXED_KEY"
show cloacinactl package upload "$SUBSCRIBER_ARCHIVE" --tenant mixed --key "$MIXED_KEY"
show cloacinactl accumulator push normalized_prices '{"price": 100}' --tenant mixed --key "$MIXED_KEY"
show cloacinactl accumulator push raw_prices '{"price": 250}' --tenant mixed --key "$MIXED_KEY"
show cloacinactl graph outputs price_consumer --tenant mixed --key "$MIXED_KEY"

step "13. Crash containment: a plugin that segfaults takes down only its own tenant's worker"
cd "$ROOT/plugins/examples/c/crasher"
show cloacinactl package build . >/dev/null 2>"$WORK/build-crasher.log" || { cat "$WORK/build-crasher.log"; exit 1; }
show cloacinactl package pack . --out-dir "$WORK"
cd "$WORK"
show cloacinactl --key "$CLOACINA_BOOTSTRAP_KEY" tenant create rogue
ROGUE_KEY=$(cloacinactl --key "$CLOACINA_BOOTSTRAP_KEY" -o json key create ops --role admin --tenant rogue | jq -r .key)
show cloacinactl package upload "$WORK/crasher-0.1.0.cloacina" --tenant rogue --key "$ROGUE_KEY"
set +e
show cloacinactl accumulator push bets '{"crash": true}' --tenant rogue --key "$ROGUE_KEY"
rc=$?
set -e
echo "(exit code $rc: the tenant's worker died with the call)"
[ "$rc" -ne 0 ] || { echo "expected the crashing push to fail" >&2; exit 1; }
for _ in $(seq 1 100); do
  state=$(cloacinactl -o json tenant worker rogue --key "$ROGUE_KEY" | jq -r .state)
  [ "$state" = ready ] && break; sleep 0.1
done
show cloacinactl package list --tenant rogue --key "$ROGUE_KEY"
show cloacinactl tenant worker rogue --key "$ROGUE_KEY"
echo "-- meanwhile tenant mixed never noticed:"
show cloacinactl accumulator push raw_prices '{"price": 300}' --tenant mixed --key "$MIXED_KEY"
show cloacinactl graph outputs price_consumer --tenant mixed --key "$MIXED_KEY"
status=$(cloacinactl -o json package list --tenant rogue --key "$ROGUE_KEY" | jq -r '.[0].status')
[ "$status" = crashed ] || { echo "expected the crasher to be quarantined, got $status" >&2; exit 1; }

step "tutorial finished: binding, firing, the guard and the safe unload order all behaved as written"
