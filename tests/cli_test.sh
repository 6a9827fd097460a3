#!/usr/bin/env bash
# The fstore command line against a real PostgreSQL (started here on a free port, stopped after):
# plan/apply round trips on a sample repository (create, change with version bumps, removals
# refused without --allow-destructive and done with it, second apply a no-op, broken YAML naming
# file:line), ingest of a 1,000,000-row CSV with 1% bad rows (exact counts, rejected rows kept),
# training-set, token, status, and every command's --json and --help.
# Needs build/fstore ($BUILD_DIR) and the extension installed in the PostgreSQL of pg_config.
set -uo pipefail
cd "$(dirname "$0")/.."
HARNESS=tests/harness/stack.sh
BUILD=${BUILD_DIR:-build}; [[ $BUILD = /* ]] || BUILD=$PWD/$BUILD
ROWS=${FSTORE_CLI_TEST_ROWS:-1000000}
WORK=$(mktemp -d /tmp/fstore-cli-test-XXXXXX)
chmod 755 "$WORK"
PORT=$($HARNESS free-port)
PASSED=0; FAILED=0
ok()   { PASSED=$((PASSED + 1)); echo "ok: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAILED: $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; sed 's/^/    | /' <<<"${OUT:-}" | head -20; fi; }
cleanup() { $HARNESS pg-stop "$WORK/pg" immediate >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT
$HARNESS pg-start "$WORK/pg" "$PORT" >/dev/null 2>&1 || { echo "FATAL: PostgreSQL did not start"; echo "cli test: 0 passed, 1 failed"; exit 1; }
psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE cli" >/dev/null
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGDATABASE=cli
psql -X -q -c "CREATE EXTENSION fstore" >/dev/null
F=$BUILD/fstore
q() { psql -X -qAt -c "$1"; }
is_json() { python3 -m json.tool >/dev/null 2>&1; }
# run ARGS: standard output in $JOUT, with standard error in $OUT, exit code in $RC
run() { JOUT=$("$F" "$@" 2>"$WORK/stderr"); RC=$?; OUT=$JOUT$'\n'$(cat "$WORK/stderr"); }

REPO=$WORK/repo; mkdir -p "$REPO"
write_repo() {  # write_repo FEATURES_YAML [MONITORS_YAML]: the sample repository
  cat >"$REPO/driver.yaml" <<YAML
entities:
  - {name: driver, join_key: driver_id, key_type: bigint, description: A driver}
feature_views:
  - name: driver_stats
    entity: driver
    ttl: 1 day
    features:
$1
feature_services:
  - {name: eta_model, features: ["driver_stats:conv_rate", "driver_stats:trips"],
     transforms: {"driver_stats:trips": {kind: standard}}}
YAML
  printf '%s\n' "${2-$MONITOR}" >"$REPO/monitors.yaml"
}
MONITOR='monitors:
  - {name: conv_drift, feature: "driver_stats:conv_rate", metric: psi, threshold: 0.2}'
BASE='      - {name: conv_rate, type: float8, validation: {min: 0, max: 1}}
      - {name: trips, type: integer}'

# --- plan and apply -----------------------------------------------------------------------------
write_repo "$BASE"
run plan "$REPO"
check "plan lists 4 creates" grep -q "plan: 4 to create" <<<"$OUT"
check "plan changes nothing" [ "$(q "SELECT count(*) FROM fstore.entities")" = 0 ]
run --json plan "$REPO"; check "plan --json parses" is_json <<<"$JOUT"
run apply "$REPO"
check "apply creates (exit $RC)" [ $RC = 0 ]
check "view at 1.0.0, service transforms set" [ "$(q "SELECT v.version || ' ' || (s.transforms ? 'driver_stats:trips') FROM fstore.feature_views v, fstore.feature_services s")" = "1.0.0 true" ]
run apply "$REPO"
check "second apply is a no-op" grep -q "no changes" <<<"$OUT"
h=$(q "SELECT count(*) FROM fstore.registry_history")
run --json apply "$REPO"
check "third apply --json: nothing to do, no history row" [ "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["steps"]))' <<<"$JOUT")/$(q "SELECT count(*) FROM fstore.registry_history")" = "0/$h" ]

write_repo "$BASE
      - {name: rating, type: numeric, description: stars, validation: {min: 1, max: 5}}"
run plan "$REPO"
check "plan: add a feature, view version 1.1.0" grep -q "change feature_view driver_stats (version 1.1.0): add features rating" <<<"$OUT"
run apply "$REPO"
check "apply adds the feature (version $(q "SELECT version FROM fstore.feature_views"))" [ "$(q "SELECT version FROM fstore.feature_views")" = 1.1.0 ]

write_repo "      - {name: conv_rate, type: float8, validation: {min: 0, max: 1}}
      - {name: trips, type: integer, status: deprecated}
      - {name: rating, type: numeric, description: stars, validation: {min: 1, max: 5}}"
run plan "$REPO"
check "plan: status change, version 1.1.1" grep -q "change feature driver_stats:trips (version 1.1.1): status active -> deprecated" <<<"$OUT"
run apply "$REPO"
check "apply deprecates (exit $RC)" [ "$(q "SELECT status FROM fstore.features WHERE name = 'trips'")/$(q "SELECT version FROM fstore.feature_views")" = deprecated/1.1.1 ]

# Removals: a feature left out (archived) and a monitor left out (dropped).
write_repo "      - {name: conv_rate, type: float8, validation: {min: 0, max: 1}}
      - {name: trips, type: integer, status: deprecated}" "monitors: []"
run apply "$REPO"
check "removal refused without --allow-destructive (exit $RC = 3)" [ $RC = 3 ]
check "refused apply changed nothing" [ "$(q "SELECT status FROM fstore.features WHERE name = 'rating'")/$(q "SELECT count(*) FROM fstore.monitors")" = active/1 ]
run apply --allow-destructive "$REPO"
check "removal with --allow-destructive (exit $RC)" [ "$(q "SELECT status FROM fstore.features WHERE name = 'rating'")/$(q "SELECT count(*) FROM fstore.monitors")/$(q "SELECT version FROM fstore.feature_views")" = archived/0/1.1.2 ]
run apply "$REPO"
check "apply after the removal is a no-op" grep -q "no changes" <<<"$OUT"

# An incompatible type change and a metadata change no registry function makes: refused (4).
write_repo "      - {name: conv_rate, type: text}
      - {name: trips, type: integer, status: deprecated}" "monitors: []"
run apply --allow-destructive "$REPO"
check "type change refused (exit $RC = 4)" [ $RC = 4 ]
check "the refusal names the feature and types" grep -q "driver_stats:conv_rate: type double precision -> text is incompatible" <<<"$OUT"

# A partitioned view with retention (issue 14), in a database of its own: created partitioned, and
# a second apply is a no-op.
psql -X -q -c "CREATE DATABASE parted" -c "\\c parted" -c "CREATE EXTENSION fstore" >/dev/null
PARTED="--pg postgresql://postgres@127.0.0.1:$PORT/parted"
mkdir -p "$WORK/parted"
printf 'entities:\n  - {name: rider, join_key: rider_id, key_type: bigint}\nfeature_views:\n  - {name: rides, entity: rider, ttl: 7 days, partition_by: day, retention: 30 days, features: [{name: km, type: float8}]}\n' >"$WORK/parted/p.yaml"
run $PARTED apply "$WORK/parted"
check "apply creates a partitioned view (exit $RC)" [ "$RC/$(PGDATABASE=parted q "SELECT concat_ws(' ', partition_by, retention, relkind) FROM fstore.feature_views v JOIN pg_class c ON c.oid = v.table_name WHERE name = 'rides'")" = "0/day 30 days p" ]
run $PARTED apply "$WORK/parted"
check "second apply of the partitioned view is a no-op" grep -q "no changes" <<<"$OUT"
sed -i 's/retention: 30 days/retention: 60 days/' "$WORK/parted/p.yaml"
run $PARTED plan "$WORK/parted"
check "a retention change is reported as unsupported" grep -q "unsupported feature_view rides.*retention" <<<"$OUT"

# Errors name file:line and the field.
write_repo "$BASE"
printf 'entities:\n  - {name: x, join_key: x_id\n  - oops: [\n' >"$WORK/bad.yaml"; mkdir -p "$WORK/bad"; mv "$WORK/bad.yaml" "$WORK/bad/"
run plan "$WORK/bad"
check "broken YAML: exit 1 with file:line ($(head -1 <<<"$OUT"))" bash -c '[ '$RC' = 1 ] && grep -qE "bad/bad.yaml:[0-9]+:[0-9]+: " <<<"$0"' "$OUT"
mkdir -p "$WORK/unknown"; printf 'feature_views:\n  - name: v\n    entity: driver\n    features:\n      - {name: a, type: int, valdation: {min: 0}}\n' >"$WORK/unknown/u.yaml"
run plan "$WORK/unknown"
check "unknown key: file:line and field" grep -q 'u.yaml:5:[0-9]*: feature_views\[0\].features\[0\].valdation: unknown key "valdation"' <<<"$OUT"
mkdir -p "$WORK/srv"; cp "$REPO"/*.yaml "$WORK/srv/"; printf 'entities:\n  - {name: bad name, join_key: k}\n' >"$WORK/srv/e.yaml"
run apply "$WORK/srv"
check "a registry error names file:line and keeps SQLSTATE 22023" bash -c 'grep -q "e.yaml:2: create entity" <<<"$0" && grep -q 22023 <<<"$0"' "$OUT"

# --- ingest -------------------------------------------------------------------------------------
python3 - "$WORK/big.csv" "$ROWS" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("driver_id,event_ts,conv_rate,trips\n")
    for i in range(n):
        if i % 200 == 7:   conv = "1.5"            # fails validation max 1 (23514)
        elif i % 200 == 107: conv = "abc"          # not a float8 (22P02)
        else: conv = "%.3f" % ((i % 997) / 997)
        f.write("%d,2024-01-01T00:00:00Z,%s,%d\n" % (i % 50000, conv, i % 40))
PY
bad=$(( (ROWS + 192) / 200 + (ROWS + 92) / 200 ))
run ingest driver_stats "$WORK/big.csv" --no-progress
check "ingest (raise) refuses the file with a bad row (exit $RC), loads nothing" [ "$RC/$(q "SELECT count(*) FROM fstore_data.driver_stats")" = "1/0" ]
run --json ingest driver_stats "$WORK/big.csv" --on-error reject
echo "$OUT" | tail -12
check "ingest --on-error reject --json parses" is_json <<<"$JOUT"
counts=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["rows_read"], d["rows_loaded"], d["rows_rejected"])' <<<"$JOUT" 2>/dev/null)
check "ingest counts exact: read/loaded/rejected = $counts" [ "$counts" = "$ROWS $((ROWS - bad)) $bad" ]
check "rows in the table and in rejected_rows" [ "$(q "SELECT count(*) FROM fstore_data.driver_stats")/$(q "SELECT count(*) FROM fstore.rejected_rows WHERE view = 'driver_stats'")" = "$((ROWS - bad))/$bad" ]
check "rejected rows keep the row and the SQLSTATE" [ "$(q "SELECT count(DISTINCT sqlstate) FROM fstore.rejected_rows WHERE row ->> 'conv_rate' IN ('1.5', 'abc')")" = 2 ]
head -1 "$WORK/big.csv" >"$WORK/good.csv"; sed -n '2,1001p' "$WORK/big.csv" | grep -v -e ',1.5,' -e ',abc,' >>"$WORK/good.csv"
good=$(( $(wc -l <"$WORK/good.csv") - 1 ))
before=$(q "SELECT count(*) FROM fstore_data.driver_stats")
run ingest driver_stats "$WORK/good.csv"
check "ingest of a clean file ($good rows)" [ "$(q "SELECT count(*) FROM fstore_data.driver_stats")" = $((before + good)) ]
printf '{"driver_id": 1, "event_ts": "2024-02-01T00:00:00Z", "conv_rate": 0.5, "trips": 3}\n{"driver_id": 2, "event_ts": "2024-02-01T00:00:00Z", "conv_rate": 7}\n' >"$WORK/rows.jsonl"
run --json ingest driver_stats "$WORK/rows.jsonl" --on-error reject
check "ingest of JSON lines: 1 loaded, 1 rejected" [ "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["rows_loaded"], d["rows_rejected"])' <<<"$JOUT")" = "1 1" ]

# --- training-set, token, ls, describe, status ----------------------------------------------------
printf 'driver_id,event_timestamp,label\n1,2024-03-01T00:00:00Z,1\n2,2024-03-01T00:00:00Z,0\n99999,2024-03-01T00:00:00Z,0\n' >"$WORK/entities.csv"
run training-set --service eta_model --entities "$WORK/entities.csv" --out "$WORK/ts.csv"
check "training-set from an entity file: header + 3 rows" [ "$RC/$(wc -l <"$WORK/ts.csv")" = "0/4" ]
run --json training-set --features driver_stats:conv_rate --entities "SELECT 1::bigint AS driver_id, now() AS event_timestamp" --out "$WORK/ts2.csv"
check "training-set from a query --json" is_json <<<"$JOUT"
run --json token create ci_nightly reader
tok=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$JOUT" 2>/dev/null)
check "token create --json gives the token" [ -n "$tok" ]
run --json token revoke ci_nightly; check "token revoke --json" is_json <<<"$JOUT"
check "token is revoked" [ "$(q "SELECT revoked_at IS NOT NULL FROM fstore.api_tokens WHERE name = 'ci_nightly'")" = t ]
for what in entities views features services monitors streams tokens; do
  run --json ls $what; check "ls $what --json parses" is_json <<<"$JOUT"
done
run ls features; check "ls features as a table" grep -q "conv_rate" <<<"$OUT"
for name in driver driver_stats driver_stats:trips eta_model; do
  run --json describe $name; check "describe $name --json parses" is_json <<<"$JOUT"
done
run describe nothing_here; check "describe of an unknown name: exit 1" [ $RC = 1 ]
run --json status; check "status --json parses" is_json <<<"$JOUT"
run --json ls nonsense; check "a usage error exits 2" [ $RC = 2 ]
for cmd in "" plan apply ls describe ingest training-set status token "token create" "token revoke"; do
  # shellcheck disable=SC2086
  "$F" $cmd --help >/dev/null 2>&1; check "fstore $cmd --help" [ $? = 0 ]
done

echo "cli test: $PASSED passed, $FAILED failed"
[ $FAILED = 0 ]
