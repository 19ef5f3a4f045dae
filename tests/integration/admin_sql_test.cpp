// admin_sql_test.cpp: walmux's SQL surface for psql, with real PostgreSQL 15
// clusters and the real psql binary: the reference document's statements
// against an expected output file, cache statistics that follow what slots
// read, dropping active and inactive slots (and the retention a dropped
// slot held), the Prometheus endpoint, and turning logical replication off.
#include "tests/integration/walmux_node.hpp"
#include "tests/support/pg_cluster.hpp"

#include <arpa/inet.h>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <libpq-fe.h>

namespace walmux::testing {
namespace {

using namespace std::chrono_literals;

const std::string pgbin = "/usr/lib/postgresql/15/bin/";

class admin_sql : public ::testing::Test {
 protected:
  // A query on walmux's SQL surface (a plain, non-replication connection).
  expected<rows> sql(const std::string& q) {
    return run_query(node_->conninfo(false), q);
  }
  std::string value(const std::string& q) {
    auto r = sql(q);
    if (!r || r->empty())
      return r ? "no rows" : "error: " + r.err().message;
    return (*r)[0][0];
  }

  temp_dir tmp_;
  std::unique_ptr<pg_cluster> upstream_;
  std::unique_ptr<pg_cluster> sub_;
  std::unique_ptr<walmux_node> node_;
};

TEST_F(admin_sql, psql_runs_the_reference_statements_verbatim) {
  node_ = std::make_unique<walmux_node>(
      tmp_.path(), std::vector<std::string>{"rds.logical_replication=on"});
  ASSERT_TRUE(node_->initialized());
  ASSERT_TRUE(node_->start(false)) << node_->log();
  const std::string dir = WALMUX_SOURCE_DIR "/tests/integration/sql";
  const std::string out = tmp_.path() + "/psql.out";
  auto psql =
      spawn({"/bin/bash", "-c",
             "cd " + dir + " && " + pgbin + "psql -X -a -h 127.0.0.1 -p " +
                 std::to_string(node_->port()) +
                 " -U postgres -d postgres -f "
                 "reference_statements.sql >" +
                 out + " 2>&1"},
            tmp_.path() + "/bash.log");
  EXPECT_EQ(wait_exit(psql.pid, 60s), 0) << read_file(out);
  EXPECT_EQ(read_file(out), read_file(dir + "/reference_statements.out"));
}

// psql's describe commands for what a walmux node holds (\dRs, \dRs+,
// \l, and with name patterns) run on the SQL surface, and the catalog functions
// and escape strings they need answer as PostgreSQL 15's do.
TEST_F(admin_sql, psql_describe_commands_and_catalog_functions) {
  node_ =
      std::make_unique<walmux_node>(tmp_.path(), std::vector<std::string>{});
  ASSERT_TRUE(node_->initialized());
  ASSERT_TRUE(node_->start(false)) << node_->log();
  ASSERT_TRUE(sql("CREATE SUBSCRIPTION s CONNECTION 'host=127.0.0.1 port=1 "
                  "dbname=postgres' PUBLICATION pub, other WITH (connect = "
                  "false, target = 'host=127.0.0.1 port=1 dbname=x')"));
  // No upstream: no publications to serve, and no connection tried.
  EXPECT_EQ(value("SELECT count(*) FROM pg_publication"), "0");
  EXPECT_EQ(value("SELECT count(*) FROM pg_publication_tables"), "0");
  const std::string out = tmp_.path() + "/describe.out";
  auto psql =
      spawn({pgbin + "psql", "-X",        "-A", "-t",
             "-h",           "127.0.0.1", "-p", std::to_string(node_->port()),
             "-U",           "postgres",  "-d", "postgres",
             "-c",           "\\dRs",     "-c", "\\dRs+",
             "-c",           "\\l",       "-c", "\\dRs s*",
             "-c",           "\\dRs t*",  "-c", "\\l post*"},
            out);
  ASSERT_EQ(wait_exit(psql.pid, 60s), 0) << read_file(out);
  EXPECT_EQ(read_file(out),
            "s|unknown (OID=10)|f|{pub,other}\n"
            "s|unknown (OID=10)|f|{pub,other}|f|f|d|f|off|host=127.0.0.1 "
            "port=1 dbname=postgres|0/0\n"
            "postgres|unknown (OID=10)|UTF8|C|C||libc|\n"
            "s|unknown (OID=10)|f|{pub,other}\n"
            "postgres|unknown (OID=10)|UTF8|C|C||libc|\n");

  auto up = pg_cluster::start();
  ASSERT_TRUE(up) << up.err().message;
  upstream_ = std::move(*up);
  // (No VALUES list with column names: the engine is SQLite.)
  std::string encodings = "SELECT n, pg_encoding_to_char(n) FROM (";
  for (int n = -1; n <= 43; ++n)
    encodings += (n > -1 ? " UNION ALL SELECT " : "SELECT ") +
                 std::to_string(n) + " AS n";
  encodings += ") AS v ORDER BY n";
  const std::string same_answers[] = {
      encodings,
      "SELECT array_to_string('{a,\"b c\",NULL,\"NULL\"}'::text[], '|'), "
      "array_to_string('{a,NULL}'::text[], ',', '*'), "
      "array_to_string('{{1,2},{3,4}}'::text[], '-'), "
      "array_to_string('{}'::text[], ','), "
      "array_to_string(NULL::text[], ',')",
      "SELECT E'a\\tb', e'it\\'s', E'\\x41\\101', 'c:\\temp'",
      "SELECT pg_catalog.pg_get_userbyid(4242)",
      "SELECT 'abc' ~ '^a', 'abc' ~ 'c$', 'abc' !~ 'b', 'a.c' ~ '^a[.]c$', "
      "'s1' OPERATOR(pg_catalog.~) '^(s.*)$' COLLATE pg_catalog.default, "
      "'ABC' ~* '^a', 'ABC' !~* 'b', 'ABC' ~ '^a', 1 = 1 AS same, "
      "'x' ~ 'y' AS \"No match\"",
  };
  for (const auto& q : same_answers) {
    auto expected = upstream_->query(q);
    ASSERT_TRUE(expected) << q << ": " << expected.err().message;
    auto got = sql(q);
    ASSERT_TRUE(got) << q << ": " << got.err().message;
    EXPECT_EQ(*got, *expected) << q;
  }
  // Errors as PostgreSQL words them, with its cursor (LINE 1: and the
  // caret under the token), also for a statement further into the query.
  for (const char* q :
       {"SELEC 1", "SELECT * FROM pg_replication_slots WHERE",
        "SELECT slot_name FROM pg_replication_slotz",
        "SELECT x.a FROM nosuch x", "SELECT 1; SELECT * FROM \"nosuch\"",
        "SELECT nosuchcolumn FROM pg_replication_slots",
        "  SELECT 'é', nosuchcolumn FROM pg_stat_activity",
        "SELECT 1 FROM pg_stat_activity; SELECT nosuchcolumn FROM "
        "pg_stat_activity",
        "SELECT nosuchfn()", "SELECT pg_drop_replication_slot()",
        "SELECT 1; SELECT (1", "SELECT 1; ALTER SUBSCRIPTION s RENAME x",
        "SHOW wal_level; SELEC 1"}) {
    auto theirs = upstream_->query(q);
    auto mine = sql(q);
    ASSERT_FALSE(theirs) << q;
    ASSERT_FALSE(mine) << q;
    EXPECT_EQ(mine.err().code, theirs.err().code) << q;
    EXPECT_EQ(mine.err().message, theirs.err().message) << q;
  }
  // As on PostgreSQL, a syntax error anywhere in a query string, and none
  // of it runs.
  ASSERT_FALSE(sql("CREATE SUBSCRIPTION z CONNECTION 'host=127.0.0.1 port=1 "
                   "dbname=postgres' PUBLICATION p WITH (connect = false, "
                   "target = 'host=127.0.0.1 port=1 dbname=x'); SELEC 1"));
  EXPECT_EQ(value("SELECT count(*) FROM pg_subscription WHERE subname = 'z'"),
            "0");
  // Several statements run as one implicit transaction block, where
  // CREATE SUBSCRIPTION with create_slot may not run (PostgreSQL's 25001).
  auto in_block = sql("SELECT 1; CREATE SUBSCRIPTION z CONNECTION "
                      "'host=127.0.0.1 port=1 dbname=postgres' PUBLICATION p "
                      "WITH (target = 'host=127.0.0.1 port=1 dbname=x')");
  ASSERT_FALSE(in_block);
  EXPECT_EQ(in_block.err().code, "25001");
  EXPECT_EQ(in_block.err().message,
            "ERROR:  CREATE SUBSCRIPTION ... WITH (create_slot = true) cannot "
            "run inside a transaction block\n");
  // A pattern that does not compile: PostgreSQL's SQLSTATE (the reason is
  // the POSIX library's words, not PostgreSQL's).
  auto bad_pattern = sql("SELECT 'x' ~ '('");
  ASSERT_FALSE(bad_pattern);
  EXPECT_NE(bad_pattern.err().message.find("invalid regular expression: "),
            std::string::npos)
      << bad_pattern.err().message;
  // PostgreSQL's error (and detail) for text that is no array.
  const char* no_array = "SELECT array_to_string('x'::text[], ',')";
  auto pg_error = upstream_->query(no_array);
  auto wm_error = sql(no_array);
  ASSERT_FALSE(pg_error);
  ASSERT_FALSE(wm_error);
  // Without PostgreSQL's cursor position (LINE 1: and its caret line).
  std::string pg_text = pg_error.err().message;
  const auto line = pg_text.find("LINE 1:");
  ASSERT_NE(line, std::string::npos) << pg_text;
  pg_text.erase(line, pg_text.find("DETAIL:") - line);
  EXPECT_EQ(wm_error.err().message, pg_text);
}

TEST_F(admin_sql, cache_statistics_drops_retention_and_metrics) {
  auto up = pg_cluster::start();
  ASSERT_TRUE(up) << up.err().message;
  upstream_ = std::move(*up);
  const char* table = "CREATE TABLE t (id int PRIMARY KEY, payload text);";
  ASSERT_TRUE(upstream_->query(std::string(table) +
                               "CREATE PUBLICATION pub FOR TABLE t;"));
  const int metrics_port = free_tcp_port();
  // 1MB segments (and so a 1MB cache): a few MB of writes leave the cache
  // and fill several segments.
  node_ = walmux_node::streaming_from(
      tmp_.path(), upstream_->conninfo(), "pub",
      {"wal_segment_size=1MB", "metrics_port=" + std::to_string(metrics_port)});
  for (const char* slot : {"lagging", "holder"})
    ASSERT_EQ(value(std::string("SELECT slot_name FROM "
                                "pg_create_logical_replication_slot('") +
                    slot + "', 'pgoutput')"),
              slot);
  auto s = pg_cluster::start();
  ASSERT_TRUE(s) << s.err().message;
  sub_ = std::move(*s);
  ASSERT_TRUE(sub_->query(table));
  ASSERT_TRUE(sub_->query("CREATE SUBSCRIPTION live CONNECTION 'host=127.0.0.1 "
                          "port=" +
                          std::to_string(node_->port()) +
                          " user=postgres dbname=postgres' PUBLICATION pub"));
  EXPECT_TRUE(wait_until(
      [&] {
        auto r = sub_->query("SELECT count(*) FROM pg_subscription_rel WHERE "
                             "srsubstate = 'r'");
        return r && (*r)[0][0] == "1";
      },
      60s));

  // A caught-up subscriber reads only from the cache.
  std::string small;
  for (int i = 1; i <= 200; ++i)
    small += "INSERT INTO t VALUES (" + std::to_string(i) + ", 'small');";
  ASSERT_TRUE(upstream_->query(small));
  EXPECT_TRUE(wait_until(
      [&] {
        auto r = sub_->query("SELECT count(*) FROM t");
        return r && (*r)[0][0] == "200";
      },
      60s));
  auto live = sql("SELECT active_pid IS NOT NULL, cache_hit > 0, cache_miss, "
                  "hit_rate FROM aurora_stat_logical_wal_cache() WHERE name = "
                  "'live'");
  ASSERT_TRUE(live) << live.err().message;
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0], (std::vector<std::string>{"t", "t", "0", "100.00%"}));

  // A slot that reads 6MB after they were written misses the cache.
  ASSERT_TRUE(upstream_->query(
      "INSERT INTO t SELECT g, repeat('x', 1000) FROM generate_series(1000, "
      "7000) g"));
  // Small transactions after it, so that every slot that has read them
  // holds nothing of the big one.
  small.clear();
  for (int i = 201; i <= 250; ++i)
    small += "INSERT INTO t VALUES (" + std::to_string(i) + ", 'after');";
  ASSERT_TRUE(upstream_->query(small));
  EXPECT_TRUE(wait_until(
      [&] {
        auto r = sub_->query("SELECT count(*) FROM t");
        return r && (*r)[0][0] == "6251";
      },
      60s));
  const std::string end = value("SELECT pg_current_wal_lsn()");
  auto reader = spawn({pgbin + "pg_recvlogical",
                       "-h",
                       "127.0.0.1",
                       "-p",
                       std::to_string(node_->port()),
                       "-U",
                       "postgres",
                       "-d",
                       "postgres",
                       "--slot",
                       "lagging",
                       "--start",
                       "--endpos",
                       end,
                       "-o",
                       "proto_version=1",
                       "-o",
                       "publication_names=pub",
                       "-f",
                       tmp_.path() + "/lagging.out"},
                      tmp_.path() + "/recvlogical.log");
  EXPECT_EQ(wait_exit(reader.pid, 60s), 0)
      << read_file(tmp_.path() + "/recvlogical.log");
  auto lagging = sql("SELECT cache_miss > 0, blks_read > 700, "
                     "hit_rate <> '100.00%' FROM "
                     "aurora_stat_logical_wal_cache() WHERE name = 'lagging'");
  ASSERT_TRUE(lagging) << lagging.err().message;
  EXPECT_EQ((*lagging)[0], (std::vector<std::string>{"t", "t", "t"}));

  // pg_stat_replication_slots counts what each slot decoded (three
  // transactions: a multi-statement query is one).
  auto counted = sql("SELECT slot_name, total_txns >= 3, total_bytes > "
                     "6000000, spill_txns FROM pg_stat_replication_slots "
                     "WHERE slot_name IN ('live', 'lagging') ORDER BY 1");
  ASSERT_TRUE(counted) << counted.err().message;
  ASSERT_EQ(counted->size(), 2u);
  EXPECT_EQ((*counted)[0],
            (std::vector<std::string>{"lagging", "t", "t", "0"}));
  EXPECT_EQ((*counted)[1], (std::vector<std::string>{"live", "t", "t", "0"}));
  EXPECT_EQ(value("SELECT pg_stat_reset_replication_slot('lagging')"), "");
  EXPECT_EQ(value("SELECT total_txns || ' ' || (stats_reset IS NOT NULL) "
                  "FROM pg_stat_replication_slots WHERE slot_name = "
                  "'lagging'"),
            "0 1");

  // The endpoint shows the same counters, and the slots' lag.
  const std::string scraped = scrape(metrics_port);
  EXPECT_GE(
      metric(scraped, "walmux_slot_decoded_transactions_total{slot=\"live\"}"),
      3)
      << scraped;
  EXPECT_EQ(
      metric(scraped, "walmux_slot_spilled_transactions_total{slot=\"live\"}"),
      0)
      << scraped;
  EXPECT_GT(metric(scraped, "walmux_wal_cache_misses_total{slot=\"lagging\"}"),
            0)
      << scraped;
  EXPECT_GE(metric(scraped, "walmux_slot_lag_bytes{slot=\"holder\"}"), 6000000);
  EXPECT_EQ(metric(scraped, "walmux_slot_active{slot=\"live\"}"), 1);
  EXPECT_GE(metric(scraped, "walmux_connections{kind=\"replication\"}"), 1);
  EXPECT_EQ(metric(scraped, "walmux_upstream_streaming"), 1);

  // Reset one slot, then all.
  EXPECT_EQ(value("SELECT aurora_stat_reset_wal_cache('lagging')"),
            "Reset the logical wal cache counter.");
  auto reset = sql("SELECT name, cache_hit, cache_miss, blks_read, "
                   "last_reset_timestamp IS NOT NULL FROM "
                   "aurora_stat_logical_wal_cache() ORDER BY name");
  ASSERT_TRUE(reset) << reset.err().message;
  ASSERT_EQ(reset->size(), 3u);
  EXPECT_EQ((*reset)[1],
            (std::vector<std::string>{"lagging", "0", "0", "0", "t"}));
  EXPECT_NE((*reset)[2][1], "0"); // live is untouched
  EXPECT_EQ(value("SELECT aurora_stat_reset_wal_cache(NULL)"),
            "Reset the logical wal cache counter.");
  EXPECT_EQ(value("SELECT sum(cache_hit + cache_miss + blks_read) FROM "
                  "aurora_stat_logical_wal_cache()"),
            "0");
  EXPECT_EQ(value("SELECT aurora_stat_reset_wal_cache('nope')"),
            "Replication slot not found. Please try again.");

  // An active slot cannot be dropped; an inactive one goes, with the WAL it
  // held back.
  auto active = sql("SELECT pg_drop_replication_slot('live')");
  ASSERT_FALSE(active);
  EXPECT_EQ(active.err().code, "55006");
  EXPECT_NE(
      active.err().message.find("replication slot \"live\" is active for PID"),
      std::string::npos)
      << active.err().message;
  const double segments_before =
      metric(scrape(metrics_port), "walmux_store_segments");
  EXPECT_GE(segments_before, 6);
  EXPECT_EQ(value("SELECT pg_drop_replication_slot('holder')"), "");
  EXPECT_EQ(value("SELECT count(*) FROM pg_replication_slots WHERE slot_name "
                  "= 'holder'"),
            "0");
  EXPECT_TRUE(wait_until(
      [&] {
        return metric(scrape(metrics_port), "walmux_store_segments") <= 3;
      },
      30s))
      << scrape(metrics_port);

  // pg_stat_replication shows the subscriber's walsender.
  auto senders = sql("SELECT application_name, state, sent_lsn IS NOT NULL, "
                     "client_addr, flush_lag IS NOT NULL FROM "
                     "pg_stat_replication WHERE application_name = 'live'");
  ASSERT_TRUE(senders) << senders.err().message;
  ASSERT_EQ(senders->size(), 1u);
  EXPECT_EQ((*senders)[0], (std::vector<std::string>{"live", "streaming", "t",
                                                     "127.0.0.1", "t"}));
}

TEST_F(admin_sql, logical_replication_off_needs_the_slots_dropped_first) {
  node_ = std::make_unique<walmux_node>(
      tmp_.path(), std::vector<std::string>{"rds.logical_replication=on"});
  ASSERT_TRUE(node_->initialized());
  ASSERT_TRUE(node_->start(false)) << node_->log();
  ASSERT_EQ(value("SELECT slot_name FROM pg_create_logical_replication_slot("
                  "'keep_me', 'pgoutput')"),
            "keep_me");
  ASSERT_TRUE(node_->stop());
  const std::string conf = node_->data_dir() + "/walmux.conf";
  std::ofstream(conf, std::ios::app) << "rds.logical_replication = off\n";
  auto refused = spawn({WALMUX_BINARY, "-D", node_->data_dir()},
                       tmp_.path() + "/refused.log");
  EXPECT_EQ(wait_exit(refused.pid, 30s), 1);
  const std::string why = read_file(tmp_.path() + "/refused.log");
  EXPECT_NE(why.find("FATAL:  logical replication slots exist, but "
                     "rds.logical_replication is off"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("Slots to drop: keep_me."), std::string::npos) << why;

  // On again, drop the slot, off again: walmux starts and serves no
  // replication, but its SQL surface.
  std::ofstream(conf, std::ios::app) << "rds.logical_replication = on\n";
  ASSERT_TRUE(node_->start(false)) << node_->log();
  EXPECT_EQ(value("SELECT pg_drop_replication_slot(slot_name) FROM "
                  "pg_replication_slots WHERE slot_name IN (SELECT slot_name "
                  "FROM pg_replication_slots)"),
            "");
  ASSERT_TRUE(node_->stop());
  std::ofstream(conf, std::ios::app) << "rds.logical_replication = off\n";
  ASSERT_TRUE(node_->start(false)) << node_->log();
  EXPECT_EQ(value("SHOW rds.logical_replication"), "off");
  EXPECT_EQ(value("SHOW wal_level"), "replica");
  EXPECT_EQ(value("SELECT count(*) FROM pg_replication_slots"), "0");
  auto repl = run_query(node_->conninfo(true), "IDENTIFY_SYSTEM");
  ASSERT_FALSE(repl);
  EXPECT_NE(repl.err().message.find("logical decoding requires wal_level >= "
                                    "logical"),
            std::string::npos)
      << repl.err().message;
}

// Drivers use the extended query protocol: PQexecParams (Parse, Bind,
// Describe portal, Execute, Sync), PQprepare/PQdescribePrepared (Describe
// statement), with text parameters.
TEST_F(admin_sql, extended_query_protocol_for_drivers) {
  node_ = std::make_unique<walmux_node>(
      tmp_.path(), std::vector<std::string>{"rds.logical_replication=on"});
  ASSERT_TRUE(node_->initialized());
  ASSERT_TRUE(node_->start(false)) << node_->log();
  ASSERT_EQ(value("SELECT slot_name FROM pg_create_logical_replication_slot("
                  "'driver_slot', 'pgoutput')"),
            "driver_slot");
  PGconn* conn = PQconnectdb(node_->conninfo(false).c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  const char* params[] = {"driver_slot"};
  PGresult* r = PQexecParams(
      conn,
      "SELECT slot_name, plugin, active FROM pg_replication_slots WHERE "
      "slot_name = $1",
      1, nullptr, params, nullptr, nullptr, 0);
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(conn);
  ASSERT_EQ(PQntuples(r), 1);
  EXPECT_STREQ(PQgetvalue(r, 0, 1), "pgoutput");
  EXPECT_STREQ(PQgetvalue(r, 0, 2), "f");
  EXPECT_EQ(PQftype(r, 0), 19u); // name
  EXPECT_EQ(PQftype(r, 2), 16u); // bool
  PQclear(r);

  r = PQprepare(conn, "by_name",
                "SELECT cache_hit, hit_rate FROM "
                "aurora_stat_logical_wal_cache() WHERE name = $1",
                1, nullptr);
  ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(conn);
  PQclear(r);
  r = PQdescribePrepared(conn, "by_name");
  ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(conn);
  EXPECT_EQ(PQnparams(r), 1);
  ASSERT_EQ(PQnfields(r), 2);
  EXPECT_STREQ(PQfname(r, 1), "hit_rate");
  EXPECT_EQ(PQftype(r, 0), 20u);
  PQclear(r);
  r = PQexecPrepared(conn, "by_name", 1, params, nullptr, nullptr, 0);
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(conn);
  EXPECT_STREQ(PQgetvalue(r, 0, 0), "0");
  PQclear(r);

  // SHOW through the extended protocol; errors end the batch, the session
  // goes on; binary results are refused clearly.
  r = PQexecParams(conn, "SHOW wal_level", 0, nullptr, nullptr, nullptr,
                   nullptr, 0);
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(conn);
  EXPECT_STREQ(PQgetvalue(r, 0, 0), "logical");
  PQclear(r);
  r = PQexecParams(conn, "SELECT * FROM no_such_table", 0, nullptr, nullptr,
                   nullptr, nullptr, 0);
  EXPECT_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);
  EXPECT_STREQ(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42P01");
  PQclear(r);
  r = PQexecParams(conn, "SELECT 1", 0, nullptr, nullptr, nullptr, nullptr, 1);
  EXPECT_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);
  EXPECT_STREQ(PQresultErrorField(r, PG_DIAG_SQLSTATE), "0A000");
  PQclear(r);
  // A syntax error fails the Parse itself, with its position.
  r = PQprepare(conn, "broken", "SELECT 1 FROM WHERE", 0, nullptr);
  EXPECT_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);
  EXPECT_STREQ(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42601");
  EXPECT_STREQ(PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION), "15");
  PQclear(r);
  r = PQdescribePrepared(conn, "broken");
  EXPECT_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);
  EXPECT_STREQ(PQresultErrorField(r, PG_DIAG_SQLSTATE), "26000");
  PQclear(r);
  r = PQexecParams(conn, "SELECT pg_drop_replication_slot($1)", 1, nullptr,
                   params, nullptr, nullptr, 0);
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(conn);
  PQclear(r);
  r = PQexec(conn, "SELECT count(*) FROM pg_replication_slots");
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(conn);
  EXPECT_STREQ(PQgetvalue(r, 0, 0), "0");
  PQclear(r);
  PQfinish(conn);
}

// SQL sessions are bounded as PostgreSQL's backends are.
// pg_settings: PostgreSQL's columns, settings in base units, where each
// value came from.
TEST_F(admin_sql, pg_settings_shows_the_parameters) {
  node_ = std::make_unique<walmux_node>(
      tmp_.path(), std::vector<std::string>{"rds.logical_replication=on",
                                            "wal_sender_timeout=90s"});
  ASSERT_TRUE(node_->initialized());
  ASSERT_TRUE(node_->start(false)) << node_->log();
  auto row = [&](const std::string& name) {
    auto r = sql("SELECT setting, coalesce(unit, '-'), context, vartype, "
                 "source, coalesce(min_val, '-'), coalesce(enumvals, '-'), "
                 "boot_val, pending_restart FROM pg_settings WHERE name = '" +
                 name + "'");
    std::string out;
    if (!r || r->size() != 1)
      return std::string("no row: ") + (r ? "" : r.err().message);
    for (const auto& v : (*r)[0])
      out += v + "|";
    return out;
  };
  // As PostgreSQL 15 shows them (logical_decoding_work_mem: 65536 kB).
  EXPECT_EQ(row("logical_decoding_work_mem"),
            "65536|kB|sighup|integer|default|64|-|65536|f|");
  EXPECT_EQ(row("wal_sender_timeout"),
            "90000|ms|sighup|integer|configuration file|0|-|60000|f|");
  EXPECT_EQ(row("rds.logical_replication"),
            "on|-|postmaster|bool|configuration file|-|-|off|f|");
  EXPECT_EQ(row("wal_level").substr(0, 8), "logical|");
  // What drivers and tools ask at connection time.
  EXPECT_EQ(value("SHOW server_version_num"), "150000"); // no upstream yet
  EXPECT_EQ(value("SHOW TimeZone"), "Etc/UTC");
  EXPECT_EQ(value("SHOW standard_conforming_strings"), "on");
  EXPECT_EQ(value("SHOW transaction_isolation"), "read committed");
  EXPECT_EQ(value("SET application_name = 'tool'; SHOW application_name"),
            "tool");
  EXPECT_EQ(value("SET application_name TO 'tool'; SELECT application_name "
                  "FROM pg_stat_activity WHERE pid = pg_backend_pid()"),
            "tool");
  EXPECT_EQ(value("SELECT now() >= pg_postmaster_start_time()"), "t");
  // The functions monitoring tools call first.
  EXPECT_EQ(value("SELECT current_setting('wal_sender_timeout')"), "90s");
  EXPECT_EQ(value("SELECT coalesce(current_setting('no.such', true), 'none')"),
            "none");
  EXPECT_NE(value("SELECT current_setting('no_such')")
                .find("unrecognized configuration parameter \"no_such\""),
            std::string::npos);
  EXPECT_EQ(value("SELECT pg_is_in_recovery()"), "f");
  EXPECT_EQ(value("SELECT current_user || '/' || session_user || '/' || "
                  "current_schema || '/' || current_catalog"),
            "postgres/postgres/public/postgres");
  EXPECT_EQ(value("SELECT current_database()"), "postgres");
  EXPECT_EQ(value("SELECT pg_current_wal_flush_lsn()"),
            value("SELECT pg_current_wal_lsn()"));
  EXPECT_EQ(value("SELECT pg_current_wal_insert_lsn()"),
            value("SELECT pg_current_wal_lsn()"));
  // Every parameter SHOW ALL lists, once.
  EXPECT_EQ(value("SELECT count(*) FROM pg_settings"),
            std::to_string(sql("SHOW ALL")->size()));
}

// pg_publication and pg_publication_tables: the publications the node
// streams, read from the upstream, row for row as the upstream shows them
// (one it does not stream is not there); psql's \dRp lists them.
TEST_F(admin_sql, publications_are_the_upstreams_the_node_streams) {
  auto up = pg_cluster::start();
  ASSERT_TRUE(up) << up.err().message;
  upstream_ = std::move(*up);
  ASSERT_TRUE(upstream_->query(
      "CREATE TABLE t (id int PRIMARY KEY, v text, w int);"
      "CREATE TABLE u (id int PRIMARY KEY);"
      "CREATE PUBLICATION pub FOR TABLE t (id, v) WHERE (id > 10), u;"
      "CREATE PUBLICATION \"Pub Two\" FOR TABLE u WITH (publish = "
      "'insert, update', publish_via_partition_root = true);"
      "CREATE PUBLICATION other FOR TABLE t;"));
  node_ = walmux_node::streaming_from(tmp_.path(), upstream_->conninfo(),
                                      "pub,\"Pub Two\"");
  const std::vector<std::string> same_answers = {
      "SELECT pubname, puballtables, pubinsert, pubupdate, pubdelete, "
      "pubtruncate, pubviaroot, oid > 0 FROM pg_publication%s ORDER BY 1",
      "SELECT pubname, schemaname, tablename, attnames, rowfilter FROM "
      "pg_publication_tables%s ORDER BY 1, 2, 3"};
  for (const auto& q : same_answers) {
    std::string theirs = q, mine = q;
    theirs.replace(theirs.find("%s"), 2,
                   " WHERE pubname IN ('pub', 'Pub Two')");
    mine.replace(mine.find("%s"), 2, "");
    auto expected = upstream_->query(theirs);
    ASSERT_TRUE(expected) << theirs << ": " << expected.err().message;
    auto got = sql(mine);
    ASSERT_TRUE(got) << mine << ": " << got.err().message;
    EXPECT_EQ(*got, *expected) << mine;
    EXPECT_FALSE(got->empty());
  }
  // psql's \dRp on both: the same lines, but for the publication the node
  // does not stream and the owner (walmux has no roles).
  auto describe = [&](int port, const std::string& file) {
    auto psql = spawn({pgbin + "psql", "-X", "-A", "-t", "-h", "127.0.0.1",
                       "-p", std::to_string(port), "-U", "postgres", "-d",
                       "postgres", "-c", "\\dRp", "-c", "\\dRp P*"},
                      file);
    EXPECT_EQ(wait_exit(psql.pid, 60s), 0) << read_file(file);
    return read_file(file);
  };
  std::string theirs;
  std::istringstream lines(describe(upstream_->port(), tmp_.path() + "/up"));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("other|", 0) == 0)
      continue;
    const auto owner = line.find("|postgres|");
    if (owner != std::string::npos)
      line.replace(owner, 10, "|unknown (OID=10)|");
    theirs += line + "\n";
  }
  EXPECT_EQ(describe(node_->port(), tmp_.path() + "/mine"), theirs);
  EXPECT_EQ(theirs, "Pub Two|unknown (OID=10)|f|t|t|f|f|t\n"
                    "pub|unknown (OID=10)|f|t|t|t|t|f\n"
                    "pub|unknown (OID=10)|f|t|t|t|t|f\n");
}

// pg_stat_wal_receiver: the node's stream from its upstream;
// pg_stat_activity: its sessions.
TEST_F(admin_sql, wal_receiver_and_activity_views) {
  auto up = pg_cluster::start();
  ASSERT_TRUE(up) << up.err().message;
  upstream_ = std::move(*up);
  ASSERT_TRUE(upstream_->query("CREATE TABLE t (id int PRIMARY KEY);"
                               "CREATE PUBLICATION pub FOR TABLE t;"));
  node_ =
      walmux_node::streaming_from(tmp_.path(), upstream_->conninfo(), "pub");
  ASSERT_TRUE(upstream_->query("INSERT INTO t SELECT generate_series(1, 10)"));
  const std::string written =
      one_value(*upstream_, "SELECT pg_current_wal_lsn()");
  EXPECT_TRUE(wait_until(
      [&] {
        return value("SELECT flushed_lsn >= '" + written +
                     "' FROM pg_stat_wal_receiver") == "t";
      },
      30s))
      << value("SELECT flushed_lsn FROM pg_stat_wal_receiver");
  auto r = sql("SELECT status, slot_name, sender_host, sender_port, "
               "written_lsn IS NOT NULL, "
               "latest_end_lsn >= flushed_lsn, last_msg_send_time IS NOT NULL, "
               // A new node starts at its upstream slot's own position
               // (START_REPLICATION ... 0/0): no start LSN to show.
               "last_msg_receipt_time IS NOT NULL, receive_start_lsn IS "
               "NULL, conninfo FROM pg_stat_wal_receiver");
  ASSERT_TRUE(r) << r.err().message;
  ASSERT_EQ(r->size(), 1u);
  const auto& row = (*r)[0];
  EXPECT_EQ(row[0], "streaming");
  EXPECT_EQ(row[1], one_value(*upstream_, "SELECT slot_name FROM "
                                          "pg_replication_slots"));
  EXPECT_EQ(row[2], "127.0.0.1");
  EXPECT_EQ(row[3], std::to_string(upstream_->port()));
  for (size_t i = 4; i <= 8; ++i)
    EXPECT_EQ(row[i], "t") << i;
  EXPECT_NE(row[9].find("port=" + std::to_string(upstream_->port())),
            std::string::npos)
      << row[9];

  // A streaming walsender, an SQL session idle in a transaction block, and
  // the session asking.
  ASSERT_EQ(value("SELECT slot_name FROM pg_create_logical_replication_slot("
                  "'watched', 'pgoutput')"),
            "watched");
  PGconn* streaming = PQconnectdb(node_->conninfo(true).c_str());
  ASSERT_EQ(PQstatus(streaming), CONNECTION_OK) << PQerrorMessage(streaming);
  const std::string start = "START_REPLICATION SLOT watched LOGICAL 0/0 "
                            "(proto_version '1', publication_names 'pub')";
  PGresult* res = PQexec(streaming, start.c_str());
  EXPECT_EQ(PQresultStatus(res), PGRES_COPY_BOTH);
  PQclear(res);
  PGconn* idle = PQconnectdb(node_->conninfo(false).c_str());
  ASSERT_EQ(PQstatus(idle), CONNECTION_OK) << PQerrorMessage(idle);
  PQclear(PQexec(idle, "BEGIN"));
  auto activity =
      sql("SELECT backend_type, state, query, pid = pg_backend_pid(), "
          "backend_start IS NOT NULL, client_addr FROM pg_stat_activity ORDER "
          "BY backend_type, state");
  ASSERT_TRUE(activity) << activity.err().message;
  std::string shown;
  for (const auto& r : *activity) {
    for (const auto& v : r)
      shown += v + "|";
    shown += "\n";
  }
  EXPECT_EQ(shown,
            "client backend|active|SELECT backend_type, state, query, pid = "
            "pg_backend_pid(), backend_start IS NOT NULL, client_addr FROM "
            "pg_stat_activity ORDER BY backend_type, state|t|t|127.0.0.1|\n"
            "client backend|idle in transaction|BEGIN|f|t|127.0.0.1|\n"
            "walsender|active|" +
                start + "|f|t|127.0.0.1|\n");
  PQfinish(idle);

  // pg_terminate_backend ends the walsender as PostgreSQL does, and frees
  // its slot; pg_reload_conf re-reads walmux.conf.
  EXPECT_EQ(value("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE backend_type = 'walsender'"),
            "t");
  char* buf = nullptr;
  int got = 0;
  while ((got = PQgetCopyData(streaming, &buf, 0)) > 0)
    PQfreemem(buf);
  EXPECT_EQ(got, -1);
  res = PQgetResult(streaming);
  EXPECT_NE(std::string(PQresultErrorMessage(res))
                .find("FATAL:  terminating connection due to administrator "
                      "command"),
            std::string::npos)
      << PQresultErrorMessage(res);
  PQclear(res);
  PQfinish(streaming);
  EXPECT_TRUE(wait_until(
      [&] {
        return value("SELECT active FROM pg_replication_slots WHERE "
                     "slot_name = 'watched'") == "f";
      },
      10s));
  EXPECT_EQ(value("SELECT pg_terminate_backend(999999)"), "f");
  EXPECT_TRUE(wait_until(
      [&] { return value("SELECT count(*) FROM pg_stat_activity") == "1"; },
      10s));
  // pg_size_pretty as PostgreSQL prints it (the slot-lag query every
  // monitoring page runs: pg_size_pretty(pg_wal_lsn_diff(...))).
  for (const char* v : {"0", "1023", "10239", "10240", "10752", "20971520",
                        "1000000000", "1099511627776", "1125899906842624",
                        "9000000000000000000", "-10240", "-1", "-20971520"}) {
    const std::string q =
        std::string("SELECT pg_size_pretty(") + v + "::bigint)";
    EXPECT_EQ(value(q), one_value(*upstream_, q)) << v;
  }
  EXPECT_NE(value("SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), "
                  "restart_lsn)) FROM pg_replication_slots WHERE slot_name = "
                  "'watched'")
                .find("bytes"),
            std::string::npos);
  EXPECT_EQ(value("SELECT pg_reload_conf()"), "t");
  EXPECT_TRUE(wait_until(
      [&] {
        return node_->log().find("received SIGHUP, reloading configuration "
                                 "files") != std::string::npos;
      },
      10s));
}

TEST_F(admin_sql, sql_sessions_are_bounded_by_max_connections) {
  node_ = std::make_unique<walmux_node>(
      tmp_.path(), std::vector<std::string>{"rds.logical_replication=on",
                                            "max_connections=2"});
  ASSERT_TRUE(node_->initialized());
  ASSERT_TRUE(node_->start(false)) << node_->log();
  PGconn* first = PQconnectdb(node_->conninfo(false).c_str());
  PGconn* second = PQconnectdb(node_->conninfo(false).c_str());
  ASSERT_EQ(PQstatus(first), CONNECTION_OK) << PQerrorMessage(first);
  ASSERT_EQ(PQstatus(second), CONNECTION_OK) << PQerrorMessage(second);
  PGconn* third = PQconnectdb(node_->conninfo(false).c_str());
  EXPECT_EQ(PQstatus(third), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(third))
                .find("sorry, too many clients already"),
            std::string::npos)
      << PQerrorMessage(third);
  PQfinish(third);
  PQfinish(second);
  EXPECT_TRUE(wait_until([&] { return value("SELECT 1") == "1"; }, 10s));
  PQfinish(first);
}

} // namespace
} // namespace walmux::testing
