#!/usr/bin/env bash
# copy.sh: a PostgreSQL subscriber's initial table copy through walmux
# versus directly from the upstream, in the same run on this machine (it is
# shared and noisy, so only same-run ratios mean anything).
#
#   tools/bench/copy.sh [rows, default 1000000] [rounds, default 3]
#
# The upstream table bench(id bigint primary key, k int, payload text) holds
# `rows` rows with 100-byte payloads (about 150 bytes a row on the wire).
# Each round creates, in a fresh database of one subscriber cluster, the
# same table and a subscription (copy_data = true) to the upstream directly
# and then one to walmux, and times CREATE SUBSCRIPTION until
# pg_subscription_rel says 'r' (ready) for the table: the tablesync
# worker's whole job (snapshot slot, COPY, catch-up); the sides alternate
# which goes first. walmux's CPU time during its copies comes from
# /proc/<walmux>/stat. The figures are the median round of each side.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
rows=${1:-1000000}
rounds=${2:-3}

bench_cluster
up_port=$PGPORT
# The subscriber writes 150MB a copy: room for it between checkpoints, and a
# CHECKPOINT before each copy, so that no copy pays for the one before; and
# workers launched without the default 5 s pause after the previous round.
bench_cluster -c 'max_wal_size = 8GB' -c 'checkpoint_timeout = 1h' -c 'wal_retrieve_retry_interval = 100ms'
sub_port=$PGPORT
up() { bench_sql "$up_port" postgres "$@"; }
sub() { bench_sql "$sub_port" "$@"; }
table="CREATE TABLE bench (id bigint PRIMARY KEY, k int, payload text);"

echo "loading $rows rows into the upstream"
up -c "$table" -c "INSERT INTO bench SELECT g, g % 1000, left(repeat(md5(g::text), 4), 100) FROM generate_series(1, $rows) g" \
   -c "CREATE PUBLICATION pub FOR TABLE bench" -c "CHECKPOINT"
size=$(up -c "SELECT pg_size_pretty(pg_table_size('bench'))")

bench_walmux "$up_port" postgres pub

# copy_once DB PORT: seconds from CREATE SUBSCRIPTION to the table ready.
copy_once() {
  local db=$1 port=$2
  sub postgres -c "CREATE DATABASE $db"
  sub "$db" -c "$table" -c "CHECKPOINT"
  local t0; t0=$(now)
  sub "$db" -c "CREATE SUBSCRIPTION ${db}_s CONNECTION 'host=127.0.0.1 port=$port dbname=postgres user=postgres' PUBLICATION pub" 2>/dev/null
  until [ "$(sub "$db" -c "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate = 'r'")" = 1 ]; do
    sleep 0.05
  done
  local t1; t1=$(now)
  [ "$(sub "$db" -c "SELECT count(*) FROM bench")" = "$rows" ] || { echo "$db: wrong row count" >&2; exit 1; }
  sub "$db" -c "DROP SUBSCRIPTION ${db}_s"
  sub postgres -c "DROP DATABASE $db"
  echo "$t1 - $t0" | bc -l
}

direct=() through=() cpu=()
through_walmux() {
  c0=$(cpu_of "$wm_pid")
  w=$(copy_once "walmux$r" "$wm_port")
  c1=$(cpu_of "$wm_pid")
}
for r in $(seq 1 "$rounds"); do
  # Alternate which side goes first.
  if [ $((r % 2)) = 1 ]; then
    d=$(copy_once "direct$r" "$up_port"); through_walmux
  else
    through_walmux; d=$(copy_once "direct$r" "$up_port")
  fi
  direct+=("$d") through+=("$w") cpu+=("$(echo "$c1 - $c0" | bc -l)")
  printf 'round %d: direct %.2f s, through walmux %.2f s (walmux CPU %.2f s)\n' "$r" "$d" "$w" "${cpu[-1]}"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
md=$(median "${direct[@]}") mw=$(median "${through[@]}") mc=$(median "${cpu[@]}")
echo
echo "initial copy of $rows rows ($size on the upstream), median of $rounds rounds:"
printf '  direct from the upstream: %6.2f s  %9.0f rows/s\n' "$md" "$(echo "$rows / $md" | bc -l)"
printf '  through walmux:           %6.2f s  %9.0f rows/s  (walmux CPU %.2f s)\n' "$mw" "$(echo "$rows / $mw" | bc -l)" "$mc"
printf '  speed through walmux / direct: %.2fx (target >= 0.90x)\n' "$(echo "$md / $mw" | bc -l)"
