#!/usr/bin/env bash
# fstore demo: a private PostgreSQL, Redis and fstore-server on loopback, with demo data.
#
#   tools/demo.sh start    (what `make demo` runs after building) stop a previous demo, start
#                          everything fresh under $FSTORE_DEMO_DIR, load the data, tell the story
#   tools/demo.sh stop     (what `make stop` runs) stop exactly what start started
#   tools/demo.sh status   what runs, and where
#
# Environment:
#   FSTORE_DEMO_DIR         where data, logs and pid files go (default ./.fstore in the repository)
#   FSTORE_DEMO_PG_PORT     PostgreSQL port (default 15432)
#   FSTORE_DEMO_REDIS_PORT  Redis port (default 16379)
#   FSTORE_DEMO_HTTP_PORT   fstore-server port (default 8080)
#   FSTORE_DEMO_QUIET=1     load and check, print only the summary (used by tests/demo_test.sh)
#   BUILD_DIR               where fstore-server was built (default build)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
HARNESS=$ROOT/tests/harness/stack.sh
DIR=${FSTORE_DEMO_DIR:-$ROOT/.fstore}
mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
PG_PORT=${FSTORE_DEMO_PG_PORT:-15432}
REDIS_PORT=${FSTORE_DEMO_REDIS_PORT:-16379}
HTTP_PORT=${FSTORE_DEMO_HTTP_PORT:-8080}
BUILD=${BUILD_DIR:-build}; [[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
SERVER=$BUILD/fstore-server
FSTORE=$BUILD/fstore
DB=fstore_demo
QUIET=${FSTORE_DEMO_QUIET:-0}
BASE=http://127.0.0.1:$HTTP_PORT

if [ -t 1 ] && [ "$QUIET" != 1 ]; then B=$'\e[1m' D=$'\e[2m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'; else B= D= G= R= N=; fi
say()     { [ "$QUIET" = 1 ] || printf '%s\n' "$*"; }
section() { say ""; say "${B}== $*${N}"; }
die()     { printf '%sdemo: %s%s\n' "$R" "$*" "$N" >&2; exit 1; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The PostgreSQL data lives in $DIR/pg, or, when the user 'postgres' (that runs the cluster if we
# are root) cannot reach the repository (e.g. under /root), in a directory under /tmp that
# $DIR/pg links to.
pg_dir() { if [ -L "$DIR/pg" ]; then readlink "$DIR/pg"; else echo "$DIR/pg"; fi; }

psql_demo() { psql -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$DB" "$@"; }

# ------------------------------------------------------------------------------------------------
stop() {
  local stopped=0 pid
  if [ -f "$DIR/server.pid" ]; then
    pid=$(cat "$DIR/server.pid")
    if kill -0 "$pid" 2>/dev/null && grep -q fstore-server "/proc/$pid/cmdline" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      say "stopped fstore-server (pid $pid)"; stopped=1
    fi
    rm -f "$DIR/server.pid"
  fi
  if [ -f "$DIR/redis/redis.pid" ]; then
    pid=$(cat "$DIR/redis/redis.pid")
    "$HARNESS" redis-stop "$DIR/redis"
    say "stopped Redis (pid $pid)"; stopped=1
  fi
  local pgd; pgd=$(pg_dir)
  if [ -f "$pgd/data/postmaster.pid" ]; then
    pid=$(head -1 "$pgd/data/postmaster.pid")
    "$HARNESS" pg-stop "$pgd" fast
    for _ in $(seq 1 50); do [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null || break; sleep 0.1; done
    say "stopped PostgreSQL (pid $pid)"; stopped=1
  fi
  [ $stopped = 1 ] || say "demo: nothing was running under $DIR"
}

status() {
  local pid pgd; pgd=$(pg_dir)
  pid=$(cat "$DIR/server.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "fstore-server  pid $pid  http://127.0.0.1:$(cat "$DIR/http.port")  log $DIR/server.log"; else echo "fstore-server  not running"; fi
  pid=$(cat "$DIR/redis/redis.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "Redis          pid $pid  log $DIR/redis/redis.log"; else echo "Redis          not running"; fi
  pid=$(head -1 "$pgd/data/postmaster.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "PostgreSQL     pid $pid  data $pgd/data  log $pgd/postgres.log"; else echo "PostgreSQL     not running"; fi
}

# ------------------------------------------------------------------------------------------------
# Shows a curl command the way a user would type it (tokens as $READER / $WRITER), runs it, and
# prints the answer (pretty, shortened). The answer is kept in $REPLY_BODY, the status in $REPLY_CODE.
CURL_SHOWN=()
show_curl() {   # show_curl "<curl arguments as the user types them>"
  local args=$1 out
  CURL_SHOWN+=("curl $args")
  say "${D}\$${N} curl $args"
  out=$(eval "curl -s -w '\n%{http_code}' $args")
  REPLY_CODE=${out##*$'\n'}; REPLY_BODY=${out%$'\n'*}
  if [ "$QUIET" != 1 ]; then
    if command -v jq >/dev/null; then
      jq -c . <<<"$REPLY_BODY" 2>/dev/null | cut -c1-600 || echo "$REPLY_BODY" | cut -c1-600
    else echo "$REPLY_BODY" | cut -c1-600; fi
    say "${D}(HTTP $REPLY_CODE)${N}"
  fi
}
expect_code() { [ "$REPLY_CODE" = "$1" ] || die "expected HTTP $1, got $REPLY_CODE: $REPLY_BODY"; }

json_field() {  # json_field JSON 'jq path' -- a value from a JSON answer (jq, python3 or sed)
  if command -v jq >/dev/null; then jq -r "$2" <<<"$1"
  elif command -v python3 >/dev/null; then python3 -c 'import json,sys; v=json.loads(sys.argv[1]); exec("r=v"+sys.argv[2]); print(r)' "$1" "$(sed 's/\.\([a-z_]*\)/["\1"]/g' <<<"$2")"
  else sed -n 's/.*"total_purchases":\([0-9]*\).*/\1/p' <<<"$1"; fi
}

wait_ready() {  # wait_ready SECONDS -- until GET /ready is 200 (sync caught up)
  local t=$(( $1 * 10 ))
  for _ in $(seq 1 "$t"); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/ready")" = 200 ] && return 0
    sleep 0.1
  done
  curl -s "$BASE/ready" >&2 || true
  die "fstore-server did not become ready in $1 s (see $DIR/server.log)"
}

now_ms() { date +%s%3N; }

# ------------------------------------------------------------------------------------------------
start() {
  local t0; t0=$(now_ms)
  [ -x "$SERVER" ] && [ -x "$FSTORE" ] || die "$SERVER or $FSTORE is missing: run 'make demo' (or 'make build') first"
  command -v pg_config >/dev/null && command -v redis-server >/dev/null && command -v curl >/dev/null \
    || die "PostgreSQL 15, redis-server and curl are needed: run 'make demo' (it runs 'make deps')"
  [ -f "$(pg_config --sharedir)/extension/fstore.control" ] \
    || die "the extension is not installed: run 'make demo' (or 'make install-ext')"

  # A demo from before is stopped first: every start begins from an empty database.
  if [ -f "$DIR/server.pid" ] || [ -f "$DIR/redis/redis.pid" ] || [ -f "$(pg_dir)/data/postmaster.pid" ]; then
    say "demo: stopping the demo that is running under $DIR"
    stop
  fi
  local what port
  for what in "PostgreSQL:$PG_PORT:FSTORE_DEMO_PG_PORT" "Redis:$REDIS_PORT:FSTORE_DEMO_REDIS_PORT" "fstore-server:$HTTP_PORT:FSTORE_DEMO_HTTP_PORT"; do
    IFS=: read -r name port var <<<"$what"
    if port_busy "$port"; then
      die "port $port (for $name) is already in use by another program on 127.0.0.1.
      Choose another one, e.g.:  $var=$("$HARNESS" free-port) make demo"
    fi
  done

  section "Starting PostgreSQL 15 (port $PG_PORT), Redis (port $REDIS_PORT) and fstore-server (port $HTTP_PORT) under $DIR"
  if [ -L "$DIR/pg" ]; then rm -rf "$(dirname "$(readlink "$DIR/pg")")"; fi
  rm -rf "$DIR/pg" "$DIR/redis" "$DIR/server.log" "$DIR/server.pid" "$DIR/tokens.env"
  local pgd=$DIR/pg
  if [ "$(id -u)" = 0 ]; then
    chmod a+x "$DIR"
    if ! runuser -u postgres -- test -x "$DIR"; then
      pgd=$(mktemp -d /tmp/fstore-demo-pg.XXXXXX); chmod 755 "$pgd"; pgd=$pgd/cluster
      ln -sfn "$pgd" "$DIR/pg"
      say "(the user postgres cannot reach $DIR: the cluster lives in $pgd, linked from $DIR/pg)"
    fi
  fi
  "$HARNESS" pg-start "$pgd" "$PG_PORT" || die "PostgreSQL did not start (log: $pgd/postgres.log)"
  "$HARNESS" redis-start "$DIR/redis" "$REDIS_PORT" || die "Redis did not start (log: $DIR/redis/redis.log)"
  psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $DB" >/dev/null
  psql_demo -q -c "CREATE EXTENSION fstore" >/dev/null

  READER=$(psql_demo -qAt -c "SELECT fstore.create_api_token('demo_reader', 'reader')")
  WRITER=$(psql_demo -qAt -c "SELECT fstore.create_api_token('demo_writer', 'writer')")
  ADMIN=$(psql_demo -qAt -c "SELECT fstore.create_api_token('demo-admin', 'admin')")
  ( umask 077; printf 'export READER=%s\nexport WRITER=%s\nexport ADMIN=%s\n' "$READER" "$WRITER" "$ADMIN" >"$DIR/tokens.env" )
  echo "$HTTP_PORT" >"$DIR/http.port"

  setsid nohup "$SERVER" --pg "postgresql://postgres@127.0.0.1:$PG_PORT/$DB" \
      --redis "redis://127.0.0.1:$REDIS_PORT" --listen "127.0.0.1:$HTTP_PORT" --threads 2 \
      >"$DIR/server.log" 2>&1 </dev/null &
  echo $! >"$DIR/server.pid"
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/health")" = 200 ] && break
    kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null || { tail -20 "$DIR/server.log" >&2; die "fstore-server exited (log above: $DIR/server.log)"; }
    sleep 0.1
  done
  say "PostgreSQL pid $(head -1 "$pgd/data/postmaster.pid"), Redis pid $(cat "$DIR/redis/redis.pid"), fstore-server pid $(cat "$DIR/server.pid")"
  say "API tokens (shown once, also in $DIR/tokens.env):"
  say "  reader  $READER"
  say "  writer  $WRITER"
  say "  admin   $ADMIN   (may also change the registry, in the web UI too)"

  # --------------------------------------------------------------------------------------------
  section "The registry as code: fstore apply examples/demo (entities, feature views, services in YAML)"
  local t1; t1=$(now_ms)
  local pg_url="postgresql://postgres@127.0.0.1:$PG_PORT/$DB"
  psql_demo -q -o /dev/null -v ON_ERROR_STOP=1 -f tools/demo_schema.sql >"$DIR/load.log" 2>&1 \
    || { cat "$DIR/load.log" >&2; die "creating the demo's tables failed"; }
  say "${D}\$${N} fstore --pg $pg_url apply examples/demo"
  "$FSTORE" --pg "$pg_url" apply examples/demo >"$DIR/apply.log" 2>&1 \
    || { cat "$DIR/apply.log" >&2; die "fstore apply examples/demo failed"; }
  [ "$QUIET" = 1 ] || cat "$DIR/apply.log"

  section "Loading the demo data (tools/demo_data.sql: fixed seed, no downloads)"
  psql_demo -q -o /dev/null -v ON_ERROR_STOP=1 -f tools/demo_data.sql >>"$DIR/load.log" 2>&1 \
    || { cat "$DIR/load.log" >&2; die "loading the demo data failed"; }
  say "loaded in $(( $(now_ms) - t1 )) ms with INSERT ... SELECT into fstore_data.* (validated like COPY and fstore.ingest):"
  [ "$QUIET" = 1 ] || psql_demo -q -c "
    SELECT 'fstore_data.customer_stats' AS \"table\", count(*) AS \"rows\", count(DISTINCT customer_id) AS entities FROM fstore_data.customer_stats
    UNION ALL SELECT 'fstore_data.product_stats', count(*), count(DISTINCT product_id) FROM fstore_data.product_stats
    UNION ALL SELECT 'fstore_data.card_txn', count(*), count(DISTINCT card_id) FROM fstore_data.card_txn
    UNION ALL SELECT 'demo.interactions (registered)', count(*), count(DISTINCT customer_id) FROM demo.interactions
    UNION ALL SELECT 'demo.churn_labels', count(*), count(DISTINCT customer_id) FROM demo.churn_labels
    UNION ALL SELECT 'demo.fraud_labels', count(*), count(DISTINCT card_id) FROM demo.fraud_labels"

  # Today's card transactions arrive over HTTP, as a streaming pipeline would send them.
  psql_demo -qAt -o "$DIR/todays_txns.json" -c "SELECT setseed(0.7)" -c "
    SELECT json_agg(json_build_object('card_id', c, 'event_ts', ts, 'amount', round((5 + random() * 120)::numeric, 2),
             'merchant_category', (ARRAY['grocery','fuel','restaurant','pharmacy'])[1 + floor(random() * 4)::int],
             'hour', extract(hour FROM ts AT TIME ZONE 'UTC')::int, 'device_risk_score', round(random()::numeric * 0.3, 3),
             'txn_count_1h', 0) ORDER BY c)
      FROM generate_series(1, 2000) AS c, LATERAL (SELECT now() - make_interval(secs => 60 + random() * 3000 + 0 * c) AS ts) AS t"
  say ""
  say "2,000 of today's card transactions sent over HTTP (POST /ingest/card_txn, writer token):"
  show_curl "-H \"Authorization: Bearer \$WRITER\" --data-binary @$DIR/todays_txns.json $BASE/ingest/card_txn"
  expect_code 200
  wait_ready 120
  say "the online store (Redis) caught up with PostgreSQL: GET /ready is 200 after $(( ($(now_ms) - t1) / 1000 )) s"

  # --------------------------------------------------------------------------------------------
  section "The registry: what features exist, who owns them, how they are checked"
  [ "$QUIET" = 1 ] || psql_demo -q -c "SELECT name, entity, ttl, version, owner, tags, description FROM fstore.feature_views ORDER BY name" \
    -c "SELECT view, name, type, validation, expression FROM fstore.features WHERE view IN ('customer_stats', 'card_txn') ORDER BY view, position" \
    -c "SELECT name, features, owner FROM fstore.feature_services ORDER BY name"

  # --------------------------------------------------------------------------------------------
  section "A point-in-time training set: each label sees the features as they were at its time"
  say "${D}\$${N} psql> SELECT fstore.create_training_set('churn_training', 'demo.churn_labels', feature_service => 'churn_model');"
  local t2; t2=$(now_ms)
  psql_demo -qAt -c "SET client_min_messages = warning" -c "SELECT fstore.create_training_set('churn_training', 'demo.churn_labels', feature_service => 'churn_model')" | sed 's/^/rows: /' | { [ "$QUIET" = 1 ] && cat >/dev/null || cat; }
  say "built in $(( $(now_ms) - t2 )) ms. The same customer at three dates:"
  [ "$QUIET" = 1 ] || psql_demo -q -c "SET timezone = 'UTC'" -c "SELECT * FROM churn_training WHERE customer_id = 42 ORDER BY event_timestamp"
  # A corrected snapshot: the row with the later created_ts wins.
  [ "$QUIET" = 1 ] || psql_demo -q -c "SET timezone = 'UTC'" -c "
    WITH c AS (SELECT customer_id, event_ts FROM fstore_data.customer_stats GROUP BY 1, 2 HAVING count(*) > 1
                ORDER BY event_ts DESC, customer_id LIMIT 1)
    SELECT s.customer_id, s.event_ts, s.created_ts, s.total_spent,
           CASE WHEN s.created_ts = max(s.created_ts) OVER () THEN '<- the correction: training sets and Redis use it' END AS note
      FROM fstore_data.customer_stats s JOIN c USING (customer_id, event_ts) ORDER BY s.created_ts"
  say "${D}\$${N} psql> SELECT fstore.create_training_set('fraud_training', 'demo.fraud_labels', feature_service => 'fraud_model');"
  t2=$(now_ms)
  psql_demo -qAt -c "SET client_min_messages = warning" -c "SELECT fstore.create_training_set('fraud_training', 'demo.fraud_labels', feature_service => 'fraud_model')" | sed 's/^/rows: /' | { [ "$QUIET" = 1 ] && cat >/dev/null || cat; }
  say "built in $(( $(now_ms) - t2 )) ms. Fraud rate by the features a model would learn from:"
  [ "$QUIET" = 1 ] || psql_demo -q -c "
    SELECT is_night, device_risk_score > 0.5 AS risky_device, count(*) AS transactions,
           round(100.0 * avg(is_fraud::int), 2) AS fraud_pct, round(avg(amount), 2) AS avg_amount
      FROM fraud_training GROUP BY 1, 2 ORDER BY 1, 2"

  # --------------------------------------------------------------------------------------------
  section "Transformations: fitted once on the training set, the very same values online"
  say "${D}\$${N} psql> SELECT fstore.create_training_set('churn_features', 'demo.churn_labels', feature_service => 'churn_model', transform => 'fit');"
  psql_demo -qAt -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS churn_features" \
    -c "SELECT fstore.create_training_set('churn_features', 'demo.churn_labels', feature_service => 'churn_model', transform => 'fit')" \
    | sed 's/^/rows: /' | { [ "$QUIET" = 1 ] && cat >/dev/null || cat; }
  [ "$QUIET" = 1 ] || psql_demo -q -c "SELECT service, version, row_count, state -> 'customer_stats:total_purchases' AS total_purchases_state FROM fstore.transform_versions ORDER BY version DESC LIMIT 1" \
    -c "SELECT * FROM churn_features WHERE customer_id = 42 ORDER BY event_timestamp DESC LIMIT 1"

  # --------------------------------------------------------------------------------------------
  section "Statistics and drift monitors (one pass over the history, in PostgreSQL)"
  say "${D}\$${N} psql> SELECT fstore.compute_statistics('card_txn', now() - interval '90 days', now());"
  psql_demo -qAt -c "SELECT fstore.compute_statistics('card_txn', now() - interval '90 days', now())" | sed 's/^/snapshot: /' \
    | { [ "$QUIET" = 1 ] && cat >/dev/null || cat; }
  [ "$QUIET" = 1 ] || psql_demo -q -c "SELECT feature, row_count, null_count, distinct_count, round(mean::numeric, 3) AS mean,
      round(stddev::numeric, 3) AS stddev, quantiles->>'p50' AS p50, quantiles->>'p99' AS p99, top_values->0 AS top_value
      FROM fstore.statistics WHERE view = 'card_txn' ORDER BY feature"
  say "two monitors: the last 7 days against the 28 before, every hour (the server runs them when due):"
  say "${D}\$${N} psql> SELECT fstore.create_monitor('device_risk_drift', 'card_txn:device_risk_score', 'psi', 0.2, '7 days', '28 days');"
  psql_demo -q -o /dev/null -v ON_ERROR_STOP=1 \
    -c "SELECT fstore.create_monitor('device_risk_drift', 'card_txn:device_risk_score', 'psi', 0.2, '7 days', '28 days')" \
    -c "SELECT fstore.create_monitor('merchant_mix_drift', 'card_txn:merchant_category', 'psi', 0.2, '7 days', '28 days')" \
    || die "create_monitor failed"
  local runs=0
  for _ in $(seq 1 100); do
    runs=$(psql_demo -qAt -c "SELECT count(*) FROM fstore.monitor_results WHERE monitor IN ('device_risk_drift', 'merchant_mix_drift')")
    [ "$runs" = 2 ] && break
    sleep 0.1
  done
  [ "$runs" = 2 ] || die "fstore-server did not run the due monitors within 10 s (see $DIR/server.log)"
  [ "$QUIET" = 1 ] || psql_demo -q -c "SELECT name, feature, metric, threshold, round(last_value::numeric, 4) AS last_value, alert
      FROM fstore.monitors ORDER BY name"
  say "${G}device_risk_score drifted in the last two weeks (on purpose in the demo data): alert, NOTIFY fstore_alert, fstore_monitor_alert 1${N}"
  show_curl "-H \"Authorization: Bearer \$READER\" $BASE/monitoring"
  expect_code 200
  [ "$(json_field "$REPLY_BODY" '.monitors[0].alert')" = true ] || die "the drift monitor did not alert"

  # --------------------------------------------------------------------------------------------
  section "Online lookups over HTTP (fstore-server reads Redis)"
  show_curl "-H \"Authorization: Bearer \$READER\" $BASE/features/customer_stats/42"
  expect_code 200
  show_curl "-H \"Authorization: Bearer \$READER\" $BASE/get-online-features -d '{\"feature_service\": \"churn_model\", \"entities\": {\"customer_id\": [42, 4242, 99999]}}'"
  expect_code 200
  show_curl "-H \"Authorization: Bearer \$READER\" $BASE/get-online-features -d '{\"feature_service\": \"churn_model\", \"transform\": \"latest\", \"entities\": {\"customer_id\": [42]}}'"
  expect_code 200
  show_curl "-H \"Authorization: Bearer \$READER\" $BASE/get-online-features -d '{\"features\": [\"card_txn:amount\", \"card_txn:device_risk_score\", \"card_txn:txn_count_1h\"], \"entities\": {\"card_id\": [7, 1234]}}'"
  expect_code 200
  show_curl "-H \"Authorization: Bearer \$READER\" $BASE/features/customer_stats/99999"
  expect_code 404
  say "${D}(customer 99999 does not exist: 404, and NOT_FOUND in the batch answer above)${N}"

  # --------------------------------------------------------------------------------------------
  section "An update flows to the online store"
  show_curl "-H \"Authorization: Bearer \$READER\" '$BASE/features/customer_stats/42?features=total_purchases,total_spent,avg_order_value'"
  expect_code 200
  local before; before=$(json_field "$REPLY_BODY" '.features.total_purchases')
  local newp=$(( before + 1 )) ts; ts=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
  say "customer 42 places an order; the orders pipeline sends the new snapshot:"
  local t3; t3=$(now_ms)
  show_curl "-H \"Authorization: Bearer \$WRITER\" $BASE/ingest/customer_stats -d '{\"customer_id\": 42, \"event_ts\": \"$ts\", \"total_purchases\": $newp, \"total_spent\": $(( newp * 50 )), \"favourite_category\": \"games\", \"days_since_last_purchase\": 0}'"
  expect_code 200
  local after=$before
  for _ in $(seq 1 100); do
    after=$(curl -s -H "Authorization: Bearer $READER" "$BASE/features/customer_stats/42?features=total_purchases" | { json_field "$(cat)" '.features.total_purchases'; })
    [ "$after" = "$newp" ] && break
    sleep 0.02
  done
  [ "$after" = "$newp" ] || die "the update did not reach the online store within 2 s"
  say "${G}online after $(( $(now_ms) - t3 )) ms${N} (ingest + sync + lookup):"
  show_curl "-H \"Authorization: Bearer \$READER\" '$BASE/features/customer_stats/42?features=total_purchases,total_spent,avg_order_value'"
  expect_code 200
  say "a late row (event time a month ago) arrives now; it goes into the history, and the online value stays:"
  show_curl "-H \"Authorization: Bearer \$WRITER\" $BASE/ingest/customer_stats -d '{\"customer_id\": 42, \"event_ts\": \"$(date -u -d '30 days ago' +%Y-%m-%dT%H:%M:%SZ)\", \"total_purchases\": 1, \"total_spent\": 10, \"days_since_last_purchase\": 5}'"
  expect_code 200
  sleep 0.3
  show_curl "-H \"Authorization: Bearer \$READER\" '$BASE/features/customer_stats/42?features=total_purchases'"
  [ "$(json_field "$REPLY_BODY" '.features.total_purchases')" = "$newp" ] || die "a late row overwrote the online value"

  # --------------------------------------------------------------------------------------------
  section "Bad data is refused, with a message that says what is wrong"
  show_curl "-H \"Authorization: Bearer \$WRITER\" $BASE/ingest/card_txn -d '{\"card_id\": 7, \"event_ts\": \"$ts\", \"amount\": 12.5, \"merchant_category\": \"grocery\", \"hour\": 9, \"device_risk_score\": 1.7}'"
  expect_code 422
  show_curl "-H \"Authorization: Bearer \$READER\" $BASE/ingest/card_txn -d '{\"card_id\": 7, \"event_ts\": \"$ts\", \"amount\": 12.5}'"
  expect_code 403
  say "${D}\$${N} psql> INSERT INTO fstore_data.card_txn (card_id, event_ts, amount, merchant_category) VALUES (7, now(), 20, 'casino');"
  psql_demo -q -c "INSERT INTO fstore_data.card_txn (card_id, event_ts, amount, merchant_category) VALUES (7, now(), 20, 'casino')" 2>&1 | head -1 | { [ "$QUIET" = 1 ] && cat >/dev/null || cat; } || true

  # --------------------------------------------------------------------------------------------
  {
    echo "# The curl commands make demo ran (source $DIR/tokens.env first)."
    printf '%s\n' "${CURL_SHOWN[@]}"
  } >"$DIR/curl_examples.sh"
  section "Running now (make demo took $(( ($(now_ms) - t0) / 1000 )) s after the build)"
  status
  cat <<EOF

Go on:
  open $BASE/ui/     # the web UI: paste the reader (or admin) token above
  psql -h 127.0.0.1 -p $PG_PORT -U postgres $DB     # then: SELECT * FROM fstore.feature_views;
  source $DIR/tokens.env     # sets READER, WRITER and ADMIN
  curl -s -H "Authorization: Bearer \$READER" $BASE/features/card_txn/7
  curl -s -H "Authorization: Bearer \$READER" $BASE/get-online-features \\
       -d '{"feature_service": "fraud_model", "entities": {"card_id": [7, 8]}}'
  curl -s -H "Authorization: Bearer \$READER" $BASE/groups
  curl -s $BASE/metrics | grep fstore_sync
  every curl command above: $DIR/curl_examples.sh
  docs: README.md, docs/sql-reference.md, docs/http-api.md, docs/operations.md, docs/ui.md

The web UI: open $BASE/ui/
Stop everything:  make stop
EOF
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
