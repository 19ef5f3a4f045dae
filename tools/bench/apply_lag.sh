#!/usr/bin/env bash
# apply_lag.sh: how long a change takes from its commit on the publisher to
# its commit on the target under a light, steady load, for walmux's apply
# role and a native PostgreSQL subscription side by side (same run, same
# upstream, one target cluster, one database each).
#
#   tools/bench/apply_lag.sh [transactions per second, default 50] [seconds, default 10]
#
# The upstream table stamps each row with clock_timestamp() when it is
# written; the target tables have one more column, applied, defaulting to
# clock_timestamp() when the apply writes the row (same machine, same
# clock). Printed: the median, 95th percentile and maximum of applied -
# created, in milliseconds, for each side.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
rate=${1:-50}
seconds=${2:-10}

bench_cluster
up_port=$PGPORT
bench_cluster
tgt_port=$PGPORT
up() { bench_sql "$up_port" postgres "$@"; }
tgt() { bench_sql "$tgt_port" "$@"; }
up -c "CREATE TABLE lag (id bigserial PRIMARY KEY, created timestamptz NOT NULL DEFAULT clock_timestamp())" \
  -c "CREATE PUBLICATION pub FOR TABLE lag"
for db in native walmux; do
  tgt postgres -c "CREATE DATABASE $db"
  tgt "$db" -c "CREATE TABLE lag (id bigint PRIMARY KEY, created timestamptz NOT NULL, applied timestamptz NOT NULL DEFAULT clock_timestamp())"
done

bench_apply_node
upstream="host=127.0.0.1 port=$up_port dbname=postgres user=postgres"
tgt native -c "CREATE SUBSCRIPTION nat CONNECTION '$upstream' PUBLICATION pub WITH (copy_data = false)" 2>/dev/null
wm -c "CREATE SUBSCRIPTION wmx CONNECTION '$upstream' PUBLICATION pub WITH (target = 'host=127.0.0.1 port=$tgt_port dbname=walmux user=postgres', copy_data = false)" 2>/dev/null
# Both workers streaming before the load starts.
up -c "INSERT INTO lag DEFAULT VALUES"
for db in native walmux; do
  until [ "$(tgt "$db" -c "SELECT count(*) FROM lag")" = 1 ]; do sleep 0.1; done
done

echo "INSERT INTO lag DEFAULT VALUES;" >"$work/insert.sql"
pgbench -n -h 127.0.0.1 -p "$up_port" -U postgres -c 1 -R "$rate" -T "$seconds" -f "$work/insert.sql" postgres >/dev/null 2>&1
want=$(up -c "SELECT count(*) FROM lag")
for db in native walmux; do
  until [ "$(tgt "$db" -c "SELECT count(*) FROM lag")" = "$want" ]; do sleep 0.1; done
  tgt "$db" -c "SELECT '$db: ' || count(*) || ' rows, lag ms median ' ||
      round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ', p95 ' ||
      round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ', max ' ||
      round(max(ms)::numeric, 1)
    FROM (SELECT extract(epoch FROM applied - created) * 1000 AS ms FROM lag WHERE id > 1) l"
done
