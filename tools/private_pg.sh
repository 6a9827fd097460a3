#!/usr/bin/env bash
# Makes a relocated copy of the system's PostgreSQL 15 under PREFIX, so that one checkout can
# install its build of the extension there without touching the system's (PostgreSQL finds its
# share and lib directories relative to its binaries). Prints the PATH entry to use:
#   export PATH=$(tools/private_pg.sh /tmp/pg-mine):$PATH   # pg_config, initdb, postgres now private
set -euo pipefail
prefix=${1:?usage: tools/private_pg.sh PREFIX}
if [ ! -x "$prefix/usr/lib/postgresql/15/bin/postgres" ]; then
  mkdir -p "$prefix/usr/lib/postgresql" "$prefix/usr/share/postgresql" "$prefix/usr/include"
  cp -a /usr/lib/postgresql/15 "$prefix/usr/lib/postgresql/"
  cp -a /usr/share/postgresql/15 "$prefix/usr/share/postgresql/"
  cp -a /usr/include/postgresql "$prefix/usr/include/"
fi
echo "$prefix/usr/lib/postgresql/15/bin"
