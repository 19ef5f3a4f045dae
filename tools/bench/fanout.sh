#!/usr/bin/env bash
# fanout.sh: what K subscribers cost the upstream, served natively versus
# through walmux, and how fast one subscriber catches up through walmux
# versus directly; everything in one run on this machine (it is shared and
# noisy, so only same-run ratios mean anything).
#
#   tools/bench/fanout.sh [K list, default "1 2 4"] [single txns, default
#                          50000] [big txns of 100,000 rows, default 5]
#
# Workload (the one of shared/notes/native-baseline.md, case 3): a table
# bench(id bigint primary key, k int, payload text) with 100-byte payloads;
# pgbench runs S single-row INSERT transactions, then B statements insert
# 100,000 rows each. Subscribers live in databases sub1..subK of one
# subscriber cluster (streaming = off, binary = false, copy_data = false).
#
# Fan-out (live): for each K, the subscriptions are created, the workload
# runs, and the clock and CPU counters stop when every subscription's
# replication origin has reached the upstream's end LSN. Upstream walsender
# CPU = utime + stime of the upstream postmaster's walsender children (all
# of them natively, walmux's one through walmux); walmux CPU from
# /proc/<walmux>/stat.
# Catch-up: one subscription is disabled, the workload is written, and the
# clock runs from ALTER SUBSCRIPTION ... ENABLE until its origin reaches the
# end LSN; rows/s = rows written / that time. Subscribers connect with
# sslmode=disable; the walmux node has ssl = on, and a last catch-up
# through it with sslmode=require measures what TLS costs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ks=${1:-1 2 4}
single=${2:-50000}
bigtxns=${3:-5}
pgbin=${WALMUX_PGBIN:-/usr/lib/postgresql/15/bin}
rows=$(( single + bigtxns * 100000 ))

bench_cluster -c 'max_wal_senders = 20' -c 'max_replication_slots = 20'
up_port=$PGPORT up_dir=$WALMUX_PG_DIR
bench_cluster -c 'max_logical_replication_workers = 8' -c 'max_worker_processes = 16'
sub_port=$PGPORT
up() { psql -X -q -v ON_ERROR_STOP=1 -p "$up_port" -d bench "$@"; }
sub() { local db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -p "$sub_port" -d "$db" "$@"; }
table="CREATE TABLE bench (id bigint PRIMARY KEY, k int, payload text);"
sslmode=disable
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/server.key" \
  -out "$work/server.crt" -subj /CN=127.0.0.1 -days 2 2>/dev/null

psql -X -q -p "$up_port" -d postgres -c "CREATE DATABASE bench"
up -c "$table CREATE SEQUENCE bench_ins_seq; CREATE PUBLICATION pub FOR TABLE bench;"
for i in 1 2 3 4; do
  psql -X -q -p "$sub_port" -d postgres -c "CREATE DATABASE sub$i"
  sub "sub$i" -c "$table"
done
cat >"$work/ins1.sql" <<'SQL'
\set k random(1, 1000000)
INSERT INTO bench(id, k, payload) VALUES (nextval('bench_ins_seq'), :k, left(repeat(md5(CAST(:k AS text)), 4), 100));
SQL

workload() {
  "$pgbin/pgbench" -n -M prepared -c 1 -j 1 -t "$single" --random-seed=20240611 \
    -h 127.0.0.1 -p "$up_port" -U postgres -f "$work/ins1.sql" bench >/dev/null
  for _ in $(seq "$bigtxns"); do
    up -c "INSERT INTO bench SELECT nextval('bench_ins_seq'), (random()*1000000)::int, left(repeat(md5(g::text||'-t'),4),100) FROM generate_series(1,100000) g"
  done
}

# CPU seconds (utime + stime) of the upstream's walsenders.
walsender_cpu() {
  local total=0 pid pm
  pm=$(head -1 "$up_dir/data/postmaster.pid")
  for pid in $(pgrep -P "$pm"); do
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q walsender; then
      total=$(awk -v a="$total" -v b="$(cpu_of "$pid")" 'BEGIN { print a + b }')
    fi
  done
  echo "$total"
}

# Waits until the subscriptions of databases sub1..sub$1 have applied
# everything up to upstream LSN $2 (their origins' remote_lsn).
wait_caught_up() {
  local k=$1 lsn=$2 i
  for i in $(seq "$k"); do
    sub "sub$i" -c "DO \$\$ BEGIN WHILE NOT EXISTS (SELECT 1 FROM pg_replication_origin_status o JOIN pg_subscription s ON o.external_id = 'pg_' || s.oid WHERE s.subname = 'fan$i' AND o.remote_lsn >= '$lsn') LOOP PERFORM pg_sleep(0.02); END LOOP; END \$\$"
  done
}

subscribe() { # $1 = K, $2 = port
  local i
  for i in $(seq "$1"); do
    sub "sub$i" -c "TRUNCATE bench" -c "CREATE SUBSCRIPTION fan$i CONNECTION 'host=127.0.0.1 port=$2 user=postgres dbname=bench sslmode=$sslmode' PUBLICATION pub WITH (copy_data = false)" 2>/dev/null
  done
  # Wait until every apply worker streams.
  for i in $(seq "$1"); do
    sub "sub$i" -c "DO \$\$ BEGIN WHILE NOT EXISTS (SELECT 1 FROM pg_stat_subscription WHERE pid IS NOT NULL) LOOP PERFORM pg_sleep(0.02); END LOOP; END \$\$"
  done
}
unsubscribe() {
  local i
  for i in $(seq "$1"); do sub "sub$i" -c "DROP SUBSCRIPTION fan$i" 2>/dev/null; done
}
check_rows() { # every subscriber holds what the upstream holds
  local i want got
  want=$(up -At -c "SELECT count(*), sum(k) FROM bench")
  for i in $(seq "$1"); do
    got=$(sub "sub$i" -At -c "SELECT count(*), sum(k) FROM bench")
    [ "$got" = "$want" ] || { echo "sub$i differs: $got vs $want" >&2; exit 1; }
  done
}

# One live fan-out run; prints "wall walsender_cpu walmux_cpu".
fan_run() { # $1 = K, $2 = port, $3 = walmux pid or empty
  up -c "TRUNCATE bench"
  subscribe "$1" "$2"
  local ws0 wm0 t0 t1 lsn
  ws0=$(walsender_cpu); wm0=0; [ -n "$3" ] && wm0=$(cpu_of "$3")
  t0=$(now)
  workload
  lsn=$(up -At -c "SELECT pg_current_wal_lsn()")
  wait_caught_up "$1" "$lsn"
  t1=$(now)
  local ws1 wm1=0
  ws1=$(walsender_cpu); [ -n "$3" ] && wm1=$(cpu_of "$3")
  check_rows "$1"
  unsubscribe "$1"
  awk -v t0="$t0" -v t1="$t1" -v a="$ws0" -v b="$ws1" -v c="$wm0" -v d="$wm1" \
    'BEGIN { printf "%.2f %.2f %.2f\n", t1 - t0, b - a, d - c }'
}

# Catch-up of one subscription after the workload was written while it was
# disabled; prints the seconds.
catch_up_run() { # $1 = port
  up -c "TRUNCATE bench"
  subscribe 1 "$1"
  sub sub1 -c "ALTER SUBSCRIPTION fan1 DISABLE"
  sub sub1 -c "DO \$\$ BEGIN WHILE EXISTS (SELECT 1 FROM pg_stat_subscription WHERE pid IS NOT NULL) LOOP PERFORM pg_sleep(0.02); END LOOP; END \$\$"
  workload
  local lsn t0 t1
  lsn=$(up -At -c "SELECT pg_current_wal_lsn()")
  # Through walmux the stream must be stored first: wait for the upstream
  # slot to confirm it (that is walmux's ingest, not the catch-up).
  up -c "DO \$\$ BEGIN WHILE EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name LIKE 'walmux_%' AND confirmed_flush_lsn < '$lsn') LOOP PERFORM pg_sleep(0.02); END LOOP; END \$\$"
  t0=$(now)
  sub sub1 -c "ALTER SUBSCRIPTION fan1 ENABLE"
  wait_caught_up 1 "$lsn"
  t1=$(now)
  check_rows 1
  unsubscribe 1
  awk -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f\n", t1 - t0 }'
}

echo "workload: $single single-row INSERT txns + $bigtxns x 100,000 rows = $rows rows"
declare -A native
for k in $ks; do
  read -r wall ws _ < <(fan_run "$k" "$up_port" "")
  native[$k]=$ws
  echo "native   K=$k: wall ${wall}s, upstream walsender CPU ${ws}s"
done
native_catch=$(catch_up_run "$up_port")
echo "native   catch-up of one subscriber: ${native_catch}s"

# walmux, on a free port, streaming from the upstream.
bench_walmux "$up_port" bench pub -c max_wal_senders=20 -c ssl=on \
  -c "ssl_cert_file=$work/server.crt" -c "ssl_key_file=$work/server.key"

printf '\n%-8s %10s %22s %14s %16s %14s\n' "K" "wall s" "upstream walsender s" "vs native" "walmux CPU s" "per subscriber"
for k in $ks; do
  read -r wall ws wm < <(fan_run "$k" "$wm_port" "$wm_pid")
  printf '%-8s %10s %22s %13.0f%% %16s %14.2f\n' "walmux" "$wall" "$ws" \
    "$(awk -v a="$ws" -v b="${native[$k]}" 'BEGIN { print 100 * a / b }')" "$wm" \
    "$(awk -v a="$wm" -v k="$k" 'BEGIN { print a / k }')"
  printf '%-8s %10s %22s\n' "K=$k" "" "native ${native[$k]}"
done
walmux_catch=$(catch_up_run "$wm_port")
printf '\ncatch-up of %d rows by one subscriber: direct %ss (%.0f rows/s), through walmux %ss (%.0f rows/s): %.2fx\n' \
  "$rows" "$native_catch" "$(awk -v r="$rows" -v t="$native_catch" 'BEGIN { print r / t }')" \
  "$walmux_catch" "$(awk -v r="$rows" -v t="$walmux_catch" 'BEGIN { print r / t }')" \
  "$(awk -v a="$native_catch" -v b="$walmux_catch" 'BEGIN { print a / b }')"
sslmode=require
tls_catch=$(catch_up_run "$wm_port")
printf 'through walmux over TLS (sslmode=require): %ss (%.0f rows/s): %.2fx the plain catch-up through walmux\n' \
  "$tls_catch" "$(awk -v r="$rows" -v t="$tls_catch" 'BEGIN { print r / t }')" \
  "$(awk -v a="$walmux_catch" -v b="$tls_catch" 'BEGIN { print a / b }')"
