#!/usr/bin/env bash
# The tutorial on a cluster: PostgreSQL, NATS JetStream and three cloacina-server replicas
# on this machine. The tenant, the packages and the events go through different replicas;
# then the replica that owns PriceReactor is killed (SIGKILL) and the reactor carries on
# elsewhere with nothing acknowledged lost; the killed replica rejoins and agrees.
#
# Run it with `make demo-cluster` (which installs what is missing first).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export PATH="$ROOT/.venv/bin:$HOME/.cargo/bin:$PATH"

WORK=$(mktemp -d -t cloacina-cluster-XXXXXX)
chmod 755 "$WORK"
export CLOACINA_HOME="$WORK/home"
export CLOACINA_BOOTSTRAP_KEY="clk_cluster_bootstrap_$(date +%s)"
PIDS=()
PG_CTL="" PGDATA=""

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() {
  local line="$*" name
  for name in CLOACINA_BOOTSTRAP_KEY ACME_KEY; do
    [ -n "${!name:-}" ] && line=${line//"${!name}"/\$$name}
  done
  printf '$ %s\n' "$line"
  "$@"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  local i  # the replicas first (they hand their reactors back), the broker last
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null || true; wait "${PIDS[i]}" 2>/dev/null || true
  done
  [ -n "$PG_CTL" ] && as_pg "$PG_CTL" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
  if [ -n "${CLOACINA_KEEP_WORK:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

step "1. PostgreSQL and NATS JetStream, on 127.0.0.1"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL is not installed (make setup installs it)" >&2; exit 1; }
PG_CTL="$PGBIN/pg_ctl" PGDATA="$WORK/pg/data"; PGPORT=$(free_port)
mkdir -p "$WORK/pg/sock"
[ "$(id -u)" -eq 0 ] && chown -R postgres "$WORK/pg"
as_pg "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres --no-sync >/dev/null
as_pg "$PG_CTL" -D "$PGDATA" -l "$WORK/pg/pg.log" -w start \
  -o "-p $PGPORT -k $WORK/pg/sock -c listen_addresses=127.0.0.1" >/dev/null
DB="postgresql://postgres@127.0.0.1:$PGPORT/postgres"
NATS_PORT=$(free_port)
nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$WORK/nats" >"$WORK/nats.log" 2>&1 &
PIDS+=($!)
echo "PostgreSQL on 127.0.0.1:$PGPORT, nats-server -js on 127.0.0.1:$NATS_PORT"

declare -A PORT PID URL
start_replica() {
  local id=$1
  cloacina-server --bind "127.0.0.1:${PORT[$id]}" --data-dir "$WORK/$id" \
    --database-url "$DB" --events "nats://127.0.0.1:$NATS_PORT" --replica-id "$id" \
    >>"$WORK/$id.log" 2>&1 &
  PID[$id]=$!
  PIDS+=("${PID[$id]}")
}
step "2. Three replicas on that database and that broker"
for id in r1 r2 r3; do PORT[$id]=$(free_port); URL[$id]="http://127.0.0.1:${PORT[$id]}"; start_replica "$id"; done
for id in r1 r2 r3; do
  for _ in $(seq 1 200); do curl -sf -o /dev/null "${URL[$id]}/ready" && break; sleep 0.1; done
done
show cloacinactl --server "${URL[r1]}" --key "$CLOACINA_BOOTSTRAP_KEY" replica list

step "3. Build and pack the C publisher and subscriber"
cd "$ROOT/plugins/examples/c/pricing-publisher"
cloacinactl package build . >/dev/null 2>"$WORK/build.log" || { cat "$WORK/build.log"; exit 1; }
show cloacinactl package pack . --out-dir "$WORK"
cd "$ROOT/plugins/examples/c/pricing-subscriber"
cloacinactl package build . >/dev/null 2>"$WORK/build.log" || { cat "$WORK/build.log"; exit 1; }
show cloacinactl package pack . --out-dir "$WORK"
cd "$WORK"

step "4. The tenant on r1, the publisher through r2, the subscriber through r3"
show cloacinactl --server "${URL[r1]}" --key "$CLOACINA_BOOTSTRAP_KEY" tenant create acme
ACME_KEY=$(cloacinactl --server "${URL[r1]}" --key "$CLOACINA_BOOTSTRAP_KEY" -o json \
  key create cluster --role admin --tenant acme | jq -r .key)
on() { local id=$1; shift; cloacinactl --server "${URL[$id]}" --key "$ACME_KEY" --tenant acme "$@"; }
show on r2 package upload "$WORK/pricing-publisher-0.1.0.cloacina"
show on r3 package upload "$WORK/pricing-subscriber-0.1.0.cloacina"
for _ in $(seq 1 100); do
  [ "$(on r1 -o json package list | jq -r '[.[] | .summary] | unique | join(",")')" = "loaded on 3/3 replicas" ] && break
  sleep 0.1
done
show on r1 package list

owner() { on "$1" -o json graph status PriceReactor | jq -r '.owner // empty'; }
for _ in $(seq 1 100); do [ -n "$(owner r1)" ] && break; sleep 0.1; done
step "5. Events through every replica; one replica owns PriceReactor: $(owner r1)"
ACCEPTED=0
push_round() {
  local from=$1 to=$2 i id
  for i in $(seq "$from" "$to"); do
    for id in "${LIVE[@]}"; do
      on "$id" accumulator push raw_prices "{\"price\": $((100 + i))}" >/dev/null
      ACCEPTED=$((ACCEPTED + 1))
    done
  done
}
LIVE=(r1 r2 r3)
show on r1 accumulator push raw_prices '{"price": 42000}'
ACCEPTED=1
push_round 1 10
echo "$ACCEPTED events accepted (acknowledged by the broker) through r1, r2 and r3"
applied() { on "$1" -o json graph accumulators | jq '[.[] | select(.name == "raw_prices") | .events_total] | add'; }
for _ in $(seq 1 100); do [ "$(applied r2)" = "$ACCEPTED" ] && break; sleep 0.1; done
for id in r1 r2 r3; do echo "$id sees: $(on "$id" -o json graph status PriceReactor | jq -c '{owner, epoch, fires, applied_sequence}')"; done

VICTIM=$(owner r1)
step "6. kill -9 the owner, $VICTIM: another replica takes PriceReactor over"
show kill -9 "${PID[$VICTIM]}"
wait "${PID[$VICTIM]}" 2>/dev/null || true
LIVE=(); for id in r1 r2 r3; do [ "$id" != "$VICTIM" ] && LIVE+=("$id"); done
T0=$(date +%s%N)
for _ in $(seq 1 200); do
  NEW=$(owner "${LIVE[0]}"); [ -n "$NEW" ] && [ "$NEW" != "$VICTIM" ] && break; sleep 0.05
done
echo "new owner: $NEW, after $(( ($(date +%s%N) - T0) / 1000000 )) ms"
push_round 11 20
echo "$ACCEPTED events accepted in all"
for _ in $(seq 1 100); do [ "$(applied "${LIVE[0]}")" = "$ACCEPTED" ] && break; sleep 0.1; done
for id in "${LIVE[@]}"; do echo "$id sees: $(on "$id" -o json graph status PriceReactor | jq -c '{owner, epoch, fires, applied_sequence}')"; done
show on "${LIVE[1]}" graph accumulators

step "7. $VICTIM rejoins with the same id and agrees"
start_replica "$VICTIM"
for _ in $(seq 1 200); do curl -sf -o /dev/null "${URL[$VICTIM]}/ready" && break; sleep 0.1; done
for _ in $(seq 1 100); do [ "$(applied "$VICTIM" 2>/dev/null)" = "$ACCEPTED" ] && break; sleep 0.1; done
echo "$VICTIM sees: $(on "$VICTIM" -o json graph status PriceReactor | jq -c '{owner, epoch, fires, applied_sequence}')"
GOT=$(applied "$VICTIM")
show on "$VICTIM" graph outputs price_consumer | tail -3
if [ "$GOT" = "$ACCEPTED" ]; then
  echo "OK: all $ACCEPTED acknowledged events applied once, across the owner's death"
else
  echo "FAILED: $ACCEPTED events acknowledged, $GOT applied" >&2
  exit 1
fi
