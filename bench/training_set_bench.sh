#!/usr/bin/env bash
# Training-set benchmark (issue 3): fstore.create_training_set against the hand-written LATERAL
# query with the right index, in the same run, on the same data, medians of RUNS runs.
#
# Workload: ENTITIES entities x EVENTS events per view (3 float8 features), ENTITY_ROWS entity
# rows with random times; once with one view, once with three views; then a small label set (the
# entity rows of the first 1,000 entities, one view), where fstore reads through the key index. PostgreSQL runs with its
# defaults apart from shared_buffers (FSTORE_PG_SHARED_BUFFERS, default 4GB).
#
#   bench/training_set_bench.sh            # full size: 100,000 x 100, 1,000,000 entity rows
#   ENTITIES=10000 ENTITY_ROWS=100000 bench/training_set_bench.sh   # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
ENTITIES=${ENTITIES:-100000}
EVENTS=${EVENTS:-100}
ENTITY_ROWS=${ENTITY_ROWS:-1000000}
RUNS=${RUNS:-3}
CASES=${CASES:-"1 3 small"}   # which cases to run; "1 small" loads one view only
VIEWS_LOADED=$([[ " $CASES " == *" 3 "* ]] && echo 3 || echo 1)
HARNESS=tests/harness/stack.sh

WORK=$(mktemp -d /tmp/fstore-bench-XXXXXX); chmod 755 "$WORK"
PORT=$($HARNESS free-port)
trap '$HARNESS pg-stop "$WORK/pg" immediate; rm -rf "$WORK"' EXIT
FSTORE_PG_PROFILE=bench $HARNESS pg-start "$WORK/pg" "$PORT"
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
sql() { psql -X -q -v ON_ERROR_STOP=1 -tA "$@"; }

echo "== loading: $ENTITIES entities x $EVENTS events per view, $ENTITY_ROWS entity rows"
sql -c "CREATE EXTENSION fstore" -c "SELECT fstore.create_entity('customer', 'customer_id', 'bigint')"
for v in $(seq 1 "$VIEWS_LOADED"); do
  sql -c "SELECT fstore.create_feature_view('view$v', 'customer', '[{\"name\": \"f${v}_a\", \"type\": \"float8\"},
            {\"name\": \"f${v}_b\", \"type\": \"float8\"}, {\"name\": \"f${v}_c\", \"type\": \"float8\"}]')"
  # Events arrive roughly in time order, one per entity per round; created_ts a little later.
  sql -c "INSERT INTO fstore_data.view$v (customer_id, event_ts, created_ts, f${v}_a, f${v}_b, f${v}_c)
          SELECT g % $ENTITIES, ts, ts + interval '1 minute' * random(), random(), random() * 100, random() * 1000
            FROM (SELECT g, timestamptz '2024-01-01' + (g / $ENTITIES) * interval '3 days'
                            + random() * interval '3 days' AS ts
                    FROM generate_series(0, $ENTITIES * $EVENTS - 1) g) s"
done
sql -c "CREATE TABLE entity_rows AS
          SELECT (random() * ($ENTITIES - 1))::bigint AS customer_id,
                 timestamptz '2024-01-01' + random() * ($EVENTS * interval '3 days') AS event_timestamp,
                 random() < 0.1 AS label
            FROM generate_series(1, $ENTITY_ROWS)"
sql -c "VACUUM ANALYZE"
sql -c "SELECT pg_size_pretty(sum(pg_total_relation_size(oid))) FROM pg_class WHERE relnamespace = 'fstore_data'::regnamespace AND relkind = 'r'" | sed 's/^/   feature tables incl. indexes: /'

# The baseline: the point-in-time rule as a LATERAL query per view, using the (key, event_ts,
# created_ts) index every managed view has.
lateral_sql() {
  local target=$1 views=$2 select="e.*" joins=""
  for v in $(seq 1 "$views"); do
    select+=", v$v.f${v}_a, v$v.f${v}_b, v$v.f${v}_c"
    joins+=" LEFT JOIN LATERAL (SELECT f${v}_a, f${v}_b, f${v}_c FROM fstore_data.view$v f
              WHERE f.customer_id = e.customer_id AND f.event_ts <= e.event_timestamp
              ORDER BY f.event_ts DESC, f.created_ts DESC LIMIT 1) v$v ON true"
  done
  echo "CREATE TABLE $target AS SELECT $select FROM ${ENTITY_TABLE:-entity_rows} e $joins"
}
fstore_sql() {
  local target=$1 views=$2 refs=""
  for v in $(seq 1 "$views"); do refs+="${refs:+, }'view$v:*'"; done
  echo "SELECT fstore.create_training_set('$target', '${ENTITY_TABLE:-entity_rows}', ARRAY[$refs])"
}
# Seconds one statement takes, measured around psql.
timed() {
  local start end
  start=$(date +%s.%N); sql -c "$1" >/dev/null; end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

sql -c "CREATE TABLE small_entity_rows AS SELECT * FROM entity_rows WHERE customer_id < 1000"
SMALL_ROWS=$(sql -c "SELECT count(*) FROM small_entity_rows")

for views in $CASES; do
  if [ "$views" = small ]; then export ENTITY_TABLE=small_entity_rows; views=1; label="1 view, $SMALL_ROWS entity rows of 1,000 entities"
  else label="$views view(s)"; fi
  fs=(); base=()
  for run in $(seq 1 "$RUNS"); do
    sql -c "DROP TABLE IF EXISTS ts_fstore, ts_lateral"
    fs+=("$(timed "$(fstore_sql ts_fstore "$views")")")
    base+=("$(timed "$(lateral_sql ts_lateral "$views")")")
    echo "   $label, run $run: fstore ${fs[-1]} s, LATERAL ${base[-1]} s"
  done
  # Same answers (as multisets; the LATERAL table has no defined order).
  diff=$(sql -c "SELECT count(*) FROM ((TABLE ts_fstore EXCEPT ALL TABLE ts_lateral) UNION ALL (TABLE ts_lateral EXCEPT ALL TABLE ts_fstore)) d")
  [ "$diff" = 0 ] || { echo "MISMATCH: fstore and LATERAL differ in $diff rows" >&2; exit 1; }
  mf=$(median "${fs[@]}"); mb=$(median "${base[@]}")
  printf 'RESULT views=%d entity_rows=%d feature_rows_per_view=%d fstore_median_s=%.3f lateral_median_s=%.3f speedup=%.1fx\n' \
    "$views" "$(sql -c "SELECT count(*) FROM ${ENTITY_TABLE:-entity_rows}")" $((ENTITIES * EVENTS)) "$mf" "$mb" \
    "$(awk -v b="$mb" -v f="$mf" 'BEGIN { print b / f }')"
done
