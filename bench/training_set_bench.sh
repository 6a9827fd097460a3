#!/usr/bin/env bash
# Training-set benchmark (issue 3): fstore.create_training_set against the hand-written LATERAL
# query with the right index, in the same run, on the same data, medians of RUNS runs.
#
# Workload: ENTITIES entities x EVENTS events per view (3 float8 features), ENTITY_ROWS entity
# rows with random times; once with one view, once with three views; then a small label set (the
# entity rows of the first 1,000 entities, one view), where fstore reads through the key index. PostgreSQL runs with its
# defaults apart from shared_buffers (FSTORE_PG_SHARED_BUFFERS, default 4GB).
#
# Case "transform" (issue 11): a view "tview" of the same size with four features (float8 under
# standard, minmax and bucketize with 10 fitted bins, text with 24 distinct values under onehot
# with max_categories 20), all in feature service "tsvc": the raw training set of the service
# (transform NULL) against transform => 'fit' and transform => 'latest', medians of RUNS runs,
# with the ratios fit/raw and latest/raw.
#
# Layouts (issue 17): LAYOUTS="time clustered" by default runs every case twice, first on the
# history as ingestion appends it (time order), then after CLUSTER on the key index (rows of one key
# together, as after a bulk load by entity). Each case also measures the floor in the same run: the
# sequential scans alone (PostgreSQL's own, parallel by default) plus writing a result table of the
# same shape alone, and prints fstore's time as a multiple of it.
#
#   bench/training_set_bench.sh            # full size: 100,000 x 100, 1,000,000 entity rows
#   ENTITIES=10000 ENTITY_ROWS=100000 bench/training_set_bench.sh   # a quick look
#   CASES=transform bench/training_set_bench.sh                     # the transformations only
set -euo pipefail
cd "$(dirname "$0")/.."
ENTITIES=${ENTITIES:-100000}
EVENTS=${EVENTS:-100}
ENTITY_ROWS=${ENTITY_ROWS:-1000000}
RUNS=${RUNS:-3}
LAYOUTS=${LAYOUTS:-"time clustered"}
CASES=${CASES:-"1 3 small"}   # which cases to run; "1 small" loads one view only; "transform" loads tview
if [[ " $CASES " == *" 3 "* ]]; then VIEWS_LOADED=3
elif [[ " $CASES " == *" 1 "* || " $CASES " == *" small "* ]]; then VIEWS_LOADED=1
else VIEWS_LOADED=0; fi
HARNESS=tests/harness/stack.sh

WORK=$(mktemp -d /tmp/fstore-bench-XXXXXX); chmod 755 "$WORK"
PORT=$($HARNESS free-port)
trap '$HARNESS pg-stop "$WORK/pg" immediate; rm -rf "$WORK"' EXIT
FSTORE_PG_PROFILE=bench $HARNESS pg-start "$WORK/pg" "$PORT"
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
sql() { psql -X -q -v ON_ERROR_STOP=1 -tA "$@"; }

# Whether shared memory sits on huge pages changes every figure here on virtualized hosts
# (docs/benchmarks.md, "Huge pages"): PostgreSQL's default huge_pages = try takes them when the host
# has reserved enough (vm.nr_hugepages), so say which it was.
echo "== shared memory: huge_pages = $(sql -c 'SHOW huge_pages'), host huge pages in use: $(awk '
  /^HugePages_Total/ {t = $2} /^HugePages_Free/ {f = $2} /^HugePages_Rsvd/ {r = $2}
  END {printf "%d of %d", t - f + r, t}' /proc/meminfo)"
echo "== loading: $ENTITIES entities x $EVENTS events per view, $ENTITY_ROWS entity rows"
sql -c "CREATE EXTENSION fstore" -c "SELECT fstore.create_entity('customer', 'customer_id', 'bigint')"
# Creates feature view $1 of customer with features $2 (a JSON array) and loads ENTITIES x EVENTS
# rows whose feature columns $3 get the SQL expressions $4 (g: the row number).
load_view() {
  local view=$1 features=$2 columns=$3 exprs=$4
  sql -c "SELECT fstore.create_feature_view('$view', 'customer', '$features')"
  # Events arrive roughly in time order, one per entity per round; created_ts a little later.
  sql -c "INSERT INTO fstore_data.$view (customer_id, event_ts, created_ts, $columns)
          SELECT g % $ENTITIES, ts, ts + interval '1 minute' * random(), $exprs
            FROM (SELECT g, timestamptz '2024-01-01' + (g / $ENTITIES) * interval '3 days'
                            + random() * interval '3 days' AS ts
                    FROM generate_series(0, $ENTITIES * $EVENTS - 1) g) s"
}
for v in $(seq 1 "$VIEWS_LOADED"); do
  load_view "view$v" "[{\"name\": \"f${v}_a\", \"type\": \"float8\"},
            {\"name\": \"f${v}_b\", \"type\": \"float8\"}, {\"name\": \"f${v}_c\", \"type\": \"float8\"}]" \
    "f${v}_a, f${v}_b, f${v}_c" "random(), random() * 100, random() * 1000"
done
if [[ " $CASES " == *" transform "* ]]; then
  load_view tview '[{"name": "t_std", "type": "float8"}, {"name": "t_mm", "type": "float8"},
                    {"name": "t_cat", "type": "text"}, {"name": "t_bkt", "type": "float8"}]' \
    "t_std, t_mm, t_cat, t_bkt" "random() * 100, random() * 1000, 'cat_' || (g * 7 % 24), random() * 10"
  sql -c "SELECT fstore.create_feature_service('tsvc', ARRAY['tview:*'])" \
      -c "SELECT fstore.set_transforms('tsvc', '{\"tview:t_std\": {\"kind\": \"standard\"},
            \"tview:t_mm\": {\"kind\": \"minmax\"}, \"tview:t_cat\": {\"kind\": \"onehot\", \"max_categories\": 20},
            \"tview:t_bkt\": {\"kind\": \"bucketize\", \"bins\": 10}}')"
fi
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
# Stops unless tables $1 and $2 hold the same rows (as multisets); $3 names them.
same_rows() {
  local diff
  diff=$(sql -c "SELECT count(*) FROM ((TABLE $1 EXCEPT ALL TABLE $2) UNION ALL (TABLE $2 EXCEPT ALL TABLE $1)) d")
  [ "$diff" = 0 ] || { echo "MISMATCH: $3 differ in $diff rows" >&2; exit 1; }
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

sql -c "CREATE TABLE small_entity_rows AS SELECT * FROM entity_rows WHERE customer_id < 1000"
SMALL_ROWS=$(sql -c "SELECT count(*) FROM small_entity_rows")

# The transform case: raw, fit and latest alternate in every run, on the same data.
transform_case() {
  local raw=() fit=() latest=() call="SELECT fstore.create_training_set('%s', 'entity_rows', feature_service => 'tsvc'%s)"
  for run in $(seq 1 "$RUNS"); do
    sql -c "DROP TABLE IF EXISTS ts_raw, ts_fit, ts_latest"
    raw+=("$(timed "$(printf "$call" ts_raw '')")")
    fit+=("$(timed "$(printf "$call" ts_fit ", transform => 'fit'")")")
    latest+=("$(timed "$(printf "$call" ts_latest ", transform => 'latest'")")")
    echo "   transform, run $run: raw ${raw[-1]} s, fit ${fit[-1]} s, latest ${latest[-1]} s"
  done
  # 'latest' applies the state 'fit' just stored: the same rows.
  same_rows ts_fit ts_latest "fit and latest"
  # PHASES=1: one more build of each, with the engine's phase timings (DEBUG1).
  if [ "${PHASES:-0}" = 1 ]; then
    for t in raw fit latest; do
      local arg=""; [ "$t" = raw ] || arg=", transform => '$t'"
      sql -c "DROP TABLE ts_$t" -c "SET client_min_messages = debug1" -c "$(printf "$call" "ts_$t" "$arg")" 2>&1 \
        | grep -o 'fstore training set: .* took .* ms' | sed "s/^/   phases of $t: /"
    done
  fi
  local mr mf ml
  mr=$(median "${raw[@]}"); mf=$(median "${fit[@]}"); ml=$(median "${latest[@]}")
  printf 'RESULT transform entity_rows=%d feature_rows=%d raw_columns=%d transformed_columns=%d raw_median_s=%.3f fit_median_s=%.3f latest_median_s=%.3f fit/raw=%s (goal <= 1.15) latest/raw=%s (goal <= 1.10)\n' \
    "$(sql -c "SELECT count(*) FROM entity_rows")" $((ENTITIES * EVENTS)) \
    "$(sql -c "SELECT count(*) - 3 FROM information_schema.columns WHERE table_name = 'ts_raw'")" \
    "$(sql -c "SELECT count(*) - 3 FROM information_schema.columns WHERE table_name = 'ts_latest'")" \
    "$mr" "$mf" "$ml" "$(ratio "$mf" "$mr")" "$(ratio "$ml" "$mr")"
}

# The floor of a case: the views' heaps scanned once each, and a result of the same shape written.
floor_seconds() {
  local views=$1 scan=0 select="e.*" t
  for v in $(seq 1 "$views"); do
    t=$(timed "SELECT count(*), sum(f${v}_a), sum(f${v}_b), sum(f${v}_c) FROM fstore_data.view$v")
    scan=$(awk -v a="$scan" -v b="$t" 'BEGIN { print a + b }')
    select+=", random() AS f${v}_a, random() AS f${v}_b, random() AS f${v}_c"
  done
  sql -c "DROP TABLE IF EXISTS ts_floor"
  t=$(timed "CREATE TABLE ts_floor AS SELECT $select FROM ${ENTITY_TABLE:-entity_rows} e")
  awk -v a="$scan" -v b="$t" 'BEGIN { printf "%.3f %.3f", a, b }'
}

for layout in $LAYOUTS; do
  if [ "$layout" = clustered ]; then
    echo "== layout: clustered by key (CLUSTER on the (key, event_ts, created_ts) index)"
    for v in $(seq 1 "$VIEWS_LOADED"); do
      idx=$(sql -c "SELECT quote_ident(c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'fstore_data.view$v'::regclass ORDER BY i.indexrelid LIMIT 1")
      sql -c "CLUSTER fstore_data.view$v USING $idx"
    done
    sql -c "VACUUM ANALYZE"
  else
    echo "== layout: $layout order (as ingestion appends rows)"
  fi
for views in $CASES; do
  if [ "$views" = transform ]; then transform_case; continue; fi
  if [ "$views" = small ]; then export ENTITY_TABLE=small_entity_rows; views=1; label="1 view, $SMALL_ROWS entity rows of 1,000 entities"
  else unset ENTITY_TABLE; label="$views view(s)"; fi
  fs=(); base=(); floors=()
  for run in $(seq 1 "$RUNS"); do
    sql -c "DROP TABLE IF EXISTS ts_fstore, ts_lateral"
    fs+=("$(timed "$(fstore_sql ts_fstore "$views")")")
    base+=("$(timed "$(lateral_sql ts_lateral "$views")")")
    read -r scan write <<<"$(floor_seconds "$views")"
    floors+=("$(awk -v a="$scan" -v b="$write" 'BEGIN { printf "%.3f", a + b }')")
    echo "   $layout, $label, run $run: fstore ${fs[-1]} s, LATERAL ${base[-1]} s, floor ${floors[-1]} s (scan $scan s + write $write s)"
  done
  # Same answers (as multisets; the LATERAL table has no defined order).
  same_rows ts_fstore ts_lateral "fstore and LATERAL"
  if [ "${PHASES:-0}" = 1 ]; then
    sql -c "DROP TABLE ts_fstore" -c "SET client_min_messages = debug1" -c "$(fstore_sql ts_fstore "$views")" 2>&1 \
      | grep -o 'fstore training set: .*\(took .* ms\|workers\)' | sed "s/^/   phases: /"
  fi
  mf=$(median "${fs[@]}"); mb=$(median "${base[@]}"); ml=$(median "${floors[@]}")
  printf 'RESULT layout=%s views=%d entity_rows=%d feature_rows_per_view=%d fstore_median_s=%.3f lateral_median_s=%.3f speedup=%.1fx floor_median_s=%.3f fstore/floor=%.2f\n' \
    "$layout" "$views" "$(sql -c "SELECT count(*) FROM ${ENTITY_TABLE:-entity_rows}")" $((ENTITIES * EVENTS)) "$mf" "$mb" \
    "$(awk -v b="$mb" -v f="$mf" 'BEGIN { print b / f }')" "$ml" "$(ratio "$mf" "$ml")"
done
done
