#!/usr/bin/env bash
# Sync benchmarks (issue 5): write cost, catch-up and freshness, on a PostgreSQL cluster and Redis
# of their own (tests/harness/stack.sh). Results go to stdout; record them in docs/benchmarks/sync.md.
#   bench/sync_bench.sh [ROWS=1000000] [FRESH_SECONDS=60]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
FRESH_SECONDS=${2:-60}
BUILD_DIR=${BUILD_DIR:-build}
H=tests/harness/stack.sh
WORK=$(mktemp -d /tmp/fstore-sync-bench-XXXXXX); chmod 755 "$WORK"
PGP=$($H free-port); RP=$($H free-port)
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; $H pg-stop "$WORK/pg" immediate; $H redis-stop "$WORK/redis"; rm -rf "$WORK"; }
trap cleanup EXIT
$H pg-start "$WORK/pg" "$PGP"
$H redis-start "$WORK/redis" "$RP"
PSQL="psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PGP -U postgres -d bench"
psql -X -q -h 127.0.0.1 -p "$PGP" -U postgres -d postgres -c "CREATE DATABASE bench"
$PSQL <<SQL
CREATE EXTENSION fstore;
SELECT fstore.create_entity('driver', 'driver_id', 'bigint');
SELECT fstore.create_feature_view('stats', 'driver', '[{"name": "conv_rate", "type": "float8"},
  {"name": "trips", "type": "int4"}, {"name": "city", "type": "text"}]');
SELECT fstore.create_feature_view('fresh', 'driver', '[{"name": "seq", "type": "int8"}, {"name": "payload", "type": "text"}]');
SQL
$PSQL -c "\\copy (SELECT i, now() - interval '1 minute', now() - interval '1 minute', (i % 1000) / 1000.0, i % 100, 'city' || (i % 50) FROM generate_series(1, $ROWS) i) TO '$WORK/rows.csv'"
chmod 644 "$WORK/rows.csv"

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== write cost: COPY $ROWS rows, online view (validation, triggers, queue) vs plain table, 3 runs each"
$PSQL -c "CREATE TABLE public.plain (LIKE fstore_data.stats INCLUDING DEFAULTS INCLUDING INDEXES)"
fs=(); pl=()
for run in 1 2 3; do
  $PSQL -c "TRUNCATE public.plain" -c "TRUNCATE fstore_data.stats" -c "TRUNCATE fstore.change_queue" -c "CHECKPOINT"
  s=$(now); $PSQL -c "\\copy public.plain (driver_id, event_ts, created_ts, conv_rate, trips, city) FROM '$WORK/rows.csv'"; e=$(now)
  pl+=("$(echo "$e - $s" | bc)")
  s=$(now); $PSQL -c "\\copy fstore_data.stats (driver_id, event_ts, created_ts, conv_rate, trips, city) FROM '$WORK/rows.csv'"; e=$(now)
  fs+=("$(echo "$e - $s" | bc)")
done
PLAIN=$(printf '%s\n' "${pl[@]}" | median); ONLINE=$(printf '%s\n' "${fs[@]}" | median)
echo "plain COPY s: ${pl[*]}  median $PLAIN"
echo "online COPY s: ${fs[*]}  median $ONLINE"
echo "write speed ratio (online/plain speed) = $(echo "scale=3; $PLAIN / $ONLINE" | bc)  (goal >= 0.5)"

echo "== catch-up: one COPY of $ROWS rows with fstore-server running, until all of it is in Redis"
$PSQL -c "TRUNCATE fstore_data.stats" -c "TRUNCATE fstore.change_queue"
HTTP_PORT=$($H free-port)
"$BUILD_DIR/fstore-server" --pg "postgresql://postgres@127.0.0.1:$PGP/bench" --redis "redis://127.0.0.1:$RP" \
  --listen "127.0.0.1:$HTTP_PORT" --no-auth >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
until [ "$(redis-cli -p "$RP" HGET fstore:v1:@marker state)" = ready ]; do sleep 0.1; done
sleep 1
s=$(now)
$PSQL -c "\\copy fstore_data.stats (driver_id, event_ts, created_ts, conv_rate, trips, city) FROM '$WORK/rows.csv'"
c=$(now)
until [ "$($PSQL -At -c "SELECT pending_changes FROM fstore.sync_status WHERE view = 'stats'")" = 0 ]; do sleep 0.05; done
e=$(now)
n=$(redis-cli -p "$RP" EVAL "return #redis.call('KEYS', 'fstore:v1:stats:*')" 0)
echo "COPY took $(echo "$c - $s" | bc) s; from COMMIT to all $n keys in Redis: $(echo "$e - $c" | bc) s (goal < 10 s)"

echo "== freshness: steady ingestion, commit -> value served over HTTP by fstore-server"
"$BUILD_DIR/sync_freshness" "postgresql://postgres@127.0.0.1:$PGP/bench" "redis://127.0.0.1:$RP" 5000 "$FRESH_SECONDS" 100 "$HTTP_PORT"
