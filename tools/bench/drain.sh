#!/usr/bin/env bash
# drain.sh: how fast pg_recvlogical drains a backlog of stored changes from
# a walmux slot, against the same drain from the upstream PostgreSQL's own
# slot, in the same run (this machine is shared and noisy: only same-run
# ratios mean anything). What it exercises on walmux's side is the stored
# read path: wal_reader with its read-ahead thread, the write-through
# cache and pgoutput filtering, with no upstream work during the drain.
#
#   tools/bench/drain.sh [rounds, default 3] [walmux -c settings...]
#   e.g. tools/bench/drain.sh 3 -c rds.logical_wal_cache=8
#
# Workload: a table t(id bigint primary key, k int, payload text); one
# transaction of 200,000 rows, five of 100,000 and 50,000 single-row
# transactions (pgbench), 100-byte payloads. Slots d1..dN are created
# with pgoutput on both the upstream and the walmux node before the
# workload; round i drains slot di on each side up to the upstream's end
# LSN (-E; one more transaction follows it, so that both stop at once),
# walmux first, then PostgreSQL. Before each walmux drain the
# store's segment files are evicted from the page cache
# (POSIX_FADV_DONTNEED), so the read comes from the disk or the cache, not
# from pages the ingest left behind. Reported per round: wall seconds of
# each drain, walmux CPU seconds during its drain, and the ratio
# PostgreSQL wall / walmux wall (above 1: walmux drains faster).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
rounds=${1:-3}
shift || true
bench_cluster -c wal_level=logical -c max_replication_slots=20
up=$PGPORT
bench_sql "$up" postgres -c "CREATE TABLE t (id bigint PRIMARY KEY, k int, payload text)" \
  -c "CREATE PUBLICATION p FOR TABLE t"
bench_walmux "$up" postgres p "$@"
for i in $(seq "$rounds"); do
  pg_recvlogical -h 127.0.0.1 -p "$wm_port" -d postgres -S "d$i" --create-slot -P pgoutput
  pg_recvlogical -h 127.0.0.1 -p "$up" -d postgres -S "d$i" --create-slot -P pgoutput
done
bench_sql "$up" postgres -c "INSERT INTO t SELECT g, g, repeat('x', 100) FROM generate_series(1, 200000) g"
for i in 1 2 3 4 5; do
  bench_sql "$up" postgres -c "INSERT INTO t SELECT g, g, repeat('x', 100) FROM generate_series($i * 1000000, $i * 1000000 + 99999) g"
done
cat >"$work/single.sql" <<'SQL'
\set id random(10000000, 900000000)
INSERT INTO t VALUES (:id, 1, repeat('y', 100)) ON CONFLICT DO NOTHING;
SQL
pgbench -h 127.0.0.1 -p "$up" -n -f "$work/single.sql" -t 50000 postgres >/dev/null 2>&1
end=$(bench_sql "$up" postgres -c "SELECT pg_current_wal_lsn()")
# A transaction after the end: each drain stops at its first message past
# the end instead of waiting for a keepalive (PostgreSQL sends one only at
# the client's next status interval, 10s).
bench_sql "$up" postgres -c "INSERT INTO t VALUES (0, 0, 'sentinel')"
# walmux has stored everything once its upstream slot confirms the end.
for _ in $(seq 600); do
  done_lsn=$(bench_sql "$up" postgres -c "SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name NOT LIKE 'd%' LIMIT 1")
  [ "$done_lsn" = t ] && break
  sleep 0.1
done

evict_store() {
  python3 - "$work/wm/wal" <<'PY'
import glob, os, sys
for f in glob.glob(sys.argv[1] + "/*"):
    fd = os.open(f, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
PY
}
drain() { # PORT SLOT
  pg_recvlogical -h 127.0.0.1 -p "$1" -d postgres -S "$2" --start \
    -o proto_version=1 -o publication_names=p -E "$end" -f /dev/null
}
printf '%-6s %12s %10s %14s %8s\n' round "walmux s" "CPU s" "PostgreSQL s" ratio
for i in $(seq "$rounds"); do
  evict_store
  c0=$(cpu_of "$wm_pid"); t0=$(now)
  drain "$wm_port" "d$i"
  t1=$(now); c1=$(cpu_of "$wm_pid")
  drain "$up" "d$i"
  t2=$(now)
  awk -v i="$i" -v a="$t0" -v b="$t1" -v c="$t2" -v x="$c0" -v y="$c1" \
    'BEGIN { printf "%-6d %12.2f %10.2f %14.2f %7.2fx\n", i, b - a, y - x, c - b, (c - b) / (b - a) }'
done
