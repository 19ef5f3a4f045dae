#!/usr/bin/env bash
# pg_cluster.sh: throw-away PostgreSQL 15 clusters for walmux's tests.
#
#   eval "$(pg_cluster.sh start --owner PID [-c name=value]...)"
#       Creates and starts a cluster and prints shell assignments:
#       export PGHOST=127.0.0.1 PGPORT=<port> PGUSER=postgres PGDATABASE=postgres
#       WALMUX_PG_DIR=<dir>. A guardian process stops the cluster and removes
#       <dir> as soon as process PID is gone, however it ended.
#   pg_cluster.sh start --guard-stdin [-c name=value]...
#       Same, but this process itself becomes the guardian after printing:
#       it cleans up when its standard input reaches end-of-file, i.e. when
#       the process holding the other end of the pipe closes it or dies.
#       (This is what tests/support/pg_cluster.cpp uses.)
#   pg_cluster.sh stop DIR
#       Stops the cluster in DIR and removes DIR. Idempotent.
#   pg_cluster.sh alive PID
#       Exit status 0 when process PID exists and is not a zombie.
#
# Each cluster: initdb into a fresh /tmp/walmux-pg.XXXXXX, wal_level=logical,
# a free random port on 127.0.0.1, its Unix socket in its own directory,
# fsync off (throw-away data; synchronous_commit stays on so a committed
# transaction is decodable at once), output_plugin_libraries extended with wal2json
# where that setting exists (PostgreSQL >= 15.19). Run as root, the server
# runs as the unprivileged user "postgres" (PostgreSQL refuses root).
set -euo pipefail

PGBIN=${WALMUX_PGBIN:-/usr/lib/postgresql/15/bin}

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# True when process $1 exists and is not a zombie. (A stopped postmaster is
# reparented to PID 1, which in some containers never reaps it: it then stays
# a zombie, which kill -0 would still report as alive.)
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  case "${stat%% *}" in Z|X) return 1 ;; esac
  return 0
}

stop_cluster() {
  local dir=$1
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  case "$dir" in /tmp/walmux-pg.*) ;; *) echo "pg_cluster.sh: refusing to remove $dir" >&2; return 1 ;; esac
  if [ -f "$dir/data/postmaster.pid" ]; then
    local pid
    pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop \
      </dev/null >/dev/null 2>&1 || true
    if [ -n "$pid" ] && alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$dir"
}

start_cluster() {
  local guard=$1 owner=$2
  shift 2
  local extra_conf=("$@")
  local dir
  dir=$(mktemp -d /tmp/walmux-pg.XXXXXX)
  chmod 0755 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  # From here on, a failure must not leave the directory behind.
  trap 'stop_cluster "$dir"' ERR

  as_pg "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 \
    --locale=C --no-sync </dev/null >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    stop_cluster "$dir"
    return 1
  }
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$dir'"
    echo "wal_level = logical"
    echo "max_replication_slots = 20"
    echo "max_wal_senders = 20"
    echo "fsync = off"
    echo "full_page_writes = off"
    echo "shared_buffers = 32MB"
    if as_pg "$PGBIN/postgres" --describe-config 2>/dev/null |
      grep -c '^output_plugin_libraries' >/dev/null; then
      echo "output_plugin_libraries = 'pgoutput, test_decoding, wal2json'"
    fi
    for kv in "${extra_conf[@]}"; do echo "$kv"; done
  } >>"$dir/data/postgresql.conf"

  local port started=0
  for _ in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 40000))
    port_in_use "$port" && continue
    if as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-p $port" start </dev/null >"$dir/pg_ctl.log" 2>&1; then
      started=1
      break
    fi
  done
  if [ "$started" != 1 ]; then
    echo "pg_cluster.sh: could not start a cluster; server log:" >&2
    tail -n 20 "$dir/postgres.log" >&2 || true
    stop_cluster "$dir"
    return 1
  fi
  trap - ERR

  echo "export PGHOST=127.0.0.1"
  echo "export PGPORT=$port"
  echo "export PGUSER=postgres"
  echo "export PGDATABASE=postgres"
  echo "export WALMUX_PG_DIR=$dir"

  if [ "$guard" = stdin ]; then
    # Become the guardian: release stdout so the reader sees the end of the
    # assignments, then wait for the owner's pipe to close.
    exec 1>/dev/null
    trap 'stop_cluster "$dir"; exit 0' TERM INT HUP
    cat >/dev/null || true
    stop_cluster "$dir"
  else
    # A detached guardian that outlives this script and watches the owner.
    setsid bash -c '
      owner=$1 dir=$2 script=$3
      trap "\"$script\" stop \"$dir\"; exit 0" TERM INT HUP
      while kill -0 "$owner" 2>/dev/null && [ -d "$dir" ]; do sleep 0.5; done
      "$script" stop "$dir"' guardian "$owner" "$dir" "$(readlink -f "$0")" \
      </dev/null >/dev/null 2>&1 &
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  start)
    guard="" owner="" conf=()
    while [ $# -gt 0 ]; do
      case "$1" in
        --guard-stdin) guard=stdin ;;
        --owner) owner=$2; guard=owner; shift ;;
        -c) conf+=("$2"); shift ;;
        *) echo "pg_cluster.sh: unknown option $1" >&2; exit 2 ;;
      esac
      shift
    done
    if [ -z "$guard" ]; then
      echo "pg_cluster.sh: start needs --owner PID or --guard-stdin" >&2
      exit 2
    fi
    start_cluster "$guard" "$owner" "${conf[@]}"
    ;;
  stop)
    stop_cluster "${1:?usage: pg_cluster.sh stop DIR}"
    ;;
  alive)
    alive "${1:?usage: pg_cluster.sh alive PID}"
    ;;
  crash-restart)
    # An immediate stop (what a crash leaves: recovery at the next start)
    # and a start on the same port.
    d=${1:?usage: pg_cluster.sh crash-restart DIR}
    as_pg "$PGBIN/pg_ctl" -D "$d/data" -l "$d/postgres.log" -m immediate \
      -w -t 60 restart </dev/null >"$d/pg_ctl.log" 2>&1 || {
      cat "$d/pg_ctl.log" >&2
      exit 1
    }
    ;;
  *)
    echo "usage: pg_cluster.sh start (--owner PID | --guard-stdin) [-c name=value]... | stop DIR | alive PID | crash-restart DIR" >&2
    exit 2
    ;;
esac
