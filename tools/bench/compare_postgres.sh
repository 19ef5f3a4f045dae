#!/usr/bin/env bash
# compare_postgres.sh: walmux's protocol codecs against PostgreSQL itself, in
# the same run on the same machine (this machine is shared and noisy, so only
# same-run ratios mean anything).
#
# A throw-away PostgreSQL 15 cluster runs a workload (N single-row INSERT
# transactions plus two transactions of M rows each, in a table of int, text
# and numeric columns). PostgreSQL then decodes that WAL into pgoutput
# (pg_logical_slot_peek_binary_changes) and into wal2json format 2
# (pg_logical_slot_peek_changes); each is timed. The pgoutput messages
# PostgreSQL produced are saved, and build/tools/bench/protocol_bench runs on
# exactly those messages. Ratios = walmux rate / PostgreSQL rate.
#
#   tools/bench/compare_postgres.sh [N single-row txns] [M rows per big txn]
#
# Note what is compared: PostgreSQL's numbers include reading and decoding
# WAL records, which walmux never does (it receives pgoutput); walmux's are
# the per-message work it adds on its hot path. The question the ratio
# answers is whether walmux keeps up with what one walsender can produce.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
single=${1:-20000}
big=${2:-40000}
bench=${WALMUX_BUILD_DIR:-$root/build}/tools/bench/protocol_bench
[ -x "$bench" ] || { echo "build first: tools/build" >&2; exit 1; }

eval "$("$root/tests/support/pg_cluster.sh" start --owner $$)"
trap '"$root/tests/support/pg_cluster.sh" stop "$WALMUX_PG_DIR"' EXIT
work=$WALMUX_PG_DIR/bench
mkdir -p "$work"
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

q <<SQL >/dev/null
CREATE TABLE t (id int PRIMARY KEY, v text, n numeric(12,2));
CREATE PUBLICATION pub FOR TABLE t;
SELECT pg_create_logical_replication_slot('p', 'pgoutput');
SELECT pg_create_logical_replication_slot('w', 'wal2json');
SQL
pgbench_script=$work/single.sql
echo "INSERT INTO t VALUES (nextval('s'), 'row ' || currval('s'), currval('s') * 1.5);" >"$pgbench_script"
q -c "CREATE SEQUENCE s START 1000000"
"${WALMUX_PGBIN:-/usr/lib/postgresql/15/bin}/pgbench" -n -c 1 -t "$single" -f "$pgbench_script" >/dev/null
for k in 1 2; do
  q -c "INSERT INTO t SELECT g, md5(g::text), g * 0.25 FROM generate_series($((k * 10000000)), $((k * 10000000 + big - 1))) g"
done

now_ns() { date +%s%N; }
time_sql() { # prints "<seconds> <rows>"
  local t0 t1 rows
  t0=$(now_ns)
  rows=$(q -At -c "$1")
  t1=$(now_ns)
  echo "$(( (t1 - t0) / 1000 )) $rows"
}
# Warm the WAL into the page cache, then take the best of three.
best() {
  local best_us=0 rows=0
  for _ in 1 2 3; do
    read -r us rows < <(time_sql "$1")
    if [ "$best_us" = 0 ] || [ "$us" -lt "$best_us" ]; then best_us=$us; fi
  done
  echo "$best_us $rows"
}
read -r pg_us pg_msgs < <(best "SELECT count(*) FROM pg_logical_slot_peek_binary_changes('p', NULL, NULL, 'proto_version', '1', 'publication_names', 'pub')")
read -r w2j_us w2j_docs < <(best "SELECT count(*) FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format-version', '2', 'include-transaction', '0')")
q -c "COPY (SELECT lsn, xid, encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes('p', NULL, NULL, 'proto_version', '1', 'publication_names', 'pub')) TO STDOUT" >"$work/pgoutput.tsv"
changes=$(( single + 2 * big ))

WALMUX_BENCH_PGOUTPUT=$work/pgoutput.tsv "$bench" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true --benchmark_min_time=0.5 \
  --benchmark_format=csv 2>/dev/null >"$work/bench.csv"

rate() { # benchmark name -> median items_per_second
  awk -F, -v n="\"$1_median\"" '$1 == n { print $7 }' "$work/bench.csv"
}
pg_rate=$(awk -v m="$pg_msgs" -v us="$pg_us" 'BEGIN { printf "%.0f", m / (us / 1e6) }')
pg_w2j_rate=$(awk -v m="$changes" -v us="$w2j_us" 'BEGIN { printf "%.0f", m / (us / 1e6) }')
echo "workload: $single single-row INSERT transactions + 2 x $big rows; $pg_msgs pgoutput messages"
printf '%-44s %14s %10s\n' "measure" "per second" "vs PG"
printf '%-44s %14s %10s\n' "PostgreSQL: WAL -> pgoutput (messages)" "$pg_rate" "1.00x"
for b in pgoutput_decode pgoutput_scan pgoutput_passthrough pgoutput_encode; do
  r=$(rate "$b")
  printf '%-44s %14.0f %9.1fx\n' "walmux: $b (messages)" "$r" "$(awk -v a="$r" -v b="$pg_rate" 'BEGIN { print a / b }')"
done
printf '%-44s %14s %10s\n' "PostgreSQL: WAL -> wal2json v2 (changes)" "$pg_w2j_rate" "1.00x"
r=$(rate "wal2json_encode/v2")
printf '%-44s %14.0f %9.1fx\n' "walmux: wal2json_encode/v2 (changes)" "$r" "$(awk -v a="$r" -v b="$pg_w2j_rate" 'BEGIN { print a / b }')"
r=$(rate "wal2json_encode/v1")
printf '%-44s %14.0f %9.1fx\n' "walmux: wal2json_encode/v1 (changes)" "$r" "$(awk -v a="$r" -v b="$pg_w2j_rate" 'BEGIN { print a / b }')"
