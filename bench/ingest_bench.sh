#!/usr/bin/env bash
# Ingest benchmark (issue 16): `fstore ingest VIEW FILE.csv` against psql's `\copy` of the same
# file into the same feature view (same validation constraints, index and change-capture
# trigger), in the same run, medians of RUNS runs each, the table truncated before every run.
# Prints the ratio fstore speed / \copy speed (goal >= 0.9).
#
#   bench/ingest_bench.sh                 # 1,000,000 rows
#   ROWS=200000 RUNS=3 bench/ingest_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
RUNS=${RUNS:-3}
BUILD=${BUILD_DIR:-build}; [[ $BUILD = /* ]] || BUILD=$PWD/$BUILD
source bench/lib/pg_only.sh

sql -c "CREATE EXTENSION fstore"
mkdir -p "$WORK/repo"
cat >"$WORK/repo/bench.yaml" <<'YAML'
entities:
  - {name: driver, join_key: driver_id, key_type: bigint}
feature_views:
  - name: driver_stats
    entity: driver
    features:
      - {name: conv_rate, type: float8, validation: {min: 0, max: 1}}
      - {name: trips, type: integer, validation: {min: 0}}
      - {name: city, type: text}
YAML
"$BUILD/fstore" apply "$WORK/repo" >/dev/null
echo "== $ROWS rows, CSV with header"
python3 - "$WORK/rows.csv" "$ROWS" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
cities = ["berlin", "paris", "rome", "madrid", "vienna"]
with open(path, "w") as f:
    f.write("driver_id,event_ts,conv_rate,trips,city\n")
    for i in range(n):
        f.write("%d,2024-01-01 00:00:%02d+00,%.4f,%d,%s\n" % (i % 100000, i % 60, (i % 997) / 997, i % 40, cities[i % 5]))
PY
ls -la "$WORK/rows.csv" | awk '{printf "file: %.1f MB\n", $5 / 1e6}'

secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
declare -a F=() P=()
for i in $(seq 1 "$RUNS"); do
  sql -c "TRUNCATE fstore_data.driver_stats" -c "TRUNCATE fstore.change_queue" -c CHECKPOINT
  F+=("$(secs "$BUILD/fstore" ingest driver_stats "$WORK/rows.csv" --no-progress)")
  [ "$(sql -c "SELECT count(*) FROM fstore_data.driver_stats")" = "$ROWS" ] || { echo "fstore ingest loaded a wrong count"; exit 1; }
  sql -c "TRUNCATE fstore_data.driver_stats" -c "TRUNCATE fstore.change_queue" -c CHECKPOINT
  P+=("$(secs sql -c "\\copy fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city) FROM '$WORK/rows.csv' WITH (FORMAT csv, HEADER true)")")
  [ "$(sql -c "SELECT count(*) FROM fstore_data.driver_stats")" = "$ROWS" ] || { echo "\\copy loaded a wrong count"; exit 1; }
  printf 'run %d: fstore ingest %.2f s, psql \\copy %.2f s\n' "$i" "${F[-1]}" "${P[-1]}"
done
mf=$(median "${F[@]}"); mp=$(median "${P[@]}")
printf 'median: fstore ingest %.2f s (%.0f rows/s), psql \\copy %.2f s (%.0f rows/s)\n' "$mf" "$(echo "$ROWS / $mf" | bc -l)" "$mp" "$(echo "$ROWS / $mp" | bc -l)"
printf 'ratio (fstore speed / \\copy speed): %.2f (goal >= 0.9)\n' "$(echo "$mp / $mf" | bc -l)"
