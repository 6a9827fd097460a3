#!/usr/bin/env bash
# Walks every ALTER EXTENSION fstore UPDATE path PostgreSQL knows (pg_extension_update_paths): for
# each installable version V, in a fresh database, CREATE EXTENSION fstore VERSION V, load
# regress/upgrade_fixture.sql (entities, managed and registered views, a service, rows, rejected
# rows, a token, queued changes), update to the default version, then
#  * compare the catalog of what the extension owns (objects, function bodies and settings,
#    columns, owners, privileges, policies) with a fresh install of the default version, and
#  * run regress/upgrade_check.sql and compare its output with the same fixture and check on a
#    fresh install: the updated database must behave exactly like a new one.
# Needs PGPORT (and optionally PGHOST, PGUSER); the extension must be installed in the server.
set -euo pipefail
cd "$(dirname "$0")"
export PGHOST=${PGHOST:-127.0.0.1} PGUSER=${PGUSER:-postgres}
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -tA "$@"; }
tmp=$(mktemp -d /tmp/fstore-upgrade-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# What the extension owns, as text that does not depend on OIDs: a stable fingerprint.
fingerprint() {
  psql_q -d "$1" <<'SQL'
SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'fstore')
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' ' || md5(p.prosrc) || ' ' || coalesce(p.proconfig::text, '')
       || ' definer=' || p.prosecdef || ' volatile=' || p.provolatile::text || ' owner=' || p.proowner::regrole
       || ' acl=' || coalesce(p.proacl::text, 'default')
  FROM pg_proc p WHERE p.pronamespace = 'fstore'::regnamespace
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || ' notnull=' || a.attnotnull || coalesce(' default=' || pg_get_expr(d.adbin, d.adrelid), '')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relnamespace = 'fstore'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'relation ' || c.relname || ' kind=' || c.relkind::text || ' owner=' || c.relowner::regrole
       || ' rls=' || c.relrowsecurity || ' acl=' || coalesce(c.relacl::text, 'default')
  FROM pg_class c WHERE c.relnamespace = 'fstore'::regnamespace AND c.relkind IN ('r', 'v', 'S')
UNION ALL
SELECT 'policy ' || p.polrelid::regclass || '.' || p.polname || ' ' || pg_get_expr(p.polqual, p.polrelid)
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = 'fstore'::regnamespace
UNION ALL
SELECT 'view ' || c.relname || ' ' || md5(pg_get_viewdef(c.oid))
  FROM pg_class c WHERE c.relnamespace = 'fstore'::regnamespace AND c.relkind = 'v'
UNION ALL
SELECT 'schema ' || n.nspname || ' owner=' || n.nspowner::regrole || ' acl=' || coalesce(n.nspacl::text, 'default')
  FROM pg_namespace n WHERE n.nspname IN ('fstore', 'fstore_data')
ORDER BY 1;
SQL
}

fresh_db() { psql_q -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }
# fixture_and_check DB CREATE_SQL: the fixture on a new extension, an update, then the check.
fixture_and_check() {
  psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "$2" -f upgrade_fixture.sql \
       -c "ALTER EXTENSION fstore UPDATE" -f upgrade_check.sql 2>&1 | grep -v '^NOTICE\|^HINT\|^WARNING'
}

fresh_db fstore_upgrade_ref
psql_q -d fstore_upgrade_ref -c "CREATE EXTENSION fstore"
latest=$(psql_q -d fstore_upgrade_ref -c "SELECT extversion FROM pg_extension WHERE extname = 'fstore'")
fingerprint fstore_upgrade_ref >"$tmp/ref.fingerprint"
# Updating the current version to itself must be a harmless no-op.
psql_q -d fstore_upgrade_ref -c "ALTER EXTENSION fstore UPDATE" 2>/dev/null
fresh_db fstore_upgrade_ref_data
fixture_and_check fstore_upgrade_ref_data "CREATE EXTENSION fstore" >"$tmp/ref.check"
# The reference itself must show the fixture intact (a check that cannot fail proves nothing).
grep -q '^ reader$' "$tmp/ref.check" || { echo "FAILED: reference check lost the token:"; cat "$tmp/ref.check"; exit 1; }

versions=$(psql_q -d fstore_upgrade_ref -c "SELECT DISTINCT source FROM pg_extension_update_paths('fstore') WHERE target = '$latest' AND path IS NOT NULL ORDER BY 1")
paths=0; failed=0
for from in $versions; do
  fresh_db fstore_upgrade_walk
  fixture_and_check fstore_upgrade_walk "CREATE EXTENSION fstore VERSION '$from'" >"$tmp/walk.check"
  if ! fingerprint fstore_upgrade_walk | diff -u "$tmp/ref.fingerprint" - >"$tmp/diff"; then
    echo "FAILED: $from -> $latest: the catalog differs from a fresh install:"; cat "$tmp/diff"; failed=$((failed + 1))
  elif ! diff -u "$tmp/ref.check" "$tmp/walk.check" >"$tmp/diff"; then
    echo "FAILED: $from -> $latest: data or behaviour differ from a fresh install:"; cat "$tmp/diff"; failed=$((failed + 1))
  else
    echo "ok: $from -> $latest (fixture kept, catalog and behaviour as a fresh install)"
  fi
  paths=$((paths + 1))
done
psql_q -d postgres -c "DROP DATABASE IF EXISTS fstore_upgrade_walk" -c "DROP DATABASE fstore_upgrade_ref" \
       -c "DROP DATABASE fstore_upgrade_ref_data"

echo "upgrade paths to $latest: $paths walked, $failed failed (fresh install of $latest checked)"
[ "$failed" = 0 ] && [ "$paths" -gt 0 ]
