#!/usr/bin/env bash
# The newcomer's first minutes, as a test: `tools/demo.sh start` (what `make demo` runs after the
# build) on free ports in a temporary directory, the README's curl commands against it, a second
# start over the running demo, a clear error for a busy port, and `tools/demo.sh stop` leaving
# no process behind. Needs the server built ($BUILD_DIR, default build) and the extension installed.
set -uo pipefail
cd "$(dirname "$0")/.."
HARNESS=tests/harness/stack.sh
WORK=$(mktemp -d /tmp/fstore-demo-test-XXXXXX)
chmod 755 "$WORK"
export FSTORE_DEMO_DIR=$WORK/demo
export FSTORE_DEMO_PG_PORT=$($HARNESS free-port) FSTORE_DEMO_REDIS_PORT=$($HARNESS free-port) FSTORE_DEMO_HTTP_PORT=$($HARNESS free-port)
PASSED=0; FAILED=0
ok()   { PASSED=$((PASSED + 1)); echo "ok: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAILED: $*"; }
cleanup() { tools/demo.sh stop >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT

pids() {  # the pids the demo started, from its pid files
  cat "$FSTORE_DEMO_DIR/server.pid" "$FSTORE_DEMO_DIR/redis/redis.pid" 2>/dev/null
  head -1 "$(readlink -f "$FSTORE_DEMO_DIR/pg")/data/postmaster.pid" 2>/dev/null
}

if tools/demo.sh start >"$WORK/start1.out" 2>&1; then ok "demo start (ports $FSTORE_DEMO_PG_PORT $FSTORE_DEMO_REDIS_PORT $FSTORE_DEMO_HTTP_PORT)"
else fail "demo start"; tail -40 "$WORK/start1.out"; echo "demo test: $PASSED passed, $FAILED failed"; exit 1; fi
for word in "fstore --pg" "apply examples/demo" "applied" "Loading the demo data" "create_training_set" "compute_statistics" "drifted in the last two weeks" "online after" "validation_failed" "make stop" "open http://127.0.0.1:$FSTORE_DEMO_HTTP_PORT/ui/"; do
  grep -q "$word" "$WORK/start1.out" && ok "the demo shows: $word" || fail "the demo does not show: $word"
done

# The README's curl commands (```text blocks, lines from 'curl' through their '\' continuations),
# on this demo's port. The one that sends device_risk_score 1.7 must be refused with 422.
source "$FSTORE_DEMO_DIR/tokens.env"
mapfile -t cmds < <(awk '
  /^```/ { inblock = !inblock; next }
  inblock && /^curl / { cmd = $0; while (cmd ~ /\\$/ && (getline line) > 0) { sub(/\\$/, "", cmd); cmd = cmd " " line }; print cmd }
' README.md)
[ ${#cmds[@]} -ge 5 ] && ok "README has ${#cmds[@]} curl commands" || fail "README has only ${#cmds[@]} curl commands"
for cmd in "${cmds[@]}"; do
  run=${cmd//127.0.0.1:8080/127.0.0.1:$FSTORE_DEMO_HTTP_PORT}
  want=200; [[ $cmd == *'"device_risk_score": 1.7'* ]] && want=422
  code=$(eval "$run -o '$WORK/reply' -w '%{http_code}'")
  if [ "$code" = "$want" ]; then ok "README: ${cmd:0:100} -> $code"
  else fail "README: $cmd -> HTTP $code, expected $want: $(head -c 300 "$WORK/reply")"; fi
done

# A port in use is a clear error, and does not touch the running demo.
if FSTORE_DEMO_DIR=$WORK/other FSTORE_DEMO_PG_PORT=$FSTORE_DEMO_REDIS_PORT tools/demo.sh start >"$WORK/busy.out" 2>&1; then
  fail "a second demo on a busy port started"
else
  grep -q "already in use" "$WORK/busy.out" && ok "busy port: $(head -1 "$WORK/busy.out")" || fail "busy port message: $(cat "$WORK/busy.out")"
fi

# make demo twice: the second start stops the first and starts over.
old=$(pids | tr '\n' ' ')
if tools/demo.sh start >"$WORK/start2.out" 2>&1; then ok "second demo start"; else fail "second demo start"; tail -30 "$WORK/start2.out"; fi
for p in $old; do [ -d "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null && fail "process $p of the first demo still runs"; done
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$FSTORE_DEMO_HTTP_PORT/ready" | grep -q 200 && ok "ready after the second start" || fail "not ready after the second start"

# make stop: nothing left.
new=$(pids | tr '\n' ' ')
tools/demo.sh stop >"$WORK/stop.out" 2>&1 && ok "demo stop: $(tr '\n' ';' <"$WORK/stop.out")" || fail "demo stop"
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }   # zombies are gone
left=""
for _ in $(seq 1 50); do
  left=""; for p in $new; do alive "$p" && left="$left $p"; done
  [ -z "$left" ] && break; sleep 0.1
done
[ -z "$left" ] && ok "no demo process left (was: $new)" || fail "still running after stop:$left"
for port in $FSTORE_DEMO_PG_PORT $FSTORE_DEMO_REDIS_PORT $FSTORE_DEMO_HTTP_PORT; do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && fail "port $port still answers after stop"
done

echo "demo test: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
