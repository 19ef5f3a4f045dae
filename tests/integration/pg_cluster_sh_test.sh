#!/usr/bin/env bash
# pg_cluster_sh_test.sh: the shell helper used by scripts: start with an
# owner, query, stop; and cleanup by the guardian when the owner dies.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
helper="$here/../support/pg_cluster.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
alive() { "$helper" alive "$1"; }

# 1. Explicit start and stop.
eval "$("$helper" start --owner $$)"
[ "$(psql -XAtc 'SHOW wal_level')" = logical ] || fail "wal_level is not logical"
[ "$(psql -XAtc "SELECT count(*) FROM pg_create_logical_replication_slot('s', 'pgoutput')")" = 1 ] ||
  fail "could not create a logical slot"
dir=$WALMUX_PG_DIR
pid=$(head -n 1 "$dir/data/postmaster.pid")
"$helper" stop "$dir"
[ ! -e "$dir" ] || fail "$dir left behind after stop"
! alive "$pid" || fail "postmaster $pid still runs after stop"
"$helper" stop "$dir" # idempotent

# 2. The guardian cleans up when the owner process dies.
owner_out=$(mktemp)
bash -c 'eval "$("$1" start --owner $$)"; echo "$WALMUX_PG_DIR" >"$2"; exec sleep 300' \
  owner "$helper" "$owner_out" &
owner=$!
for _ in $(seq 1 300); do [ -s "$owner_out" ] && break; sleep 0.2; done
dir=$(cat "$owner_out")
rm -f "$owner_out"
[ -d "$dir" ] || fail "owner's cluster did not start"
pid=$(head -n 1 "$dir/data/postmaster.pid")
kill -KILL "$owner"
wait "$owner" 2>/dev/null || true
for _ in $(seq 1 300); do [ ! -e "$dir" ] && break; sleep 0.2; done
[ ! -e "$dir" ] || fail "guardian did not remove $dir"
! alive "$pid" || fail "guardian did not stop postmaster $pid"
echo "pg_cluster.sh: start/stop and owner-death cleanup OK"
