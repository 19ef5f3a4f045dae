# lib.sh: what the benchmark scripts share (sourced, not run): throw-away
# PostgreSQL clusters, a walmux node streaming from one of them, a work
# directory, and one cleanup that stops everything when the script ends.
#
# After `source lib.sh`: $root, $walmux, $work; bench_cluster, bench_walmux,
# bench_apply_node, bench_sql, now, cpu_of.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
walmux=${WALMUX_BUILD_DIR:-$root/build}/walmux
[ -x "$walmux" ] || { echo "build first: tools/build" >&2; exit 1; }
bench_helper=$root/tests/support/pg_cluster.sh
work=$(mktemp -d /tmp/walmux-bench.XXXXXX)
bench_dirs=()
wm_pid=
wm_pids=()
# Data directory of the next node bench_walmux or bench_apply_node starts,
# under $work; a script that runs two nodes sets another name for one.
wm_name=wm
bench_cleanup() {
  local p d
  for p in "${wm_pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  for d in "${bench_dirs[@]}"; do "$bench_helper" stop "$d" || true; done
  rm -rf "$work"
}
trap bench_cleanup EXIT
export PGHOST=127.0.0.1 PGUSER=postgres

# bench_cluster [-c 'name = value' ...]: starts a cluster; sets $PGPORT and
# $WALMUX_PG_DIR for the caller.
bench_cluster() {
  eval "$("$bench_helper" start --owner $$ "$@")"
  bench_dirs+=("$WALMUX_PG_DIR")
}

# bench_walmux UPSTREAM_PORT DBNAME PUBLICATIONS [-c setting ...]: a walmux
# node on a free port streaming from the upstream; sets $wm_port, $wm_pid.
bench_walmux() {
  local up_port=$1 db=$2 pubs=$3
  shift 3
  wm_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$walmux" init -D "$work/$wm_name" -c rds.logical_replication=on -c port="$wm_port" \
    -c "upstream_conninfo=host=127.0.0.1 port=$up_port user=postgres dbname=$db" \
    -c upstream_publications="$pubs" "$@" >/dev/null
  local log=$work/$wm_name.log
  "$walmux" -D "$work/$wm_name" >"$log" 2>&1 &
  wm_pid=$!
  wm_pids+=("$wm_pid")
  local _
  for _ in $(seq 300); do grep -q "started streaming" "$log" && break; sleep 0.1; done
  grep -q "started streaming" "$log" || { cat "$log"; exit 1; }
}

# bench_apply_node: a walmux node that only applies (no upstream of its
# own) on a free port; sets $wm_port, $wm_pid and defines wm (psql on its
# SQL surface).
bench_apply_node() {
  wm_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$walmux" init -D "$work/$wm_name" -c port="$wm_port" >/dev/null
  local log=$work/$wm_name.log
  "$walmux" -D "$work/$wm_name" >"$log" 2>&1 &
  wm_pid=$!
  wm_pids+=("$wm_pid")
  local _
  for _ in $(seq 300); do grep -q "walmux node is running" "$log" && break; sleep 0.1; done
  wm() { bench_sql "$wm_port" postgres "$@"; }
}

# bench_sql PORT DB [psql args...]: psql on 127.0.0.1:PORT, unaligned
# tuples only, stopping at the first error.
bench_sql() {
  local port=$1 db=$2
  shift 2
  psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -d "$db" "$@"
}

now() { date +%s.%N; }
# CPU seconds (utime + stime) of a PID.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
