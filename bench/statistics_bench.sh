#!/usr/bin/env bash
# Statistics benchmark (issue 12): fstore.compute_statistics against the one SQL query that
# computes count, avg, stddev, min, max and percentile_cont (7 quantiles) for the same columns, in
# the same run, on the same rows, medians of RUNS runs. ROWS rows x 3 float8 features; PostgreSQL
# with its defaults apart from shared_buffers (FSTORE_PG_SHARED_BUFFERS, default 4GB).
# compute_statistics does more than the query (histograms, distinct counts, NaN counts) and
# stores a snapshot.
#
#   bench/statistics_bench.sh                 # full size: 10,000,000 rows
#   ROWS=1000000 bench/statistics_bench.sh    # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-10000000}
RUNS=${RUNS:-3}
source bench/lib/pg_only.sh

echo "== loading: $ROWS rows x 3 float8 features"
sql -c "CREATE EXTENSION fstore" -c "SELECT fstore.create_entity('customer', 'customer_id', 'bigint')" \
    -c "SELECT fstore.create_feature_view('stats', 'customer', '[{\"name\": \"a\", \"type\": \"float8\"},
          {\"name\": \"b\", \"type\": \"float8\"}, {\"name\": \"c\", \"type\": \"float8\"}]')"
sql -c "INSERT INTO fstore_data.stats (customer_id, event_ts, a, b, c)
        SELECT g % 100000, timestamptz '2024-01-01' + g * interval '1 second', random(), random() * 100,
               exp(random() * 10) FROM generate_series(1, $ROWS) g"
sql -c "VACUUM ANALYZE"

BASELINE="SELECT $(for f in a b c; do printf "count(%s), avg(%s), stddev(%s), min(%s), max(%s), percentile_cont(ARRAY[0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]) WITHIN GROUP (ORDER BY %s), " $f $f $f $f $f $f; done | sed 's/, $//') FROM fstore_data.stats"
FSTORE="SELECT fstore.compute_statistics('stats')"

# Wall time of one statement, in seconds.
timed() {
  local start end
  start=$(date +%s.%N)
  sql -c "$1" >/dev/null
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

fs=(); base=()
for run in $(seq 1 "$RUNS"); do
  fs+=("$(timed "$FSTORE")")
  base+=("$(timed "$BASELINE")")
  echo "   run $run: compute_statistics ${fs[-1]} s, SQL aggregates ${base[-1]} s"
done
# The same answers: counts, means and the quantiles within the rank error the snapshot reports.
sql -c "SELECT feature, row_count - null_count AS values, mean, stddev, min, max, quantiles->>'p50' AS p50,
               quantile_rank_error FROM fstore.statistics
         WHERE snapshot_id = (SELECT max(snapshot_id) FROM fstore.statistics) ORDER BY feature" | sed 's/^/   fstore: /'
sql -c "SELECT count(a), avg(a), stddev(a), min(a), max(a), percentile_cont(0.5) WITHIN GROUP (ORDER BY a) FROM fstore_data.stats" \
  | sed 's/^/   SQL (a): /'
mf=$(median "${fs[@]}"); mb=$(median "${base[@]}")
printf 'RESULT statistics rows=%d features=3 fstore_median_s=%.3f sql_median_s=%.3f speedup=%.1fx (goal >= 3x)\n' \
  "$ROWS" "$mf" "$mb" "$(awk -v b="$mb" -v f="$mf" 'BEGIN { print b / f }')"
