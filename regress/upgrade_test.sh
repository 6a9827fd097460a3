#!/usr/bin/env bash
# Walks every ALTER EXTENSION fstore UPDATE path PostgreSQL knows (pg_extension_update_paths):
# for each installable version V, CREATE EXTENSION fstore VERSION V in a fresh database, update to
# the default version, and compare the catalog of what the extension owns with a fresh install.
# Needs PGPORT (and optionally PGHOST, PGUSER); the extension must be installed in the server.
set -euo pipefail
export PGHOST=${PGHOST:-127.0.0.1} PGUSER=${PGUSER:-postgres}
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -tA "$@"; }

# What the extension owns, as text that does not depend on OIDs: a stable fingerprint.
fingerprint() {
  psql_q -d "$1" <<'SQL'
SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'fstore')
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' ' || md5(p.prosrc) || ' ' || coalesce(p.proconfig::text, '')
  FROM pg_proc p WHERE p.pronamespace = 'fstore'::regnamespace
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'fstore'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY 1;
SQL
}

fresh_db() { psql_q -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }

fresh_db fstore_upgrade_ref
psql_q -d fstore_upgrade_ref -c "CREATE EXTENSION fstore"
latest=$(psql_q -d fstore_upgrade_ref -c "SELECT extversion FROM pg_extension WHERE extname = 'fstore'")
fingerprint fstore_upgrade_ref >/tmp/fstore_upgrade_ref.$$
# Updating the current version to itself must be a harmless no-op.
psql_q -d fstore_upgrade_ref -c "ALTER EXTENSION fstore UPDATE" 2>/dev/null

versions=$(psql_q -d fstore_upgrade_ref -c "SELECT DISTINCT source FROM pg_extension_update_paths('fstore') WHERE target = '$latest' AND path IS NOT NULL ORDER BY 1")
paths=0; failed=0
for from in $versions; do
  fresh_db fstore_upgrade_walk
  psql_q -d fstore_upgrade_walk -c "CREATE EXTENSION fstore VERSION '$from'" -c "ALTER EXTENSION fstore UPDATE TO '$latest'"
  if fingerprint fstore_upgrade_walk | diff -u /tmp/fstore_upgrade_ref.$$ - >/tmp/fstore_upgrade_diff.$$; then
    echo "ok: $from -> $latest"
  else
    echo "FAILED: $from -> $latest differs from a fresh install:"; cat /tmp/fstore_upgrade_diff.$$; failed=$((failed + 1))
  fi
  paths=$((paths + 1))
done
psql_q -d postgres -c "DROP DATABASE IF EXISTS fstore_upgrade_walk" -c "DROP DATABASE fstore_upgrade_ref"
rm -f /tmp/fstore_upgrade_ref.$$ /tmp/fstore_upgrade_diff.$$
echo "upgrade paths to $latest: $paths walked, $failed failed (fresh install of $latest checked)"
[ "$failed" = 0 ]
