#!/usr/bin/env bash
# Partition pruning benchmark (issue 14): a training set over the last month of a view holding
# MONTHS months of history, partitioned by month, against the same view unpartitioned, in the same
# run, on the same rows, medians of RUNS runs; then the statistics of the last month the same way.
#
# Workload: ENTITIES entities x EVENTS events per entity and month (2 float8 features), spread over
# the MONTHS months before now; both views have a ttl of 30 days (what lets the engine skip the
# older partitions: without a ttl any past row may win). ENTITY_ROWS entity rows with random keys
# and times in the last 30 days. After the runs both training sets are checked to hold the same
# rows (EXCEPT ALL both ways).
#
#   bench/partition_bench.sh                         # 10,000 x 30 x 24 months = 7.2M rows per view
#   ENTITIES=2000 ENTITY_ROWS=20000 bench/partition_bench.sh   # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
ENTITIES=${ENTITIES:-10000}
EVENTS=${EVENTS:-30}
MONTHS=${MONTHS:-24}
ENTITY_ROWS=${ENTITY_ROWS:-100000}
RUNS=${RUNS:-3}
source bench/lib/pg_only.sh

ROWS=$((ENTITIES * EVENTS * MONTHS))
echo "== loading: $ENTITIES entities x $EVENTS events x $MONTHS months = $ROWS rows per view, $ENTITY_ROWS entity rows"
FEATURES='[{"name": "f_a", "type": "float8"}, {"name": "f_b", "type": "float8"}]'
sql -c "CREATE EXTENSION fstore" -c "SELECT fstore.create_entity('customer', 'customer_id', 'bigint')" \
    -c "SELECT fstore.create_feature_view('flat', 'customer', '$FEATURES', ttl => '30 days', online => false)" \
    -c "SELECT fstore.create_feature_view('parted', 'customer', '$FEATURES', ttl => '30 days', online => false,
                                          partition_by => 'month')" >/dev/null
# The history, in time order as ingestion writes it; created_ts a little after event_ts.
sql -c "INSERT INTO fstore_data.flat (customer_id, event_ts, created_ts, f_a, f_b)
        SELECT g % $ENTITIES, ts, ts + interval '1 minute' * random(), random(), random() * 100
          FROM (SELECT g, now() - ($MONTHS * interval '30 days') * (1 - g::float8 / $ROWS) AS ts
                  FROM generate_series(0, $ROWS - 1) g) s"
# One row per month first, split out of the default partition by maintenance, so that the bulk
# load lands in the monthly partitions directly; then the same rows as the flat view.
sql -c "INSERT INTO fstore_data.parted (customer_id, event_ts, f_a)
        SELECT -1, now() - m * interval '1 month', 0 FROM generate_series(0, $MONTHS) m" \
    -c "SELECT count(*) FROM fstore.maintain_partitions('parted')" >/dev/null
sql -c "DELETE FROM fstore_data.parted" \
    -c "INSERT INTO fstore_data.parted (customer_id, event_ts, created_ts, f_a, f_b)
        SELECT customer_id, event_ts, created_ts, f_a, f_b FROM fstore_data.flat"
sql -c "CREATE TABLE entity_rows AS
          SELECT (random() * ($ENTITIES - 1))::bigint AS customer_id,
                 now() - random() * interval '30 days' AS event_timestamp, random() < 0.1 AS label
            FROM generate_series(1, $ENTITY_ROWS)"
sql -c "VACUUM ANALYZE"
echo "   partitions of parted: $(sql -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'fstore_data.parted'::regclass")" \
     "(rows outside a monthly partition: $(sql -c "SELECT count(*) FROM fstore_data.parted_default"))"

# Seconds one statement takes, measured around psql.
timed() {
  local start end
  start=$(date +%s.%N); sql -c "$1" >/dev/null; end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

flat=(); parted=(); sflat=(); sparted=()
for run in $(seq 1 "$RUNS"); do
  sql -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS ts_flat, ts_parted"
  flat+=("$(timed "SELECT fstore.create_training_set('ts_flat', 'entity_rows', ARRAY['flat:*'])")")
  parted+=("$(timed "SELECT fstore.create_training_set('ts_parted', 'entity_rows', ARRAY['parted:*'])")")
  sflat+=("$(timed "SELECT count(*) FROM fstore._statistics_pass('flat', now() - interval '30 days', now())")")
  sparted+=("$(timed "SELECT count(*) FROM fstore._statistics_pass('parted', now() - interval '30 days', now())")")
  echo "   run $run: training set unpartitioned ${flat[-1]} s, partitioned ${parted[-1]} s;" \
       "statistics of the last 30 days unpartitioned ${sflat[-1]} s, partitioned ${sparted[-1]} s"
done
# PHASES=1: one more build of each, with the engine's phase timings and scan paths (DEBUG1).
if [ "${PHASES:-0}" = 1 ]; then
  for v in flat parted; do
    sql -c "DROP TABLE IF EXISTS ts_phases" -c "SET client_min_messages = debug1" \
        -c "SELECT fstore.create_training_set('ts_phases', 'entity_rows', ARRAY['$v:*'])" 2>&1 \
      | grep -o 'fstore training set: .*' | sed "s/^/   $v: /"
  done
fi
diff=$(sql -c "SELECT count(*) FROM ((TABLE ts_flat EXCEPT ALL TABLE ts_parted) UNION ALL (TABLE ts_parted EXCEPT ALL TABLE ts_flat)) d")
[ "$diff" = 0 ] || { echo "MISMATCH: the training sets differ in $diff rows" >&2; exit 1; }
mf=$(median "${flat[@]}"); mp=$(median "${parted[@]}"); sf=$(median "${sflat[@]}"); sp=$(median "${sparted[@]}")
printf 'RESULT training_set months=%d rows=%d entity_rows=%d unpartitioned_median_s=%.3f partitioned_median_s=%.3f speedup=%.1fx (goal >= 5x)\n' \
  "$MONTHS" "$ROWS" "$ENTITY_ROWS" "$mf" "$mp" "$(awk -v a="$mf" -v b="$mp" 'BEGIN { print a / b }')"
printf 'RESULT statistics_last_30_days unpartitioned_median_s=%.3f partitioned_median_s=%.3f speedup=%.1fx\n' \
  "$sf" "$sp" "$(awk -v a="$sf" -v b="$sp" 'BEGIN { print a / b }')"
