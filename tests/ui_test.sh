#!/usr/bin/env bash
# The browser suite of the web UI: two databases on the PostgreSQL of tests/run_all.sh (PGPORT)
# -- the demo data plus tests/ui/ui_fixture.sql, and a registry of 10,000 features
# (tests/ui/big_registry.sql) -- a Redis and one fstore-server per database on free ports, then
# tests/ui/browser_test.mjs drives Debian's headless Chromium through puppeteer-core (pinned in
# ui/package-lock.json). Screenshots go to $FSTORE_UI_SCREENSHOTS (default $BUILD_DIR/ui-screenshots).
# Needs the server and the UI built (make build), the extension installed, chromium and node.
set -uo pipefail
cd "$(dirname "$0")/.."
HARNESS=tests/harness/stack.sh
BUILD=${BUILD_DIR:-build}; [[ $BUILD = /* ]] || BUILD=$PWD/$BUILD
export PGHOST=${PGHOST:-127.0.0.1} PGUSER=${PGUSER:-postgres}
CHROMIUM=${FSTORE_CHROMIUM:-$(command -v chromium || true)}
die() { echo "ui test: $*"; echo "ui test: 0 passed, 1 failed"; exit 1; }
[ -n "$CHROMIUM" ] || die "chromium is not installed (make deps installs it)"
[ -f "$BUILD/ui/index.html" ] || die "the UI is not built in $BUILD/ui (make build)"
[ -d ui/node_modules/puppeteer-core ] || die "ui/node_modules is missing (make build runs npm ci)"
[ -x "$BUILD/fstore" ] || die "the fstore command line is not built in $BUILD (make build)"
WORK=$(mktemp -d /tmp/fstore-ui-test-XXXXXX)
chmod 755 "$WORK"
SERVER_PIDS=()
cleanup() {
  for p in "${SERVER_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${SERVER_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  $HARNESS redis-stop "$WORK/redis" >/dev/null 2>&1
  for db in fstore_ui_demo fstore_ui_big; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1; done
  rm -rf "$WORK"
}
trap cleanup EXIT

load() {  # load DB FILE...
  local db=$1; shift
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || return 1
  psql -X -q -d "$db" -c "CREATE EXTENSION fstore" >/dev/null || return 1
  for f in "$@"; do psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d "$db" -f "$f" >>"$WORK/load.log" 2>&1 || return 1; done
}
# The demo as `make demo` builds it: its schema, the registry from examples/demo, then its data.
load_demo() {
  load fstore_ui_demo tools/demo_schema.sql || return 1
  "$BUILD/fstore" --pg "postgresql://postgres@$PGHOST:$PGPORT/fstore_ui_demo" apply examples/demo >>"$WORK/load.log" 2>&1 || return 1
  for f in tools/demo_data.sql tests/ui/ui_fixture.sql; do
    psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d fstore_ui_demo -f "$f" >>"$WORK/load.log" 2>&1 || return 1
  done
}
load_demo || { cat "$WORK/load.log"; die "loading the demo data failed"; }
load fstore_ui_big tests/ui/big_registry.sql || { cat "$WORK/load.log"; die "loading the big registry failed"; }
token() { psql -X -qAt -d "$1" -c "SELECT fstore.create_api_token('$2', '$3')"; }
export FSTORE_UI_READER=$(token fstore_ui_demo ui.reader reader) FSTORE_UI_ADMIN=$(token fstore_ui_demo ui-admin admin)
export FSTORE_UI_BIG_READER=$(token fstore_ui_big big.reader reader)

REDIS_PORT=$($HARNESS free-port)
$HARNESS redis-start "$WORK/redis" "$REDIS_PORT" >/dev/null || die "Redis did not start"
start_server() {  # start_server DB REDIS_DB -> sets PORT
  PORT=$($HARNESS free-port)
  "$BUILD/fstore-server" --pg "postgresql://postgres@$PGHOST:$PGPORT/$1" --redis "redis://127.0.0.1:$REDIS_PORT/$2" \
      --listen "127.0.0.1:$PORT" --threads 2 >"$WORK/server-$1.log" 2>&1 &
  SERVER_PIDS+=($!)
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")" = 200 ] && return 0
    sleep 0.1
  done
  cat "$WORK/server-$1.log"; die "fstore-server for $1 did not start"
}
start_server fstore_ui_demo 0; export FSTORE_UI_URL=http://127.0.0.1:$PORT
start_server fstore_ui_big 1; export FSTORE_UI_BIG_URL=http://127.0.0.1:$PORT
for _ in $(seq 1 600); do  # the demo's rows reach Redis
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$FSTORE_UI_URL/ready")" = 200 ] && break
  sleep 0.1
done
export FSTORE_CHROMIUM=$CHROMIUM FSTORE_UI_SCREENSHOTS=${FSTORE_UI_SCREENSHOTS:-$BUILD/ui-screenshots}
node --test --test-reporter=spec tests/ui/browser_test.mjs 2>&1 | tee "$WORK/node.out"
rc=${PIPESTATUS[0]}
passed=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$WORK/node.out" | tail -1)
failed=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$WORK/node.out" | tail -1)
if [ "$rc" != 0 ]; then for f in "$WORK"/server-*.log; do echo "== $f"; tail -30 "$f"; done; fi
echo "screenshots: $FSTORE_UI_SCREENSHOTS"
echo "ui test: ${passed:-0} passed, ${failed:-1} failed"
[ "$rc" = 0 ]
