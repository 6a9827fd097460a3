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
# 5. (issue 11) The same batch through feature service bench_svc (the 4 features under standard,
#    bucketize, onehot with 20 categories and label; state fitted by a training set before the
#    server starts): without and with "transform": "latest", alternating, RUNS runs each at RATE;
#    medians of p50, p99, p99.9 and the ratio of the p99s (goal <= 1.10).
# 6. (issue 18) CPU per lookup, in one run: single-entity GET with wrk -t1 -c$CONNS, the server's
#    CPU (utime + stime of /proc/PID/stat) and Redis's (INFO cpu) over the requests wrk counted,
#    against redis-benchmark HGETALL of the same key on the same Redis (its rate and Redis's CPU
#    per command); medians of RUNS; prints server CPU per lookup / Redis CPU per HGETALL (goal
#    <= 1.0) and fstore / redis-benchmark throughput (goal >= 0.8). Also the server's CPU per
#    batch request (100 entities x 4 features) at RATE. Load averages before and after. With
#    PERF_OUT=FILE, then `perf record -g` of the server under the same GET load into FILE.
# CASES picks the parts: "get" (3), "batch" (4), "transform" (5), "cpu" (6); default all.
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
CASES=${CASES:-"get batch transform cpu"}
has_case() { [[ " $CASES " == *" $1 "* ]]; }
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

if has_case transform; then
  # The service and its fitted state (version 1), from a training set of every entity at now().
  $PSQL -d bench <<'SQL'
SELECT fstore.create_feature_service('bench_svc', ARRAY['bench_stats:*']);
SELECT fstore.set_transforms('bench_svc', '{"bench_stats:conv_rate": {"kind": "standard"},
  "bench_stats:trips": {"kind": "bucketize", "boundaries": [10, 20, 40, 80]},
  "bench_stats:city": {"kind": "onehot", "max_categories": 20}, "bench_stats:active": {"kind": "label"}}');
CREATE TABLE fit_rows AS SELECT driver_id, now() AS event_timestamp FROM fstore_data.bench_stats;
SELECT fstore.create_training_set('fit_set', 'fit_rows', feature_service => 'bench_svc', transform => 'fit');
SQL
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
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
if has_case get; then
  echo "== sample: $(curl -s "http://127.0.0.1:$HTTP_PORT/features/bench_stats/$KEY")"
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
fi

# 200 request bodies of 100 random entities each: by feature list, by service, by service with
# "transform": "latest" (the same entities in the same order in all three files).
awk -v n="$ENTITIES" -v dir="$WORK" 'BEGIN { srand(42); for (l = 0; l < 200; l++) {
    ids = ""; for (i = 0; i < 100; i++) ids = ids (i ? "," : "") (1 + int(rand() * n))
    ent = "\"entities\":{\"driver_id\":[" ids "]}}"
    print "{\"features\":[\"bench_stats:conv_rate\",\"bench_stats:trips\",\"bench_stats:city\",\"bench_stats:active\"]," ent >(dir "/bodies.jsonl")
    print "{\"feature_service\":\"bench_svc\"," ent >(dir "/bodies_service.jsonl")
    print "{\"feature_service\":\"bench_svc\",\"transform\":\"latest\"," ent >(dir "/bodies_transform.jsonl") } }'
# Open-loop load at RATE for LOAD_SECONDS with the bodies of file $1; prints loadgen's lines.
load() {
  "$BUILD_DIR/loadgen" --port "$HTTP_PORT" --rate "$RATE" --seconds "$LOAD_SECONDS" --connections 16 \
    --method POST --path /get-online-features --body-file "$1"
}
# Percentile $2 (p50, p99, p99.9) from loadgen output $1.
pct() { sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<"$1"; }
if has_case batch; then
  echo "== POST /get-online-features, 100 entities x 4 features, open loop at $RATE req/s for ${LOAD_SECONDS}s"
  load "$WORK/bodies.jsonl"
fi
if has_case transform; then
  echo "== sample transformed: $(curl -s -X POST -H 'Content-Type: application/json' --data '{"feature_service":"bench_svc","transform":"latest","entities":{"driver_id":[4242]}}' "http://127.0.0.1:$HTTP_PORT/get-online-features" | head -c 600)"
  echo "== POST /get-online-features by feature_service bench_svc, 100 entities x 4 features, raw vs \"transform\": \"latest\", open loop at $RATE req/s for ${LOAD_SECONDS}s each, alternating"
  declare -A P
  for run in $(seq 1 "$RUNS"); do
    for kind in raw transform; do
      [ "$kind" = raw ] && file=bodies_service.jsonl || file=bodies_transform.jsonl
      out=$(load "$WORK/$file")
      echo "run $run $kind: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
      for p in p50 p99 p99.9; do P[$kind.$p]+="$(pct "$out" "$p") "; done
    done
  done
  line="== median of $RUNS (ms):"
  for kind in raw transform; do
    for p in p50 p99 p99.9; do
      P[$kind.$p.m]=$(printf '%s\n' ${P[$kind.$p]} | median); line+=" $kind $p=${P[$kind.$p.m]}"
    done
  done
  echo "$line"
  echo "== p99 transform/raw = $(awk -v a="${P[transform.p99.m]}" -v b="${P[raw.p99.m]}" 'BEGIN { printf "%.3f", a / b }') (goal <= 1.10)"
fi
if has_case cpu; then
  # CPU µs of a process so far (utime + stime, clock ticks), of Redis so far (INFO cpu, seconds).
  TICK=$(getconf CLK_TCK)
  proc_cpu_us() { awk -v t="$TICK" '{ sub(/^.*\) /, ""); printf "%.0f", ($12 + $13) * 1e6 / t }' "/proc/$1/stat"; }
  redis_cpu_us() {
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" info cpu | tr -d '\r' |
      awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.0f", s * 1e6 }'
  }
  per() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
  echo "== CPU per lookup (issue 18): GET /features/bench_stats/$KEY with wrk -t1 -c$CONNS -d${DURATION}s, redis-benchmark -c $CONNS HGETALL, alternating"
  echo "load before: $(uptime)"
  C_S=(); C_RL=(); C_RB=(); C_F=(); C_R=()
  for run in $(seq 1 "$RUNS"); do
    s0=$(proc_cpu_us "$SERVER_PID"); r0=$(redis_cpu_us)
    out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$HTTP_PORT/features/bench_stats/$KEY")
    s1=$(proc_cpu_us "$SERVER_PID"); r1=$(redis_cpu_us)
    n=$(awk '/requests in/ { print $1 }' <<<"$out"); f=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
    nb=$((DURATION * 60000))
    r2=$(redis_cpu_us)
    rb=$(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$CONNS" -n "$nb" -q HGETALL "fstore:v1:bench_stats:$KEY" |
           tr '\r' '\n' | awk '/requests per second/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/) v = $i } END { print v }')
    r3=$(redis_cpu_us)
    cs=$(per $((s1 - s0)) "$n"); crl=$(per $((r1 - r0)) "$n"); crb=$(per $((r3 - r2)) "$nb")
    echo "run $run: fstore $f req/s ($n lookups): server ${cs} µs/lookup, Redis ${crl} µs/lookup;" \
         "redis-benchmark HGETALL $rb req/s: Redis ${crb} µs/command"
    C_S+=("$cs"); C_RL+=("$crl"); C_RB+=("$crb"); C_F+=("$f"); C_R+=("$rb")
  done
  m() { printf '%s\n' "$@" | median; }
  MS=$(m "${C_S[@]}"); MRL=$(m "${C_RL[@]}"); MRB=$(m "${C_RB[@]}"); MF=$(m "${C_F[@]}"); MR=$(m "${C_R[@]}")
  echo "== median of $RUNS: server $MS µs/lookup, Redis $MRL µs/lookup under fstore, Redis $MRB µs/HGETALL under redis-benchmark;" \
       "fstore $MF req/s, redis-benchmark $MR req/s"
  echo "== ratio server CPU per lookup / Redis CPU per HGETALL = $(per "$MS" "$MRB") (goal <= 1.0)"
  echo "== ratio fstore / redis-benchmark throughput at $CONNS connections = $(per "$MF" "$MR") (goal >= 0.8)"
  s0=$(proc_cpu_us "$SERVER_PID"); r0=$(redis_cpu_us)
  out=$(load "$WORK/bodies.jsonl")
  s1=$(proc_cpu_us "$SERVER_PID"); r1=$(redis_cpu_us)
  n=$(sed -n 's/^requests=\([0-9]*\).*/\1/p' <<<"$out")
  echo "== batch, 100 entities x 4 features at $RATE req/s: $(tail -n 1 <<<"$out"); server $(per $((s1 - s0)) "$n") µs/request, Redis $(per $((r1 - r0)) "$n") µs/request"
  if [ -n "${PERF_OUT:-}" ]; then  # a profile of the server under the same GET load (not measured)
    perf record ${PERF_ARGS:--g -F 2000} -p "$SERVER_PID" -o "$PERF_OUT" -- sleep "$DURATION" >/dev/null 2>&1 &
    PERF_PID=$!
    n=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$HTTP_PORT/features/bench_stats/$KEY" | awk '/requests in/ { print $1 }')
    wait "$PERF_PID" || true
    echo "== profile of $n lookups written to $PERF_OUT (perf report -i $PERF_OUT --no-children)"
  fi
  echo "load after: $(uptime)"
fi
echo "== server metrics: $(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^fstore_(redis|pg)_errors_total')"
