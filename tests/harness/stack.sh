#!/usr/bin/env bash
# Start and stop the real services fstore's tests run against, on loopback, in a given directory.
#
#   stack.sh free-port                       print a free TCP port on 127.0.0.1
#   stack.sh pg-start DIR PORT               initdb (once) and start PostgreSQL 15 in DIR
#   stack.sh pg-stop DIR [MODE]              stop it (MODE: fast | immediate)
#   stack.sh pg-restart DIR                  fast restart, same port
#   stack.sh redis-start DIR PORT [persist]  start redis-server in DIR (no persistence unless 'persist')
#   stack.sh redis-stop DIR                  stop it (SIGTERM, then wait)
#   stack.sh redis-cluster-start DIR [CERTS] 3 masters + 3 replicas on free ports (DIR/ports lists them,
#                                            masters first); waits for cluster_state:ok and
#                                            every replica in sync; with CERTS (of tls-certs) TLS only
#   stack.sh redis-cluster-stop DIR          stop every node of it
#   stack.sh tls-certs DIR                   a test CA (DIR/ca.pem) and, signed by it, a server certificate
#                                            for 127.0.0.1 and localhost (server.pem, server.key) and a client
#                                            certificate (client.pem, client.key); other-ca.pem is a CA that
#                                            signed nothing here
#   stack.sh redis-tls-start DIR PORT CERTS  redis-server speaking TLS only on PORT (tls-port) with the
#                                            certificates of tls-certs in CERTS; client certificates optional
#   stack.sh pg-ssl DIR CERTS                turn ssl on in the PostgreSQL of pg-start DIR with those
#                                            certificates, and refuse connections without SSL (reload)
#
# FSTORE_PG_PROFILE=bench starts PostgreSQL with its defaults apart from shared_buffers.
# PostgreSQL refuses to run as root, so as root the cluster runs as the 'postgres' user.
set -euo pipefail

PG_BIN=${PG_BIN:-$(pg_config --bindir)}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  # Below Linux's ephemeral range (32768+ by default), where outgoing connections take their local
  # ports, so a port found free here is not taken by some client a moment later.
  local port low=15000 high
  high=$(awk '{print $1 - 1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32767)
  for _ in $(seq 1 200); do
    port=$(( low + RANDOM % (high - low) ))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then echo "$port"; return 0; fi
  done
  echo "stack.sh: no free port found" >&2; return 1
}

pg_start() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
    chmod a+x "$(dirname "$dir")"   # the postgres user must reach DIR through its (temporary) parent
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; return 1; }
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
log_min_messages = warning
CONF
    if [ "${FSTORE_PG_PROFILE:-test}" = bench ]; then
      # Benchmarks: PostgreSQL's defaults apart from shared_buffers.
      echo "shared_buffers = ${FSTORE_PG_SHARED_BUFFERS:-4GB}" >>"$dir/data/postgresql.conf"
    else
      # Tests: durability off, they never survive the run anyway.
      printf '%s\n' "fsync = off" "synchronous_commit = off" "full_page_writes = off" \
        "shared_buffers = 256MB" >>"$dir/data/postgresql.conf"
    fi
  fi
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null \
    || { tail -20 "$dir/postgres.log" >&2; return 1; }
}

pg_stop() {
  local dir=$1 mode=${2:-fast}
  [ -f "$dir/data/postmaster.pid" ] || return 0
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null || true
}

redis_start() {
  local dir=$1 port=$2 persist=${3:-}
  mkdir -p "$dir"
  local save='--save "" --appendonly no'
  [ "$persist" = persist ] && save='--appendonly yes'
  eval redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" $save --protected-mode yes
  for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "stack.sh: redis did not start on port $port" >&2; tail -5 "$dir/redis.log" >&2; return 1
}

redis_stop() {
  local dir=$1 pid
  [ -f "$dir/redis.pid" ] || return 0
  pid=$(cat "$dir/redis.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  rm -f "$dir/redis.pid"
}

redis_cluster_start() {
  local dir=$1 certs=${2:-} port ports=() i tls_args=() listen=()
  mkdir -p "$dir"
  # With CERTS (of tls-certs): every node speaks TLS only, to clients, replicas and the cluster bus
  # (the bus always asks for a client certificate: the nodes present server.pem, which allows it).
  CLUSTER_CLI=(redis-cli)
  if [ -n "$certs" ]; then
    CLUSTER_CLI=(redis-cli --tls --cacert "$certs/ca.pem")
    tls_args=(--tls-cert-file "$certs/server.pem" --tls-key-file "$certs/server.key" --tls-ca-cert-file "$certs/ca.pem"
              --tls-auth-clients optional --tls-cluster yes --tls-replication yes)
  fi
  for i in 0 1 2 3 4 5; do
    # A node also listens on port + 10000 (the cluster bus): both must be free and below 32768.
    while :; do
      port=$(free_port)
      [ "$port" -lt 22000 ] && ! (exec 3<>/dev/tcp/127.0.0.1/$((port + 10000))) 2>/dev/null && break
    done
    ports+=("$port")
    mkdir -p "$dir/n$i"
    if [ -n "$certs" ]; then listen=(--port 0 --tls-port "$port"); else listen=(--port "$port"); fi
    redis-server --bind 127.0.0.1 "${listen[@]}" "${tls_args[@]}" --dir "$dir/n$i" --daemonize yes --pidfile "$dir/n$i/redis.pid" \
      --logfile "$dir/n$i/redis.log" --save "" --appendonly no --protected-mode yes --cluster-enabled yes \
      --cluster-config-file "$dir/n$i/nodes.conf" --cluster-node-timeout 1000 \
      --cluster-replica-validity-factor 0 --repl-diskless-sync-delay 0 --shutdown-on-sigterm now
  done
  printf '%s\n' "${ports[@]}" >"$dir/ports"
  for port in "${ports[@]}"; do
    for _ in $(seq 1 100); do "${CLUSTER_CLI[@]}" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  done
  local hosts=()
  for port in "${ports[@]}"; do hosts+=("127.0.0.1:$port"); done
  "${CLUSTER_CLI[@]}" --cluster create "${hosts[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 \
    || { cat "$dir/create.log" >&2; return 1; }
  for _ in $(seq 1 200); do
    local ok=1
    for port in "${ports[@]}"; do
      "${CLUSTER_CLI[@]}" -p "$port" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || ok=0
    done
    [ $ok = 1 ] && break
    sleep 0.1
  done
  [ $ok = 1 ] || { echo "stack.sh: the Redis Cluster in $dir did not reach cluster_state:ok" >&2; return 1; }
  # Replicas attach and sync a few seconds later; a failover test needs them in sync (and listed by
  # CLUSTER SLOTS) first.
  for _ in $(seq 1 300); do
    ok=1
    for port in "${ports[@]}"; do
      local info
      info=$("${CLUSTER_CLI[@]}" -p "$port" info replication 2>/dev/null)
      if grep -q 'role:master' <<<"$info"; then grep -q 'connected_slaves:1' <<<"$info" || ok=0
      else grep -q 'master_link_status:up' <<<"$info" || ok=0; fi
      [ "$("${CLUSTER_CLI[@]}" -p "$port" cluster slots 2>/dev/null | grep -c '^127\.0\.0\.1$')" = 6 ] || ok=0
    done
    [ $ok = 1 ] && return 0
    sleep 0.1
  done
  echo "stack.sh: the replicas of the Redis Cluster in $dir did not sync" >&2; return 1
}

redis_cluster_stop() {
  # All nodes at once: one by one, each survivor would first react to the death of the previous.
  local dir=$1 n pids=() pid
  for n in "$dir"/n*; do [ -f "$n/redis.pid" ] && pids+=("$(cat "$n/redis.pid")"); done
  [ ${#pids[@]} = 0 ] && return 0
  kill "${pids[@]}" 2>/dev/null || true
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -f "$dir"/n*/redis.pid
  return 0
}

tls_certs() {
  local dir=$1 name
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=fstore test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=fstore other CA" \
    -keyout "$dir/other-ca.key" -out "$dir/other-ca.pem" 2>/dev/null
  for name in server client; do
    openssl req -newkey rsa:2048 -nodes -subj "/CN=fstore test $name" \
      -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
    printf '%s\n' "subjectAltName = IP:127.0.0.1, DNS:localhost" \
      "extendedKeyUsage = $([ $name = server ] && echo serverAuth,clientAuth || echo clientAuth)" >"$dir/$name.ext"
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
      -days 2 -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
  done
  chmod 644 "$dir"/*.pem "$dir"/*.key   # test keys: the postgres user copies them
}

redis_tls_start() {
  local dir=$1 port=$2 certs=$3
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port 0 --tls-port "$port" --tls-cert-file "$certs/server.pem" \
    --tls-key-file "$certs/server.key" --tls-ca-cert-file "$certs/ca.pem" --tls-auth-clients optional \
    --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" \
    --appendonly no --protected-mode yes
  for _ in $(seq 1 100); do
    redis-cli --tls --cacert "$certs/ca.pem" -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "stack.sh: redis (TLS) did not start on port $port" >&2; tail -5 "$dir/redis.log" >&2; return 1
}

pg_ssl() {
  local dir=$1 certs=$2 f
  for f in server.pem server.key ca.pem; do cp "$certs/$f" "$dir/data/ssl-$f"; done
  chmod 600 "$dir/data/ssl-server.key"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir/data"/ssl-*
  printf '%s\n' "ssl = on" "ssl_cert_file = 'ssl-server.pem'" "ssl_key_file = 'ssl-server.key'" \
    "ssl_ca_file = 'ssl-ca.pem'" "ssl_min_protocol_version = 'TLSv1.2'" >>"$dir/data/postgresql.conf"
  # TCP without SSL is refused: whoever connects over TCP uses SSL (libpq's default sslmode=prefer does).
  sed -i 's/^host\(\s\)/hostssl\1/' "$dir/data/pg_hba.conf"
  printf '%s\n' "hostnossl all all 0.0.0.0/0 reject" "hostnossl all all ::/0 reject" >>"$dir/data/pg_hba.conf"
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" reload >/dev/null
  sleep 0.3   # the postmaster rereads its files on SIGHUP
}

cmd=${1:-}; shift || true
case "$cmd" in
  free-port) free_port ;;
  pg-start) pg_start "$@" ;;
  pg-stop) pg_stop "$@" ;;
  pg-restart) pg_stop "$1" fast; port=$(sed -n 's/^port = //p' "$1/data/postgresql.conf" | tail -1); pg_start "$1" "$port" ;;
  redis-start) redis_start "$@" ;;
  redis-stop) redis_stop "$@" ;;
  redis-cluster-start) redis_cluster_start "$@" ;;
  redis-cluster-stop) redis_cluster_stop "$@" ;;
  tls-certs) tls_certs "$@" ;;
  redis-tls-start) redis_tls_start "$@" ;;
  pg-ssl) pg_ssl "$@" ;;
  *) sed -n '2,23p' "$0" >&2; exit 2 ;;
esac
