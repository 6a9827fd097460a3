#!/usr/bin/env bash
# Runs every fstore test suite against a PostgreSQL cluster and Redis started here, in a temporary
# directory on free loopback ports, and stopped afterwards. Prints one summary line per suite.
#
# FSTORE_SUITES selects suites (default: all): regress isolation upgrade unit integration sanitize docs cli demo ui python
# The python suite runs clients/python/tests with Debian's python3 (PYTHON, default /usr/bin/python3).
# FSTORE_KEEP_WORK=1 keeps the temporary directory (regress results, logs) for a look afterwards.
# The sanitize suite runs the unit tests and the HTTP integration tests on the ASan+UBSan build in
# ASAN_BUILD_DIR (default build-asan); a sanitizer report in any process fails it.
set -uo pipefail
cd "$(dirname "$0")/.."
export FSTORE_SOURCE_DIR=$PWD
export FSTORE_BUILD_DIR=${BUILD_DIR:-build}
[[ $FSTORE_BUILD_DIR = /* ]] || FSTORE_BUILD_DIR=$PWD/$FSTORE_BUILD_DIR
SUITES=${FSTORE_SUITES:-"regress isolation upgrade unit integration sanitize docs cli demo ui python"}
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
[[ $ASAN_BUILD_DIR = /* ]] || ASAN_BUILD_DIR=$PWD/$ASAN_BUILD_DIR
PGXS_DIR=$(dirname "$(pg_config --pgxs)")/..
PG_BIN=$(pg_config --bindir)
HARNESS=tests/harness/stack.sh

WORK=$(mktemp -d /tmp/fstore-run-XXXXXX)
chmod 755 "$WORK"
export TMPDIR=$WORK
PG_PORT=$($HARNESS free-port)
declare -a SUMMARY=()
FAILED=0

cleanup() {
  $HARNESS pg-stop "$WORK/pg" immediate
  if [ -n "${FSTORE_KEEP_WORK:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

SUITE_MARK=$SECONDS
record() {  # record SUITE STATUS DETAIL; suites run one after another, so each took the time since the last
  SUMMARY+=("$(printf '%-12s %-6s %s [%d s]' "$1" "$2" "$3" $((SECONDS - SUITE_MARK)))")
  SUITE_MARK=$SECONDS
  [ "$2" = PASS ] || FAILED=1
}

want() { [[ " $SUITES " == *" $1 "* ]]; }

echo "== starting PostgreSQL on 127.0.0.1:$PG_PORT in $WORK"
if ! $HARNESS pg-start "$WORK/pg" "$PG_PORT"; then
  echo "FATAL: PostgreSQL could not start; no suite can run" >&2
  exit 1
fi
REGRESS_OPTS=(--host=127.0.0.1 --port="$PG_PORT" --user=postgres --bindir="$PG_BIN" --inputdir=regress)

# pg_regress prints "All N tests passed." or "M of N tests failed."
regress_line() { grep -E 'tests (passed|failed)|All [0-9]+ tests' "$1" | tail -1 | sed 's/[ =]*$//; s/^[ =]*//'; }

if want regress; then
  echo "== pg_regress"
  tests=$(cd regress/sql && ls *.sql | sed 's/\.sql$//' | sort)
  mkdir -p "$WORK/regress"
  "$PGXS_DIR/test/regress/pg_regress" "${REGRESS_OPTS[@]}" --outputdir="$WORK/regress" \
      --dbname=fstore_regress $tests >"$WORK/regress.out" 2>&1
  rc=$?; cat "$WORK/regress.out"
  [ $rc = 0 ] || cat "$WORK/regress/regression.diffs" 2>/dev/null | head -300
  record regress "$([ $rc = 0 ] && echo PASS || echo FAIL)" "$(regress_line "$WORK/regress.out")"
fi

if want isolation; then
  echo "== isolation"
  specs=$(cd regress/specs && ls *.spec | sed 's/\.spec$//' | sort)
  mkdir -p "$WORK/isolation"
  "$PGXS_DIR/test/isolation/pg_isolation_regress" "${REGRESS_OPTS[@]}" --outputdir="$WORK/isolation" \
      --dbname=fstore_isolation --load-extension=fstore $specs >"$WORK/isolation.out" 2>&1
  rc=$?; cat "$WORK/isolation.out"
  [ $rc = 0 ] || cat "$WORK/isolation/regression.diffs" 2>/dev/null | head -300
  record isolation "$([ $rc = 0 ] && echo PASS || echo FAIL)" "$(regress_line "$WORK/isolation.out")"
fi

if want upgrade; then
  echo "== upgrade paths"
  out=$(PGPORT=$PG_PORT regress/upgrade_test.sh 2>&1); rc=$?
  echo "$out"
  record upgrade "$([ $rc = 0 ] && echo PASS || echo FAIL)" "$(echo "$out" | tail -1)"
fi

gtest_line() { grep -E '^\[  (PASSED|FAILED)  \]' "$1" | head -2 | tr '\n' ' '; }

if want unit; then
  echo "== unit tests"
  "$FSTORE_BUILD_DIR/fstore_unit_tests" --gtest_brief=1 >"$WORK/unit.out" 2>&1
  rc=$?; tail -40 "$WORK/unit.out"
  record unit "$([ $rc = 0 ] && echo PASS || echo FAIL)" "$(gtest_line "$WORK/unit.out")"
fi

if want integration; then
  # Every fixture starts its own PostgreSQL/Redis/Kafka on free loopback ports in its own temporary
  # directory, and most of a test's time is spent waiting on them, so the suite runs as gtest
  # shards side by side (FSTORE_INTEGRATION_SHARDS, default 2; 1 runs it in one process).
  shards=${FSTORE_INTEGRATION_SHARDS:-2}
  echo "== integration tests ($shards shards)"
  pids=()
  for ((i = 0; i < shards; i++)); do
    # Line-buffered, so a shard that dies (a signal, a crash at exit) loses none of its output.
    GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$i stdbuf -oL -eL "$FSTORE_BUILD_DIR/fstore_integration_tests" \
        --gtest_brief=1 >"$WORK/integration-$i.out" 2>&1 &
    pids+=($!)
  done
  rc=0; statuses=()
  for p in "${pids[@]}"; do wait "$p"; s=$?; statuses+=("$s"); [ "$s" = 0 ] || rc=1; done
  passed=0; failed=0
  for ((i = 0; i < shards; i++)); do
    echo "-- shard $i (exit status ${statuses[$i]})"
    # Every failure with what led to it, wherever it is in the output, then the end of the output.
    grep -n -B 30 -A 10 -E '^\[  FAILED  \] [A-Za-z]|: Failure$' "$WORK/integration-$i.out" | head -400
    tail -40 "$WORK/integration-$i.out"
    n=$(grep -oE '^\[  PASSED  \] [0-9]+' "$WORK/integration-$i.out" | grep -oE '[0-9]+$'); passed=$((passed + ${n:-0}))
    n=$(grep -oE '^\[  FAILED  \] [0-9]+ tests?, listed' "$WORK/integration-$i.out" | grep -oE '[0-9]+'); failed=$((failed + ${n:-0}))
    grep -q '^\[  PASSED  \]' "$WORK/integration-$i.out" || grep -q '^\[  FAILED  \]' "$WORK/integration-$i.out" || rc=1
  done
  detail="[  PASSED  ] $passed tests."; [ $failed = 0 ] || detail="$detail [  FAILED  ] $failed tests."
  [ $rc = 0 ] || [ $failed != 0 ] || detail="$detail (a shard did not finish)"
  record integration "$([ $rc = 0 ] && echo PASS || echo FAIL)" "$detail"
fi

if want sanitize; then
  echo "== sanitizer pass (ASan + UBSan build in $ASAN_BUILD_DIR)"
  if [ ! -x "$ASAN_BUILD_DIR/fstore_http_tests" ]; then
    record sanitize FAIL "no sanitizer build in $ASAN_BUILD_DIR (make build-asan)"
  else
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=87}
    "$ASAN_BUILD_DIR/fstore_unit_tests" --gtest_brief=1 >"$WORK/asan-unit.out" 2>&1; rc1=$?
    FSTORE_BUILD_DIR=$ASAN_BUILD_DIR "$ASAN_BUILD_DIR/fstore_http_tests" --gtest_brief=1 \
      >"$WORK/asan-integration.out" 2>&1; rc2=$?
    tail -n 30 "$WORK/asan-unit.out" "$WORK/asan-integration.out"
    # Server processes write sanitizer reports to their logs, which the tests print on failure.
    reports=$(cat "$WORK/asan-unit.out" "$WORK/asan-integration.out" | grep -cE 'ERROR: (Address|Leak)Sanitizer|runtime error:' || true)
    status=PASS; { [ $rc1 = 0 ] && [ $rc2 = 0 ] && [ "$reports" = 0 ]; } || status=FAIL
    record sanitize $status "unit: $(gtest_line "$WORK/asan-unit.out")/ http integration: $(gtest_line "$WORK/asan-integration.out")/ sanitizer reports: $reports"
  fi
fi

if want docs; then
  echo "== docs examples"
  out=$(PGPORT=$PG_PORT tests/docs_examples.sh 2>&1); rc=$?
  echo "$out" | tail -30
  record docs "$([ $rc = 0 ] && echo PASS || echo FAIL)" "$(echo "$out" | tail -1)"
fi

if want cli; then
  echo "== fstore command line (tests/cli_test.sh)"
  out=$(BUILD_DIR=$FSTORE_BUILD_DIR tests/cli_test.sh 2>&1); rc=$?
  echo "$out"
  record cli "$([ $rc = 0 ] && echo PASS || echo FAIL)" "$(echo "$out" | tail -1)"
fi

if want demo; then
  echo "== demo (tools/demo.sh start/stop on free ports, the README's curl commands)"
  out=$(BUILD_DIR=$FSTORE_BUILD_DIR tests/demo_test.sh 2>&1); rc=$?
  echo "$out" | tail -30
  record demo "$([ $rc = 0 ] && echo PASS || echo FAIL)" "$(echo "$out" | tail -1)"
fi

if want ui; then
  echo "== web UI in headless Chromium (tests/ui_test.sh)"
  out=$(PGPORT=$PG_PORT BUILD_DIR=$FSTORE_BUILD_DIR tests/ui_test.sh 2>&1); rc=$?
  echo "$out" | tail -40
  record ui "$([ $rc = 0 ] && echo PASS || echo FAIL)" "$(echo "$out" | tail -1)"
fi

if want python; then
  echo "== python client (pytest against PostgreSQL, Redis and fstore-server it starts)"
  out=$(cd clients/python && "${PYTHON:-/usr/bin/python3}" -m pytest -q -p no:cacheprovider tests 2>&1); rc=$?
  echo "$out" | tail -40
  record python "$([ $rc = 0 ] && echo PASS || echo FAIL)" "$(echo "$out" | grep -E '[0-9]+ (passed|failed|error)' | tail -1)"
fi

echo
echo "== fstore test summary (all suites took $SECONDS s)"
printf '%s\n' "${SUMMARY[@]}"
exit $FAILED
