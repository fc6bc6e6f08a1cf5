#!/usr/bin/env bash
# A three-node chat cluster on this machine, to try one: its own Redis, its own
# MariaDB/MySQL database, nginx in front (TCP, PROXY protocol), every process's
# files under one directory.
#
#   deploy/local-cluster.sh up      # start (builds chat-server first)
#   deploy/local-cluster.sh down    # stop everything `up` started
#
# Then point clients at it:  CHAT_SERVER=127.0.0.1:7878 chat-tui ...
#
# Settings (environment):
#   CHAT_CLUSTER_DIR   where pids, logs and configs go   (/tmp/chat-cluster)
#   CHAT_CLUSTER_PORT  the port nginx listens on         (7878)
#   CHAT_CLUSTER_DB    a MySQL server URL, no database   (mysql://root@127.0.0.1:3306)
#   CHAT_CLUSTER_NAME  the database created on it        (chat_cluster)
# Needs: redis-server, nginx with the stream module (Debian: nginx-core and
# libnginx-mod-stream), a MariaDB/MySQL server, and the mariadb (or mysql) client.
set -euo pipefail

cd "$(dirname "$0")/.."
dir="${CHAT_CLUSTER_DIR:-/tmp/chat-cluster}"
port="${CHAT_CLUSTER_PORT:-7878}"
db_base="${CHAT_CLUSTER_DB:-mysql://root@127.0.0.1:3306}"
db_name="${CHAT_CLUSTER_NAME:-chat_cluster}"
redis_port=$((port + 21))
nodes=(1 2 3)
node_port() { echo $((port + $1)); }

say() { printf '%s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null || { say "local-cluster: $1 is needed ($2)"; exit 1; }; }

# `mysql://user:pass@host:port` -> client flags.
db_flags() {
    local rest="${db_base#*://}" creds host hostport user pass=""
    creds="${rest%@*}"; hostport="${rest#*@}"; hostport="${hostport%%/*}"
    user="${creds%%:*}"; [[ "$creds" == *:* ]] && pass="${creds#*:}"
    host="${hostport%%:*}"; local p="${hostport#*:}"; [[ "$p" == "$hostport" ]] && p=3306
    printf -- '--host=%s --port=%s --user=%s' "$host" "$p" "$user"
    [[ -n "$pass" ]] && printf -- ' --password=%s' "$pass"
    return 0
}

started() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

up() {
    need redis-server "Debian: redis-server"
    need nginx "Debian: nginx-core and libnginx-mod-stream"
    local client; client="$(command -v mariadb || command -v mysql || true)"
    [[ -n "$client" ]] || { say "local-cluster: the mariadb or mysql client is needed"; exit 1; }
    mkdir -p "$dir"
    say "building chat-server..."
    cargo build --release -q -p chat-server
    local bin="$PWD/target/release/chat-server"

    # shellcheck disable=SC2046
    "$client" $(db_flags) -e "CREATE DATABASE IF NOT EXISTS \`$db_name\`"

    if ! started "$dir/redis.pid"; then
        redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
            --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    fi

    for n in "${nodes[@]}"; do
        local pidfile="$dir/node$n.pid"
        started "$pidfile" && continue
        "$bin" --listen "127.0.0.1:$(node_port "$n")" --node-id "node$n" \
            --database "$db_base/$db_name" --redis "redis://127.0.0.1:$redis_port" \
            --proxy-protocol --trusted-proxy 127.0.0.1 \
            >"$dir/node$n.log" 2>&1 &
        echo $! >"$pidfile"
    done

    # nginx with this cluster's own configuration: deploy/nginx.conf's stream block,
    # pointed at these ports.
    local modules=""
    for m in /usr/lib/nginx/modules/ngx_stream_module.so /usr/share/nginx/modules/ngx_stream_module.so; do
        [[ -f "$m" ]] && modules="load_module $m;" && break
    done
    {
        echo "$modules"
        echo "pid $dir/nginx.pid;"
        echo "error_log $dir/nginx.log;"
        echo "events {}"
        sed -e "s/listen 7878;/listen $port;/" \
            -e "s/127.0.0.1:7801/127.0.0.1:$(node_port 1)/" \
            -e "s/127.0.0.1:7802/127.0.0.1:$(node_port 2)/" \
            -e "s/127.0.0.1:7803/127.0.0.1:$(node_port 3)/" deploy/nginx.conf
    } >"$dir/nginx.conf"
    started "$dir/nginx.pid" || nginx -p "$dir" -c "$dir/nginx.conf"

    for n in "${nodes[@]}"; do
        for _ in $(seq 1 100); do
            grep -q "listening" "$dir/node$n.log" 2>/dev/null && break
            started "$dir/node$n.pid" || { say "node$n did not start:"; cat "$dir/node$n.log" >&2; exit 1; }
            sleep 0.1
        done
    done
    say "cluster up: clients connect to 127.0.0.1:$port (nodes on $(node_port 1), $(node_port 2), $(node_port 3); files in $dir)"
}

down() {
    [[ -d "$dir" ]] || { say "nothing to stop in $dir"; return 0; }
    if started "$dir/nginx.pid"; then nginx -p "$dir" -c "$dir/nginx.conf" -s quit || true; fi
    for n in "${nodes[@]}"; do
        if started "$dir/node$n.pid"; then kill "$(cat "$dir/node$n.pid")" || true; fi
    done
    if started "$dir/redis.pid"; then kill "$(cat "$dir/redis.pid")" || true; fi
    for f in "$dir"/*.pid; do
        [[ -f "$f" ]] || continue
        for _ in $(seq 1 50); do started "$f" || break; sleep 0.1; done
        rm -f "$f"
    done
    say "cluster down (logs kept in $dir; the database $db_name stays)"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    *) say "usage: $0 up|down"; exit 2 ;;
esac
