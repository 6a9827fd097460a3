#!/usr/bin/env bash
# Online lookups against a 3-master Redis Cluster vs one Redis, in one run, on the same data.
#
#   bench/cluster_bench.sh         (env: BUILD_DIR=build RUNS=3 DURATION=10 CONNS=50 ENTITIES=10000)
#
# Starts PostgreSQL, one Redis and a Redis Cluster of 3 masters + 3 replicas
# (tests/harness/stack.sh), writes ENTITIES entities of view bench_stats (4 features) into both in
# the sync's layout (written directly, so both stores hold the same bytes and no sync runs during
# the measurement), starts two fstore-server --no-sync, one per store, and drives single-entity GET /features/bench_stats/<random key> with
# wrk, alternating the two, RUNS runs each; prints the medians and cluster / single (goal >= 0.8).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
ENTITIES=${ENTITIES:-10000}
H=tests/harness/stack.sh

[ -x "$BUILD_DIR/fstore-server" ] || { echo "build first: make build-server" >&2; exit 1; }
WORK=$(mktemp -d /tmp/fstore-cluster-bench-XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  $H redis-cluster-stop "$WORK/cluster" || true
  $H redis-stop "$WORK/redis" || true
  $H pg-stop "$WORK/pg" immediate || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PG_PORT=$($H free-port); REDIS_PORT=$($H free-port)
$H pg-start "$WORK/pg" "$PG_PORT"
$H redis-start "$WORK/redis" "$REDIS_PORT"
$H redis-cluster-start "$WORK/cluster"
mapfile -t CPORTS <"$WORK/cluster/ports"
PSQL="psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PG_PORT -U postgres"
$PSQL -d postgres -c 'CREATE DATABASE bench'
$PSQL -d bench >/dev/null <<'SQL'
CREATE EXTENSION fstore;
SELECT fstore.create_entity('driver', 'driver_id', 'bigint');
SELECT fstore.create_feature_view('bench_stats', 'driver', '[
  {"name": "conv_rate", "type": "float8"}, {"name": "trips", "type": "int8"},
  {"name": "city", "type": "text"}, {"name": "active", "type": "boolean"}]');
SQL

# The same hashes into both stores: RESP through redis-cli --pipe for one Redis, plain commands
# through redis-cli -c (which follows MOVED) for the cluster.
NOW_US=$(( $(date +%s) * 1000000 ))
commands() {
  awk -v n="$ENTITIES" -v ts="$NOW_US" 'BEGIN { for (i = 1; i <= n; i++)
    printf "HSET fstore:v1:bench_stats:%d @event_ts %s @created_ts %s conv_rate %g trips %d city \"\\\"city_%d\\\"\" active %s\n",
      i, ts, ts, (i % 1000) / 1000.0, i % 97, i % 50, (i % 2 == 0 ? "true" : "false") }'
}
commands | redis-cli -h 127.0.0.1 -p "$REDIS_PORT" >/dev/null
commands | redis-cli -c -h 127.0.0.1 -p "${CPORTS[0]}" >/dev/null

start_server() {  # start_server REDIS_URL -> prints the port
  local port; port=$($H free-port)
  "$BUILD_DIR/fstore-server" --pg "postgresql://postgres@127.0.0.1:$PG_PORT/bench" --redis "$1" \
    --listen "127.0.0.1:$port" --no-auth --no-sync >"$WORK/server-$port.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
  curl -sf "http://127.0.0.1:$port/ready" >/dev/null || { cat "$WORK/server-$port.log" >&2; exit 1; }
  echo "$port"
}
SINGLE=$(start_server "redis://127.0.0.1:$REDIS_PORT")
CLUSTER=$(start_server "redis+cluster://127.0.0.1:${CPORTS[0]},127.0.0.1:${CPORTS[1]}")
echo "== $ENTITIES entities; single Redis :$REDIS_PORT, cluster masters :${CPORTS[0]} :${CPORTS[1]} :${CPORTS[2]}"
echo "== sample (cluster): $(curl -s "http://127.0.0.1:$CLUSTER/features/bench_stats/1")"

cat >"$WORK/random.lua" <<LUA
request = function() return wrk.format("GET", "/features/bench_stats/" .. math.random(1, $ENTITIES)) end
LUA
rate() { wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$WORK/random.lua" "http://127.0.0.1:$1/" | awk '/Requests\/sec/ { print $2 }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
SS=(); CS=()
for run in $(seq 1 "$RUNS"); do
  s=$(rate "$SINGLE"); c=$(rate "$CLUSTER")
  echo "run $run: one Redis ${s} req/s   3-master cluster ${c} req/s"
  SS+=("$s"); CS+=("$c")
done
S=$(printf '%s\n' "${SS[@]}" | median); C=$(printf '%s\n' "${CS[@]}" | median)
echo "median: one Redis $S req/s, cluster $C req/s; cluster / single = $(awk -v c="$C" -v s="$S" 'BEGIN { printf "%.2f", c / s }') (goal >= 0.8)"
