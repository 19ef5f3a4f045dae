#!/usr/bin/env bash
# capture.sh: records real logical decoding output of PostgreSQL 15 into
# tests/data/ (golden data for the protocol/ codecs).
#
#   tests/data/capture.sh            re-captures everything (overwrites)
#
# One throw-away cluster runs a workload that covers every pgoutput message
# kind PostgreSQL 15 produces: B C O R Y I U(K/O/N) D(K/O) T(several
# relations, CASCADE, RESTART IDENTITY) M(transactional and not), streamed
# transactions S E c A (with a rolled-back subtransaction and a streamed
# abort), two-phase b P K r and stream prepare p; common data types, NULLs,
# unchanged TOAST values ('u'), REPLICA IDENTITY DEFAULT/FULL/USING INDEX,
# a replication origin, and a relation changed by ALTER TABLE.
#
# wal2json is the Debian package (2.5), which has no
# numeric-data-types-as-string option (added in 2.6).
#
# Output (hex keeps every byte exact):
#   pgoutput/<variant>.tsv   lsn \t xid \t hex(message) per decoded message
#   wal2json/<variant>.tsv   lsn \t xid \t hex(output) per wal2json output
#   catalog.tsv              relid \t attname \t format_type \t typoid \t
#                            typmod \t attnotnull \t is_pk \t typname \t
#                            attnum \t default expression (for wal2json)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
helper="$here/../support/pg_cluster.sh"

eval "$("$helper" start --owner $$ -c 'max_prepared_transactions = 10' \
  -c 'logical_decoding_work_mem = 64kB')"
trap '"$helper" stop "$WALMUX_PG_DIR"' EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

q <<'SQL'
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TABLE t_types (
  id int PRIMARY KEY, i2 smallint, i8 bigint, n numeric(10,2), r real,
  d double precision, b bool, t text, vc varchar(20), c char(3), by bytea,
  j jsonb, js json, u uuid, ts timestamp, tz timestamptz, dt date, tm time,
  iv interval, arr int[], tarr text[], m mood, p posint, big text);
ALTER TABLE t_types ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE t_full (id int, v text);
ALTER TABLE t_full REPLICA IDENTITY FULL;
CREATE TABLE t_idx (id int NOT NULL, code text NOT NULL, v text);
CREATE UNIQUE INDEX t_idx_code ON t_idx (code);
ALTER TABLE t_idx REPLICA IDENTITY USING INDEX t_idx_code;
CREATE TABLE t_a (id serial PRIMARY KEY, v text);
CREATE TABLE t_b (id int PRIMARY KEY REFERENCES t_a (id));
CREATE TABLE t_nokey (v text);
CREATE PUBLICATION pub FOR ALL TABLES;
SELECT 1 FROM pg_create_logical_replication_slot('plain', 'pgoutput');
SELECT 1 FROM pg_create_logical_replication_slot('twophase', 'pgoutput', false, true);
SELECT 1 FROM pg_create_logical_replication_slot('w2j', 'wal2json');
SELECT 1 FROM pg_replication_origin_create('upstream_a');
SQL

q <<'SQL'
INSERT INTO t_types VALUES (1, 2, 3, 12.34, 1.5, 2.25, true, 'text ''quoted'' "dq" \ back',
  'vc', 'abc', '\x0001ff', '{"a": 1, "b": [true, null]}', '{"b": [1,2]}',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2026-01-02 03:04:05.678',
  '2026-01-02 03:04:05+00', '2026-01-02', '03:04:05', '1 day 2 hours',
  '{1,2,3}', '{"a b",c}', 'happy', 5, repeat('toast', 2000));
INSERT INTO t_types (id) VALUES (2);
UPDATE t_types SET t = 'changed' WHERE id = 1;
UPDATE t_types SET id = 10 WHERE id = 2;
DELETE FROM t_types WHERE id = 10;
INSERT INTO t_full VALUES (1, 'x'), (2, 'y');
UPDATE t_full SET v = 'z' WHERE id = 1;
DELETE FROM t_full WHERE id = 2;
INSERT INTO t_idx VALUES (1, 'k1', 'v');
UPDATE t_idx SET code = 'k2' WHERE id = 1;
DELETE FROM t_idx WHERE code = 'k2';
INSERT INTO t_nokey VALUES ('only inserts'), (NULL);
INSERT INTO t_a (v) VALUES ('a');
INSERT INTO t_b VALUES (1);
TRUNCATE t_a, t_b RESTART IDENTITY CASCADE;
TRUNCATE t_full;
SELECT 1 FROM pg_logical_emit_message(true, 'walmux', 'transactional');
SELECT 1 FROM pg_logical_emit_message(false, 'walmux', 'non-transactional');
BEGIN;
INSERT INTO t_full VALUES (3, 'm');
SELECT 1 FROM pg_logical_emit_message(true, 'walmux', 'in txn');
COMMIT;
SELECT 1 FROM pg_replication_origin_session_setup('upstream_a');
BEGIN;
SELECT 1 FROM pg_replication_origin_xact_setup('0/ABCDEF', '2026-01-01 00:00:00+00');
INSERT INTO t_full VALUES (4, 'from origin');
COMMIT;
SELECT 1 FROM pg_replication_origin_session_reset();
BEGIN;
INSERT INTO t_full SELECT g, repeat('s', 200) FROM generate_series(100, 500) g;
SAVEPOINT s1;
INSERT INTO t_full SELECT g, 'rolled back' FROM generate_series(2000, 2200) g;
ROLLBACK TO s1;
INSERT INTO t_full VALUES (3000, 'after savepoint');
COMMIT;
BEGIN;
INSERT INTO t_full SELECT g, repeat('a', 200) FROM generate_series(4000, 4400) g;
ROLLBACK;
BEGIN;
INSERT INTO t_full VALUES (6000, '2pc');
PREPARE TRANSACTION 'gid_commit';
COMMIT PREPARED 'gid_commit';
BEGIN;
INSERT INTO t_full VALUES (6001, '2pc rolled back');
PREPARE TRANSACTION 'gid_rollback';
ROLLBACK PREPARED 'gid_rollback';
BEGIN;
INSERT INTO t_full SELECT g, repeat('p', 200) FROM generate_series(7000, 7400) g;
PREPARE TRANSACTION 'gid_stream';
COMMIT PREPARED 'gid_stream';
ALTER TABLE t_full ADD COLUMN extra int;
INSERT INTO t_full VALUES (9000, 'after alter', 1);
SQL

mkdir -p "$here/pgoutput" "$here/wal2json"
capture() { # file slot function options...
  local file=$1 slot=$2 fn=$3
  shift 3
  local opts
  opts=$(printf ", %s" "$@")
  local data="encode(data, 'hex')"
  [ "$fn" = pg_logical_slot_peek_changes ] && data="encode(convert_to(data, 'UTF8'), 'hex')"
  q -c "COPY (SELECT lsn, xid, $data FROM $fn('$slot', NULL, NULL$opts)) TO STDOUT" >"$file"
  echo "captured $(wc -l <"$file") messages into ${file#"$here"/}"
}
bin=pg_logical_slot_peek_binary_changes
capture "$here/pgoutput/v1.tsv" plain $bin "'proto_version'" "'1'" "'publication_names'" "'pub'" "'messages'" "'true'"
capture "$here/pgoutput/v2_streaming.tsv" plain $bin "'proto_version'" "'2'" "'publication_names'" "'pub'" "'messages'" "'true'" "'streaming'" "'on'"
capture "$here/pgoutput/v3_two_phase.tsv" twophase $bin "'proto_version'" "'3'" "'publication_names'" "'pub'" "'messages'" "'true'" "'streaming'" "'on'" "'two_phase'" "'on'"
capture "$here/pgoutput/v3_binary.tsv" plain $bin "'proto_version'" "'3'" "'publication_names'" "'pub'" "'binary'" "'true'"

txt=pg_logical_slot_peek_changes
capture "$here/wal2json/v1_default.tsv" w2j $txt "'format-version'" "'1'"
capture "$here/wal2json/v1_all.tsv" w2j $txt "'format-version'" "'1'" "'include-xids'" "'1'" "'include-timestamp'" "'1'" "'include-lsn'" "'1'" "'include-type-oids'" "'1'" "'include-not-null'" "'1'" "'include-pk'" "'1'" "'actions'" "'insert,update,delete,truncate'"
capture "$here/wal2json/v1_pretty.tsv" w2j $txt "'format-version'" "'1'" "'pretty-print'" "'1'" "'include-types'" "'0'" "'include-schemas'" "'0'"
capture "$here/wal2json/v1_chunks.tsv" w2j $txt "'format-version'" "'1'" "'write-in-chunks'" "'1'" "'include-typmod'" "'0'"
capture "$here/wal2json/v1_filtered.tsv" w2j $txt "'format-version'" "'1'" "'add-tables'" "'public.t_full,public.t_idx'" "'filter-msg-prefixes'" "'other'" "'actions'" "'insert,delete'"
capture "$here/wal2json/v1_columns.tsv" w2j $txt "'format-version'" "'1'" "'include-column-positions'" "'1'" "'include-default'" "'1'" "'include-pk'" "'1'" "'include-types'" "'1'" "'include-lsn'" "'1'" "'write-in-chunks'" "'1'"
capture "$here/wal2json/v2_default.tsv" w2j $txt "'format-version'" "'2'"
capture "$here/wal2json/v2_all.tsv" w2j $txt "'format-version'" "'2'" "'include-xids'" "'1'" "'include-timestamp'" "'1'" "'include-lsn'" "'1'" "'include-type-oids'" "'1'" "'include-not-null'" "'1'" "'include-pk'" "'1'"
capture "$here/wal2json/v2_columns.tsv" w2j $txt "'format-version'" "'2'" "'include-column-positions'" "'1'" "'include-default'" "'1'" "'include-pk'" "'1'" "'include-typmod'" "'0'" "'pretty-print'" "'1'"
capture "$here/wal2json/v2_minimal.tsv" w2j $txt "'format-version'" "'2'" "'include-transaction'" "'0'" "'include-types'" "'0'" "'include-schemas'" "'0'" "'filter-tables'" "'public.t_types'" "'add-msg-prefixes'" "'walmux'"

q -c "COPY (SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid, a.atttypmod,
  a.attnotnull, COALESCE(a.attnum = ANY (i.indkey), false), t.typname, a.attnum,
  COALESCE(pg_get_expr(d.adbin, d.adrelid), '')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
  ORDER BY a.attrelid, a.attnum) TO STDOUT" >"$here/catalog.tsv"
echo "captured $(wc -l <"$here/catalog.tsv") columns into catalog.tsv"
