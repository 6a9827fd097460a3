#!/usr/bin/env bash
# Runs the ```sql blocks of README.md and docs/*.md, in order, one fresh database per file, and
# fails when any statement fails: the docs' examples must run as written.
# Needs PGPORT (PGHOST defaults to 127.0.0.1, PGUSER to postgres) and the extension installed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PGHOST=${PGHOST:-127.0.0.1} PGUSER=${PGUSER:-postgres}
files=0; blocks=0; failed=0
for doc in README.md docs/*.md; do
  [ -f "$doc" ] || continue
  script=$(awk '/^```sql[[:space:]]*$/ {on = 1; n++; next} /^```/ {on = 0} on' "$doc")
  [ -n "$script" ] || continue
  count=$(grep -c '^```sql[[:space:]]*$' "$doc")
  db="fstore_docs_$(basename "$doc" .md | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_\n' '_')"
  psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  if out=$(printf '%s\n' "$script" | psql -X -q -v ON_ERROR_STOP=1 -d "$db" 2>&1 >/dev/null); then
    echo "ok: $doc ($count sql blocks)"
  else
    echo "FAILED: $doc"; echo "$out" | grep -v '^NOTICE\|^WARNING' | head -20; failed=$((failed + 1))
  fi
  psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
  files=$((files + 1)); blocks=$((blocks + count))
done
echo "docs examples: $blocks sql blocks in $files files, $failed files failed"
[ "$failed" = 0 ]
