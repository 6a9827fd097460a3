#!/usr/bin/env bash
# Stream source throughput (issue 13): N JSON messages consumed from Kafka (librdkafka's mock
# cluster, three brokers on loopback, 6 partitions) into a validated view by fstore-server,
# against COPY of the same rows from a file and POST /ingest of the same rows (1,000 per request),
# into the same view, in the same run; 3 runs each, medians and ratios. Results to stdout; record
# them in docs/benchmarks.md.
#   bench/stream_bench.sh [N=200000]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
BUILD_DIR=${BUILD_DIR:-build}
H=tests/harness/stack.sh
WORK=$(mktemp -d /tmp/fstore-stream-bench-XXXXXX); chmod 755 "$WORK"
PGP=$($H free-port); RP=$($H free-port); HTTP_PORT=$($H free-port)
SERVER_PID=; MOCK_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null
  $H pg-stop "$WORK/pg" immediate; $H redis-stop "$WORK/redis"; rm -rf "$WORK"
}
trap cleanup EXIT
$H pg-start "$WORK/pg" "$PGP"
$H redis-start "$WORK/redis" "$RP"
mkfifo "$WORK/mock.in"
"$BUILD_DIR/kafka_mock_cluster" --brokers 3 --topic bench:6 <"$WORK/mock.in" >"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
exec 9>"$WORK/mock.in"   # keeps the harness's stdin open for the whole run
until grep -q '^bootstrap ' "$WORK/mock.out"; do sleep 0.1; done
BOOTSTRAP=$(sed -n 's/^bootstrap //p' "$WORK/mock.out")

PSQL="psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PGP -U postgres -d bench"
psql -X -q -h 127.0.0.1 -p "$PGP" -U postgres -d postgres -c "CREATE DATABASE bench"
$PSQL <<SQL
CREATE EXTENSION fstore;
SELECT fstore.create_entity('card', 'card_id', 'text');
SELECT fstore.create_feature_view('txn', 'card', '[{"name": "seq", "type": "bigint", "validation": {"not_null": true}},
  {"name": "amount", "type": "float8"}, {"name": "n", "type": "integer", "validation": {"min": 0}}]');
SQL
ROWS="SELECT 'c' || (s % 97) AS card_id, timestamptz '2024-05-01T00:00:00Z' AS event_ts, s AS seq, s + 0.5 AS amount, (s % 1000)::int AS n FROM generate_series(0, $N - 1) s"
$PSQL -c "\\copy ($ROWS) TO '$WORK/rows.csv'"
mkdir "$WORK/json"
$PSQL -At -c "SELECT jsonb_agg(to_jsonb(r))::text FROM ($ROWS) r GROUP BY r.seq / 1000 ORDER BY r.seq / 1000" | split -l 1 -a 5 - "$WORK/json/b"
# One curl, one keep-alive connection, the requests one after the other ("next" separates them).
for f in "$WORK"/json/b*; do
  printf 'next\nurl = "http://127.0.0.1:%s/ingest/txn"\nheader = "Content-Type: application/json"\ndata-binary = "@%s"\noutput = "/dev/null"\nfail\n' "$HTTP_PORT" "$f"
done | tail -n +2 >"$WORK/curl.cfg"
"$BUILD_DIR/stream_produce" "$BOOTSTRAP" bench 6 "$N"

"$BUILD_DIR/fstore-server" --pg "postgresql://postgres@127.0.0.1:$PGP/bench" --redis "redis://127.0.0.1:$RP" \
  --listen "127.0.0.1:$HTTP_PORT" --no-auth >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
until curl -sf "http://127.0.0.1:$HTTP_PORT/health" >/dev/null; do sleep 0.1; done

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
count() { $PSQL -At -c "SELECT count(*) FROM fstore_data.txn"; }
reset() { $PSQL -c "TRUNCATE fstore_data.txn" -c "CHECKPOINT"; }
copy=(); ingest=(); stream=(); total=()
for run in 1 2 3; do
  reset
  s=$(now); $PSQL -c "\\copy fstore_data.txn (card_id, event_ts, seq, amount, n) FROM '$WORK/rows.csv'"; e=$(now)
  copy+=("$(echo "$e - $s" | bc)"); [ "$(count)" = "$N" ] || { echo "COPY loaded $(count)"; exit 1; }
  reset
  s=$(now); curl -s --max-time 600 -K "$WORK/curl.cfg"; e=$(now)
  ingest+=("$(echo "$e - $s" | bc)"); [ "$(count)" = "$N" ] || { echo "POST /ingest loaded $(count)"; exit 1; }
  reset
  # A new source (new group, no stored offsets) reads the topic from the start.
  s=$(now)
  $PSQL -c "SELECT fstore.create_stream_source('bench$run', 'txn', '{\"brokers\": \"$BOOTSTRAP\", \"topic\": \"bench\", \"group\": \"bench$run\", \"batch_size\": 5000, \"batch_ms\": 200}')"
  until [ "$(count)" -gt 0 ]; do sleep 0.02; done
  s1=$(now); c1=$(count)
  until [ "$(count)" -ge "$N" ]; do sleep 0.05; done
  e=$(now)
  total+=("$(echo "$e - $s" | bc)")
  # Throughput once consuming (the group join, 3 s in the mock cluster, is not ingestion): the
  # time N messages take at the rate measured from the first stored batch to the last.
  stream+=("$(echo "scale=4; ($e - $s1) * $N / ($N - $c1)" | bc)")
  [ "$(count)" = "$N" ] || { echo "stream loaded $(count)"; exit 1; }
  $PSQL -c "SELECT fstore.drop_stream_source('bench$run')"
done
C=$(printf '%s\n' "${copy[@]}" | median); I=$(printf '%s\n' "${ingest[@]}" | median); S=$(printf '%s\n' "${stream[@]}" | median)
echo "COPY s: ${copy[*]}  median $C ($(echo "$N / $C" | bc) rows/s)"
echo "POST /ingest (1000 rows per request) s: ${ingest[*]}  median $I ($(echo "$N / $I" | bc) rows/s)"
T=$(printf '%s\n' "${total[@]}" | median)
echo "stream (Kafka -> fstore-server -> PostgreSQL) s: ${stream[*]}  median $S ($(echo "$N / $S" | bc) messages/s once consuming)"
echo "stream from create_stream_source to the last row s: ${total[*]}  median $T (includes joining the group)"
echo "RESULT stream/COPY speed = $(echo "scale=3; $C / $S" | bc)  (goal >= 0.5)"
echo "RESULT stream/POST-ingest speed = $(echo "scale=3; $I / $S" | bc)"
