-- The reference document's statements, verbatim, against a walmux node
-- without an upstream (every position is 0/0, so the output is stable).
-- admin_sql_test.cpp runs this file with psql and compares the output with
-- reference_statements.out.
SHOW rds.logical_replication;
SHOW wal_level;
SELECT * FROM pg_create_logical_replication_slot('test_slot', 'pgoutput');
SELECT * FROM pg_create_logical_replication_slot('test_slot2', 'wal2json');
SELECT * FROM pg_replication_slots;
SELECT * FROM aurora_stat_logical_wal_cache();
SELECT wal_cache_blks_hit
  FROM aurora_stat_logical_wal_cache()
 WHERE wal_cache_blks_hit > 0;
SELECT * FROM pg_stat_replication_slots;
SELECT * FROM pg_stat_replication;
SELECT * FROM pg_show_replication_origin_status();
SELECT * FROM pg_replication_origin_status;
SELECT aurora_stat_reset_wal_cache('no_such_slot');
SELECT pg_drop_replication_slot('test_slot');
SELECT slot_name FROM pg_replication_slots WHERE NOT active ORDER BY 1;
SELECT pg_drop_replication_slot(slot_name)
  FROM pg_replication_slots
 WHERE slot_name IN (SELECT slot_name FROM pg_replication_slots);
SELECT * FROM pg_replication_slots;
SELECT pg_drop_replication_slot('test_slot');
SELECT * FROM no_such_view;
SELECT no_such_function();
SELECT pg_wal_lsn_diff('1/0', '0/10'), pg_current_wal_lsn();
SHOW no_such_parameter;
SELECT 'the session is still usable' AS after_errors;
