#!/usr/bin/env bash
# apply.sh: walmux's apply role versus a native PostgreSQL subscription,
# applying the same upstream changes into the same target cluster, in the
# same run on this machine (it is shared and noisy, so only same-run ratios
# mean anything).
#
#   tools/bench/apply.sh [rounds, default 2]
#
# Workloads on the upstream table bench(id bigserial primary key, k int,
# payload text) with 100-byte payloads:
#   small       100,000 single-row INSERT transactions (pgbench, 4 clients)
#   large       10 transactions of 100,000 rows each
#   small_sync  10,000 single-row transactions, both subscriptions with
#               synchronous_commit = on (each target commit waits for its
#               flush)
#   large_streamed  the large workload with streaming = on on both sides
#               and the publisher's logical_decoding_work_mem at 64kB, so
#               every transaction is streamed before it commits (native and
#               walmux both keep it in files and apply it at its commit)
#   updates     100,000 single-row UPDATE transactions by primary key on
#               100,000 rows present on all three sides (the issue sets no
#               target; shown against 1.0)
#   deletes     100,000 single-row DELETE transactions by primary key of
#               those rows (one session, a COMMIT after each; no target
#               either)
# Each round creates both subscriptions disabled (native: CREATE
# SUBSCRIPTION on the target; walmux: CREATE SUBSCRIPTION on a walmux node
# with target = the target's conninfo), each with its own slot and target
# database and copy_data = false, then runs the workload, so both slots
# hold the same changes. Then each side is enabled in turn (alternating
# which goes first) and timed from ENABLE until its target table holds
# every change (its row count, or for updates sum(k); polled every 50ms
# through one open psql session: on this 2-core machine faster polling
# takes CPU from the sides measured). Both use synchronous_commit = off on the target (PostgreSQL's
# subscription default) except in small_sync. The target cluster runs with
# fsync = on (a real target's commits reach its disk). The CPU time of the
# upstream walsender serving each side is shown (it bounds both), and that
# of the target process applying (native: the apply worker; walmux: the
# backend of its target connection). The
# figures are the median round of each side.
#
# APPLY_SOURCE=walmux tools/bench/apply.sh: both subscriptions take the
# changes from a walmux node streaming from the upstream (their slots are
# on that node) instead of from the upstream's own walsenders, and each
# round's clock starts once that node has stored the whole workload. This
# takes the PostgreSQL 15 walsender's decoding, which bounds both sides on
# small transactions, out of the comparison; the source column then shows
# the source node's CPU time while each side applied.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
rounds=${1:-2}

bench_cluster -c 'max_wal_size = 8GB' -c 'checkpoint_timeout = 1h'
up_port=$PGPORT
bench_cluster -c 'max_wal_size = 8GB' -c 'checkpoint_timeout = 1h' -c 'wal_retrieve_retry_interval = 100ms' \
  -c 'fsync = on' -c 'full_page_writes = on'
tgt_port=$PGPORT
up() { bench_sql "$up_port" postgres "$@"; }
tgt() { bench_sql "$tgt_port" "$@"; }
table="CREATE TABLE bench (id bigserial PRIMARY KEY, k int, payload text);"
up -c "$table" -c "CREATE PUBLICATION pub FOR TABLE bench"
for db in native walmux; do
  tgt postgres -c "CREATE DATABASE $db"
  tgt "$db" -c "$table"
done

# APPLY_SOURCE=walmux: both subscriptions take the changes from a walmux
# node streaming from the upstream instead of from the upstream itself.
src_pid=
sender="its walsender"
if [ "${APPLY_SOURCE:-postgres}" = walmux ]; then
  sender="source node"
  wm_name=source bench_walmux "$up_port" postgres pub
  src_port=$wm_port src_pid=$wm_pid
  upstream="host=127.0.0.1 port=$src_port dbname=postgres user=postgres"
else
  upstream="host=127.0.0.1 port=$up_port dbname=postgres user=postgres"
fi
# An apply-only walmux node (no upstream of its own).
bench_apply_node

echo "\\set k random(1, 1000)
INSERT INTO bench (k, payload) VALUES (:k, repeat('x', 100));" >"$work/small.sql"
echo "\\set id random(1, 100000)
UPDATE bench SET k = k + 1 WHERE id = :id;" >"$work/updates.sql"
workload() {
  case $1 in
  small) pgbench -n -h 127.0.0.1 -p "$up_port" -U postgres -c 4 -j 2 -t 25000 -f "$work/small.sql" postgres >/dev/null 2>&1 ;;
  small_sync) pgbench -n -h 127.0.0.1 -p "$up_port" -U postgres -c 4 -j 2 -t 2500 -f "$work/small.sql" postgres >/dev/null 2>&1 ;;
  deletes) up -c "DO \$\$ BEGIN FOR i IN 1..100000 LOOP DELETE FROM bench WHERE id = i; COMMIT; END LOOP; END \$\$" ;;
  updates) pgbench -n -h 127.0.0.1 -p "$up_port" -U postgres -c 4 -j 2 -t 25000 -f "$work/updates.sql" postgres >/dev/null 2>&1 ;;
  large | large_streamed) for _ in $(seq 10); do
      up -c "INSERT INTO bench (k, payload) SELECT g % 1000, repeat('x', 100) FROM generate_series(1, 100000) g"
    done ;;
  esac
}

# time_until_applied SIDE EXPECTED: enables SIDE, seconds until $done_query
# on its target table gives EXPECTED. The polls go through one psql session
# opened before the clock starts (a psql process per poll would cost the
# sides measured more CPU than the polls themselves).
time_until_applied() {
  local side=$1 want=$2 t0 t1 got=
  coproc POLL { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$tgt_port" -d "$side"; }
  echo "SELECT 1;" >&"${POLL[1]}"; read -r got <&"${POLL[0]}"
  local s0=; [ -n "$src_pid" ] && s0=$(cpu_of "$src_pid")
  t0=$(now)
  if [ "$side" = native ]; then tgt native -c "ALTER SUBSCRIPTION nat ENABLE"; else wm -c "ALTER SUBSCRIPTION wmx ENABLE"; fi
  while :; do
    echo "$done_query;" >&"${POLL[1]}"; read -r got <&"${POLL[0]}"
    [ "$got" = "$want" ] && break
    sleep 0.05
  done
  t1=$(now)
  exec {POLL[1]}>&-
  wait "$POLL_PID" 2>/dev/null || true
  # What serves this side: the upstream walsender's CPU time, or with a
  # walmux source that node's CPU time while this side applied.
  local app=nat; [ "$side" = walmux ] && app=wmx
  local pid sender_cpu
  if [ -n "$src_pid" ]; then
    sender_cpu=$(echo "$(cpu_of "$src_pid") - $s0" | bc -l)
  else
    pid=$(up -c "SELECT pid FROM pg_stat_replication WHERE application_name = '$app'")
    sender_cpu=$(cpu_of "$pid")
  fi
  # The target process applying it: the native apply worker, or the
  # backend serving walmux's target connection.
  local tpid
  if [ "$side" = native ]; then
    tpid=$(tgt native -c "SELECT pid FROM pg_stat_subscription WHERE subname = 'nat' AND relid IS NULL")
  else
    tpid=$(tgt walmux -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'walmux_apply_wmx'")
  fi
  echo "$(echo "$t1 - $t0" | bc -l) $sender_cpu $(cpu_of "$tpid")"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for w in ${APPLY_WORKLOADS:-small large small_sync large_streamed updates deletes}; do
  sync=off; [ "$w" = small_sync ] && sync=on
  streaming=off; [ "$w" = large_streamed ] && streaming=on
  work_mem=64MB; [ "$w" = large_streamed ] && work_mem=64kB
  up -c "ALTER SYSTEM SET logical_decoding_work_mem = '$work_mem'" -c "SELECT pg_reload_conf()" >/dev/null
  nat=() wmx=() cpu=()
  for r in $(seq 1 "$rounds"); do
    up -c "TRUNCATE bench"
    tgt native -c "TRUNCATE bench"
    tgt walmux -c "TRUNCATE bench"
    done_query="SELECT count(*) FROM bench"
    if [ "$w" = updates ] || [ "$w" = deletes ]; then
      # The same rows on all three sides before the slots exist.
      rows="INSERT INTO bench SELECT g, 0, repeat('x', 100) FROM generate_series(1, 100000) g"
      up -c "$rows"; tgt native -c "$rows"; tgt walmux -c "$rows"
      [ "$w" = updates ] && done_query="SELECT sum(k) FROM bench"
    fi
    tgt native -c "CREATE SUBSCRIPTION nat CONNECTION '$upstream' PUBLICATION pub WITH (copy_data = false, enabled = false, synchronous_commit = $sync, streaming = $streaming)" 2>/dev/null
    wm -c "CREATE SUBSCRIPTION wmx CONNECTION '$upstream' PUBLICATION pub WITH (target = 'host=127.0.0.1 port=$tgt_port dbname=walmux user=postgres', copy_data = false, enabled = false, synchronous_commit = $sync, streaming = $streaming)" 2>/dev/null
    workload "$w"
    want=$(up -c "$done_query")
    if [ -n "$src_pid" ]; then
      # Both sides start once the source node has stored every change:
      # its slot on the upstream confirms the upstream's end.
      end=$(up -c "SELECT pg_current_wal_lsn()")
      for _ in $(seq 600); do
        [ "$(up -c "SELECT bool_and(confirmed_flush_lsn >= '$end') FROM pg_replication_slots")" = t ] && break
        sleep 0.1
      done
    fi
    tgt native -c "CHECKPOINT"
    run_walmux() {
      c0=$(cpu_of "$wm_pid")
      read -r m ws wt < <(time_until_applied walmux "$want")
      c1=$(cpu_of "$wm_pid")
    }
    if [ $((r % 2)) = 1 ]; then
      read -r n ns nt < <(time_until_applied native "$want"); run_walmux
    else
      run_walmux; read -r n ns nt < <(time_until_applied native "$want")
    fi
    digest="SELECT count(*) || ' ' || md5(string_agg(b::text, ',' ORDER BY id)) FROM bench b"
    [ "$(tgt native -c "$digest")" = "$(tgt walmux -c "$digest")" ] ||
      { echo "round $r: the two targets differ" >&2; exit 1; }
    tgt native -c "DROP SUBSCRIPTION nat"
    wm -c "DROP SUBSCRIPTION wmx"
    nat+=("$n") wmx+=("$m") cpu+=("$(echo "$c1 - $c0" | bc -l)")
    printf "%s round %d: %s: native %.2f s (CPU: $sender %.2f s, apply worker %.2f s), walmux %.2f s (CPU: $sender %.2f s, walmux %.2f s, target backend %.2f s)\n" \
      "$w" "$r" "$want" "$n" "$ns" "$nt" "$m" "$ws" "${cpu[-1]}" "$wt"
  done
  mn=$(median "${nat[@]}") mw=$(median "${wmx[@]}") mc=$(median "${cpu[@]}")
  target=1.5; [ "$w" = large ] || [ "$w" = large_streamed ] || [ "$w" = updates ] || [ "$w" = deletes ] && target=1.0
  changes=$want; [ "$w" = updates ] || [ "$w" = deletes ] && changes=100000
  printf '%s: native %8.0f changes/s, walmux %8.0f changes/s (walmux CPU %.2f s): %.2fx native (target >= %.1fx)\n' \
    "$w" "$(echo "$changes / $mn" | bc -l)" "$(echo "$changes / $mw" | bc -l)" "$mc" "$(echo "$mn / $mw" | bc -l)" "$target"
done
