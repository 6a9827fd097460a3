# Sourced by the benchmarks that need PostgreSQL alone: starts one (tests/harness/stack.sh, the
# bench profile: defaults apart from shared_buffers) on a free loopback port in a temporary
# directory that is removed on exit, points libpq's PG* variables at it, and defines sql().
HARNESS=tests/harness/stack.sh
WORK=$(mktemp -d /tmp/fstore-bench-XXXXXX); chmod 755 "$WORK"
PORT=$($HARNESS free-port)
trap '$HARNESS pg-stop "$WORK/pg" immediate; rm -rf "$WORK"' EXIT
FSTORE_PG_PROFILE=bench $HARNESS pg-start "$WORK/pg" "$PORT"
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
# sql ARGS...: psql quietly, stopping at the first error, unaligned tuples only.
sql() { psql -X -q -v ON_ERROR_STOP=1 -tA "$@"; }
