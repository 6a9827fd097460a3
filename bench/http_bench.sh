#!/usr/bin/env bash
# fstore-server online lookups against their baseline, in one run, on the same data.
#
#   bench/http_bench.sh            (env: BUILD_DIR=build RUNS=3 DURATION=10 CONNS=50 RATE=200 LOAD_SECONDS=20)
#
# 1. Starts its own PostgreSQL cluster and Redis (tests/harness/stack.sh) in a temporary directory.
# 2. Creates entity driver (bigint) and view bench_stats with 4 features, loads 100,000 entities:
#    through the real path (INSERT into the offline table -> sync worker -> Redis) when the sync
#    worker has landed, else written into Redis directly in the documented layout (and said so).
# 3. Single-entity GET /features/bench_stats/<key> with wrk, 50 connections, against
#    redis-benchmark HGETALL of the same key with 50 connections; medians of RUNS; prints the ratio.
# 4. POST /get-online-features, 100 entities x 4 features, at a fixed RATE with bench/loadgen
#    (open loop): p50, p99, p99.9.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_DIR=${BUILD_DIR:-build}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
RATE=${RATE:-200}
LOAD_SECONDS=${LOAD_SECONDS:-20}
ENTITIES=${ENTITIES:-100000}
H=tests/harness/stack.sh

[ -x "$BUILD_DIR/fstore-server" ] && [ -x "$BUILD_DIR/loadgen" ] || { echo "build first: make build-server" >&2; exit 1; }
WORK=$(mktemp -d /tmp/fstore-http-bench-XXXXXX)
chmod 755 "$WORK"
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  $H redis-stop "$WORK/redis" || true
  $H pg-stop "$WORK/pg" immediate || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PG_PORT=$($H free-port); REDIS_PORT=$($H free-port); HTTP_PORT=$($H free-port)
$H pg-start "$WORK/pg" "$PG_PORT"
$H redis-start "$WORK/redis" "$REDIS_PORT"
PSQL="psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PG_PORT -U postgres"
$PSQL -d postgres -c 'CREATE DATABASE bench'
$PSQL -d bench <<'SQL'
CREATE EXTENSION fstore;
SELECT fstore.create_entity('driver', 'driver_id', 'bigint');
SELECT fstore.create_feature_view('bench_stats', 'driver', '[
  {"name": "conv_rate", "type": "float8"}, {"name": "trips", "type": "int8"},
  {"name": "city", "type": "text"}, {"name": "active", "type": "boolean"}]');
SQL

SYNC_ARGS=(--no-sync)
if grep -q PLACEHOLDER server/sync/sync_worker.cpp; then
  LOAD_PATH="direct HSET into Redis in the documented layout (the sync worker has not landed yet)"
  $PSQL -d bench -c "INSERT INTO fstore_data.bench_stats (driver_id, event_ts, conv_rate, trips, city, active)
                     SELECT i, now(), (i % 1000) / 1000.0, i % 97, 'city_' || (i % 50), i % 2 = 0
                     FROM generate_series(1, $ENTITIES) i"
  NOW_US=$(( $(date +%s) * 1000000 ))
  awk -v n="$ENTITIES" -v ts="$NOW_US" 'function bulk(s) { printf "$%d\r\n%s\r\n", length(s), s }
    BEGIN { for (i = 1; i <= n; i++) {
      printf "*14\r\n"; bulk("HSET"); bulk("fstore:v1:bench_stats:" i)
      bulk("@event_ts"); bulk(ts); bulk("@created_ts"); bulk(ts)
      bulk("conv_rate"); bulk(sprintf("%g", (i % 1000) / 1000.0)); bulk("trips"); bulk(i % 97)
      bulk("city"); bulk("\"city_" (i % 50) "\""); bulk("active"); bulk(i % 2 == 0 ? "true" : "false") } }' \
    | redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --pipe >/dev/null
else
  LOAD_PATH="INSERT into fstore_data.bench_stats, then the sync worker (the real path)"
  SYNC_ARGS=()
  $PSQL -d bench -c "INSERT INTO fstore_data.bench_stats (driver_id, event_ts, conv_rate, trips, city, active)
                     SELECT i, now(), (i % 1000) / 1000.0, i % 97, 'city_' || (i % 50), i % 2 = 0
                     FROM generate_series(1, $ENTITIES) i"
fi

"$BUILD_DIR/fstore-server" --pg "postgresql://postgres@127.0.0.1:$PG_PORT/bench" --redis "redis://127.0.0.1:$REDIS_PORT" \
  --listen "127.0.0.1:$HTTP_PORT" --no-auth "${SYNC_ARGS[@]}" ${SERVER_ARGS:-} >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$HTTP_PORT/ready" >/dev/null && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$HTTP_PORT/ready" >/dev/null || { echo "server not ready"; cat "$WORK/server.log"; exit 1; }
KEYS_IN_REDIS=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" dbsize)
echo "== data: $ENTITIES entities x 4 features; loaded by $LOAD_PATH; Redis keys: $KEYS_IN_REDIS"

KEY=4242
echo "== sample: $(curl -s "http://127.0.0.1:$HTTP_PORT/features/bench_stats/$KEY")"
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
FS=(); RS=()
for run in $(seq 1 "$RUNS"); do
  f=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$HTTP_PORT/features/bench_stats/$KEY" | awk '/Requests\/sec/ { print $2 }')
  r=$(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$CONNS" -n $((DURATION * 60000)) -q \
        HGETALL "fstore:v1:bench_stats:$KEY" | tr '\r' '\n' | awk '/requests per second/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/) v = $i } END { print v }')
  echo "run $run: fstore GET ${f} req/s   redis-benchmark HGETALL ${r} req/s"
  FS+=("$f"); RS+=("$r")
done
FM=$(printf '%s\n' "${FS[@]}" | median); RM=$(printf '%s\n' "${RS[@]}" | median)
echo "== single-entity GET, $CONNS connections, median of $RUNS: fstore $FM req/s, redis-benchmark HGETALL $RM req/s, ratio $(awk -v a="$FM" -v b="$RM" 'BEGIN { printf "%.2f", a / b }') (goal >= 1.0)"

awk -v n="$ENTITIES" 'BEGIN { srand(42); for (l = 0; l < 200; l++) {
    printf "{\"features\":[\"bench_stats:conv_rate\",\"bench_stats:trips\",\"bench_stats:city\",\"bench_stats:active\"],\"entities\":{\"driver_id\":["
    for (i = 0; i < 100; i++) printf "%s%d", (i ? "," : ""), 1 + int(rand() * n)
    print "]}}" } }' >"$WORK/bodies.jsonl"
echo "== POST /get-online-features, 100 entities x 4 features, open loop at $RATE req/s for ${LOAD_SECONDS}s"
"$BUILD_DIR/loadgen" --port "$HTTP_PORT" --rate "$RATE" --seconds "$LOAD_SECONDS" --connections 16 \
  --method POST --path /get-online-features --body-file "$WORK/bodies.jsonl"
echo "== server metrics: $(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^fstore_(redis|pg)_errors_total')"
