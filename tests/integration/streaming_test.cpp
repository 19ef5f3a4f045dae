// streaming_test.cpp: the streaming path end to end with real PostgreSQL 15
// clusters: an upstream with a publication over three tables, walmux, and
// real subscribers (CREATE SUBSCRIPTION ... CONNECTION to walmux) and
// pg_recvlogical reading through walmux.
//
// Each test compares what the subscribers hold with the upstream (count and
// md5 of every row's text per table), waiting with a deadline, never a
// fixed sleep.
#include "tests/integration/walmux_node.hpp"
#include "tests/support/pg_cluster.hpp"

#include <filesystem>
#include <fstream>
#include <regex>

#include <gtest/gtest.h>

namespace walmux::testing {
namespace {

using namespace std::chrono_literals;

const char* const schema = R"sql(
CREATE TABLE t_int (id int PRIMARY KEY, b bigint, n numeric(12,3), txt text,
  bin bytea, flag bool, ts timestamptz, j jsonb, arr int[], big text);
CREATE TABLE t_comp (a int, b text, v text, PRIMARY KEY (a, b));
CREATE TABLE t_full (x int, y text);
ALTER TABLE t_full REPLICA IDENTITY FULL;
CREATE TABLE t_rf (id int PRIMARY KEY, a int, secret text);
)sql";

// INSERT, UPDATE (one leaving a 1MB TOASTed value unchanged, one changing a
// key), DELETE and TRUNCATE over the three tables and many column types.
const char* const workload = R"sql(
INSERT INTO t_int SELECT g, g * 1000000000::bigint, g / 7.0, 'text ' || g,
  decode(md5(g::text), 'hex'), g % 2 = 0,
  '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 min',
  jsonb_build_object('k', g, 'a', jsonb_build_array(g, 'x')), ARRAY[g, g + 1],
  NULL FROM generate_series(1, 2000) g;
INSERT INTO t_int (id, big) SELECT 100000, string_agg(md5(g::text), '')
  FROM generate_series(1, 32768) g;
INSERT INTO t_int (id) VALUES (100001);
UPDATE t_int SET txt = 'updated, big unchanged' WHERE id = 100000;
UPDATE t_int SET n = n + 1, arr = arr || 7 WHERE id % 10 = 0;
DELETE FROM t_int WHERE id % 17 = 0;
INSERT INTO t_comp SELECT g, 'k' || g, 'v' FROM generate_series(1, 500) g;
UPDATE t_comp SET v = 'w' WHERE a < 100;
UPDATE t_comp SET b = b || 'x' WHERE a BETWEEN 100 AND 120;
DELETE FROM t_comp WHERE a > 450;
INSERT INTO t_full SELECT g, 'y' || g FROM generate_series(1, 300) g;
UPDATE t_full SET y = 'z' WHERE x < 50;
DELETE FROM t_full WHERE x > 250;
TRUNCATE t_comp;
INSERT INTO t_comp VALUES (1, 'a', 'after truncate');
)sql";

const char* const dump_sql =
    "SELECT 't_int', count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY "
    "t.id), '')) FROM t_int t UNION ALL "
    "SELECT 't_comp', count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY "
    "t.a, t.b), '')) FROM t_comp t UNION ALL "
    "SELECT 't_full', count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY "
    "t.x, t.y), '')) FROM t_full t";

std::string dump(const pg_cluster& c) {
  auto r = c.query(dump_sql);
  if (!r)
    return "error: " + r.err().message;
  std::string out;
  for (const auto& row : *r)
    out += row[0] + " " + row[1] + " " + row[2] + "\n";
  return out;
}

class streaming : public ::testing::Test {
 protected:
  // Starts the upstream, `subscribers` subscriber clusters and walmux,
  // which streams `publications` (`upstream_sql` creates those other than
  // pub_all).
  void start(int subscribers, std::vector<std::string> walmux_settings = {},
             const std::string& publications = "pub_all",
             const std::string& upstream_sql = "") {
    auto up = pg_cluster::start();
    ASSERT_TRUE(up) << up.err().message;
    upstream_ = std::move(*up);
    ASSERT_TRUE(upstream_->query(std::string(schema) +
                                 "CREATE PUBLICATION pub_all FOR TABLE t_int, "
                                 "t_comp, t_full;" +
                                 upstream_sql));
    for (int i = 0; i < subscribers; ++i) {
      // Reconnect quickly after walmux restarts.
      auto s = pg_cluster::start({"wal_retrieve_retry_interval = 200ms"});
      ASSERT_TRUE(s) << s.err().message;
      ASSERT_TRUE((*s)->query(schema));
      subs_.push_back(std::move(*s));
    }
    node_ = walmux_node::streaming_from(tmp_.path(), upstream_->conninfo(),
                                        publications, walmux_settings);
  }

  void subscribe(size_t i, const std::string& name,
                 const std::string& publications = "pub_all",
                 const std::string& copy_data = "false",
                 const std::string& more_options = "") {
    auto r = subs_[i]->query(
        "CREATE SUBSCRIPTION " + name +
        " CONNECTION 'host=127.0.0.1 port=" + std::to_string(node_->port()) +
        " user=postgres dbname=postgres' PUBLICATION " + publications +
        " WITH (copy_data = " + copy_data + more_options + ")");
    ASSERT_TRUE(r) << r.err().message;
  }

  // Waits until subscriber i's tables are all ready (copied and caught
  // up): changes made after are streamed, not copied.
  void wait_copied(size_t i) {
    EXPECT_TRUE(wait_until(
        [&] {
          auto r = subs_[i]->query("SELECT count(*) FROM pg_subscription_rel "
                                   "WHERE srsubstate <> 'r'");
          return r && (*r)[0][0] == "0";
        },
        120s))
        << node_->log();
  }

  // The first value `sql` gives upstream.
  std::string upstream_value(const std::string& sql) {
    auto r = upstream_->query(sql);
    return r ? (*r)[0][0] : "error: " + r.err().message;
  }

  // Waits until `sql` gives `want` on subscriber i; fails the test with
  // the last value otherwise.
  void expect_subscriber_value(size_t i, const std::string& sql,
                               const std::string& want,
                               std::chrono::seconds timeout = 120s) {
    std::string got;
    EXPECT_TRUE(wait_until(
        [&] {
          auto r = subs_[i]->query(sql);
          got = r ? (*r)[0][0] : "error: " + r.err().message;
          return got == want;
        },
        timeout))
        << got << "\nvs\n"
        << want << node_->log();
  }

  void run_upstream(const std::string& sql) {
    auto r = upstream_->query(sql);
    ASSERT_TRUE(r) << r.err().message;
  }

  bool converges(size_t i, std::chrono::seconds timeout = 120s) {
    std::string want;
    return wait_until(
        [&] {
          want = dump(*upstream_);
          return dump(*subs_[i]) == want;
        },
        timeout);
  }

  std::string upstream_lsn() {
    auto r = upstream_->query("SELECT pg_current_wal_lsn()");
    return r ? (*r)[0][0] : "0/0";
  }

  temp_dir tmp_;
  std::unique_ptr<pg_cluster> upstream_;
  std::vector<std::unique_ptr<pg_cluster>> subs_;
  std::unique_ptr<walmux_node> node_;
};

TEST_F(streaming,
       two_subscribers_end_identical_through_one_upstream_walsender) {
  start(2);
  subscribe(0, "sub_a");
  // binary = true is served with text columns (the store holds text), as
  // PostgreSQL serves types without a binary send function.
  subscribe(1, "sub_b", "pub_all", "false", ", binary = true");
  run_upstream(workload);
  EXPECT_TRUE(converges(0)) << dump(*subs_[0]) << "vs\n"
                            << dump(*upstream_) << node_->log();
  EXPECT_TRUE(converges(1)) << dump(*subs_[1]) << "vs\n" << dump(*upstream_);

  // The upstream serves exactly one walsender: walmux's.
  auto senders =
      upstream_->query("SELECT application_name FROM pg_stat_replication");
  ASSERT_TRUE(senders);
  ASSERT_EQ(senders->size(), 1u);
  EXPECT_EQ((*senders)[0][0], "walmux");
  // And both subscribers stream from walmux.
  for (size_t i = 0; i < 2; ++i) {
    auto st = subs_[i]->query(
        "SELECT count(*) FROM pg_stat_subscription WHERE pid IS NOT NULL");
    ASSERT_TRUE(st);
    EXPECT_EQ((*st)[0][0], "1");
  }
}

TEST_F(streaming,
       disabled_subscriber_costs_the_upstream_nothing_and_catches_up) {
  // A small cache: the catch-up must read from the segment files.
  start(2, {"rds.logical_wal_cache=64kB"});
  subscribe(0, "sub_a");
  subscribe(1, "sub_b");
  run_upstream("INSERT INTO t_full VALUES (0, 'warm up')");
  ASSERT_TRUE(converges(1));
  ASSERT_TRUE(subs_[1]->query("ALTER SUBSCRIPTION sub_b DISABLE"));
  ASSERT_TRUE(wait_until(
      [&] {
        return node_->log().find(
                   "stopped logical decoding for slot \"sub_b\"") !=
               std::string::npos;
      },
      60s));

  // 50MB of changes in 100 transactions while sub_b is away.
  for (int i = 0; i < 100; ++i)
    run_upstream("INSERT INTO t_full SELECT g, repeat(md5(g::text), 16) FROM "
                 "generate_series(" +
                 std::to_string(i * 1000 + 1) + ", " +
                 std::to_string(i * 1000 + 1000) + ") g");
  const std::string written_to = upstream_lsn();
  // The upstream slot confirms all of it: nothing retained for sub_b.
  EXPECT_TRUE(wait_until(
      [&] {
        auto r = upstream_->query(
            "SELECT confirmed_flush_lsn >= '" + written_to +
            "'::pg_lsn FROM pg_replication_slots WHERE slot_name LIKE "
            "'walmux_%'");
        return r && !r->empty() && (*r)[0][0] == "t";
      },
      120s))
      << node_->log();
  EXPECT_TRUE(converges(0));

  ASSERT_TRUE(subs_[1]->query("ALTER SUBSCRIPTION sub_b ENABLE"));
  EXPECT_TRUE(converges(1)) << node_->log();
  // Its counters are logged when its walsender ends.
  ASSERT_TRUE(subs_[1]->query("ALTER SUBSCRIPTION sub_b DISABLE"));
  std::regex counters(
      "stopped logical decoding for slot \"sub_b\": cache_hit ([0-9]+), "
      "cache_miss ([0-9]+), blks_read ([0-9]+)");
  std::smatch last;
  ASSERT_TRUE(wait_until(
      [&] {
        auto text = node_->log();
        int seen = 0;
        for (std::sregex_iterator it(text.begin(), text.end(), counters), end;
             it != end; ++it)
          if (++seen == 2)
            return true;
        return false;
      },
      60s))
      << node_->log();
  auto text = node_->log();
  std::sregex_iterator it(text.begin(), text.end(), counters), end;
  std::smatch m;
  for (; it != end; ++it)
    m = *it;
  const long misses = std::stol(m[2]);
  const long reads = std::stol(m[3]);
  EXPECT_GT(misses, 0) << m[0];
  EXPECT_GE(reads, 6000) << m[0]; // about 50MB / 8kB blocks
}

TEST_F(streaming, sigkill_during_a_100000_row_load_loses_nothing) {
  start(2);
  subscribe(0, "sub_a");
  subscribe(1, "sub_b");
  // 100 transactions of 1,000 rows, from a psql of its own.
  std::string script = tmp_.path() + "/load.sql";
  {
    std::ofstream f(script);
    for (int i = 0; i < 100; ++i)
      f << "INSERT INTO t_comp SELECT g, 'k' || g, 'load' FROM generate_series("
        << i * 1000 + 1 << ", " << i * 1000 + 1000 << ") g;\n";
  }
  auto load = spawn({"/usr/bin/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
                     "127.0.0.1", "-p", std::to_string(upstream_->port()), "-U",
                     "postgres", "-d", "postgres", "-f", script},
                    tmp_.path() + "/load.log");
  ASSERT_GT(load.pid, 0);
  // Kill walmux once the subscribers have part of the load.
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = subs_[0]->query("SELECT count(*) FROM t_comp");
        return r && std::stol((*r)[0][0]) >= 10000;
      },
      120s))
      << node_->log();
  // The kill must land in the middle of the load.
  EXPECT_TRUE(process_alive(load.pid));
  node_->kill();
  ASSERT_TRUE(node_->start()) << node_->log();
  EXPECT_EQ(wait_exit(load.pid, 300s), 0)
      << read_file(tmp_.path() + "/load.log");
  EXPECT_TRUE(converges(0)) << dump(*subs_[0]) << "vs\n" << dump(*upstream_);
  EXPECT_TRUE(converges(1)) << dump(*subs_[1]) << "vs\n" << dump(*upstream_);
  auto count = subs_[1]->query("SELECT count(*) FROM t_comp");
  ASSERT_TRUE(count);
  EXPECT_EQ((*count)[0][0], "100000");
}

// t_rf's rows for the row filter tests: 1-20 and 1001-1005, then more on
// both sides of the filters, with some values changed.
const char* const t_rf_rows =
    "INSERT INTO t_rf SELECT g, g, 'secret' FROM generate_series(1, 20) g;"
    "INSERT INTO t_rf SELECT g, g, 'secret' FROM "
    "generate_series(1001, 1005) g;";
const char* const t_rf_more_rows =
    "INSERT INTO t_rf SELECT g, g, 'secret' FROM generate_series(21, 40) g;"
    "INSERT INTO t_rf SELECT g, g, 'secret' FROM "
    "generate_series(1006, 1010) g;"
    "UPDATE t_rf SET a = a + 100, secret = 'changed' WHERE id IN (2, 3, "
    "1002);";

// Publications with row filters and column lists, served from the stored
// stream: the node streams them, so the upstream filtered what it stores
// (ORing the WHERE clauses of all of them); a subscriber of the same
// publications gets exactly that, initial copy included (proxied to the
// upstream); column lists altered while streaming take effect.
TEST_F(streaming, row_filters_and_column_lists_of_the_streamed_publications) {
  start(1, {}, "pub_all,pub_even,pub_big",
        std::string(t_rf_rows) +
            "CREATE PUBLICATION pub_even FOR TABLE t_rf (id, a) "
            "WHERE (id % 2 = 0);"
            "CREATE PUBLICATION pub_big FOR TABLE t_rf (id, a) WHERE (id > "
            "1000);");
  subscribe(0, "sub_rf", "pub_even, pub_big", "true");
  wait_copied(0); // what follows is streamed
  run_upstream(
      std::string(t_rf_more_rows) +
      "UPDATE t_rf SET id = 5001 WHERE id = 6;"  // matches before and after
      "UPDATE t_rf SET id = 999 WHERE id = 8;"   // no longer: a delete
      "UPDATE t_rf SET id = 901 WHERE id = 11;"  // neither: nothing
      "UPDATE t_rf SET id = 10000 WHERE id = 1;" // only after: an insert
      "DELETE FROM t_rf WHERE id IN (14, 15, 1003);");
  expect_subscriber_value(
      0,
      "SELECT string_agg(id || ':' || a || ':' || coalesce(secret, 'null'), "
      "',' ORDER BY id) FROM t_rf",
      upstream_value("SELECT string_agg(id || ':' || a || ':null', ',' ORDER "
                     "BY id) FROM t_rf WHERE id % 2 = 0 OR id > 1000"));

  // The column lists dropped while streaming (both publications, or the
  // node's own stream would be refused): the upstream sends t_rf's
  // definition again, and the decoder reads the lists again with it.
  run_upstream("BEGIN; ALTER PUBLICATION pub_even SET TABLE t_rf "
               "WHERE (id % 2 = 0); ALTER PUBLICATION pub_big SET TABLE t_rf "
               "WHERE (id > 1000); COMMIT;");
  run_upstream("INSERT INTO t_rf VALUES (50, 50, 'shown');"
               "UPDATE t_rf SET secret = 'shown too' WHERE id = 1004;");
  expect_subscriber_value(0,
                          "SELECT string_agg(id || ':' || secret, ',' ORDER "
                          "BY id) FROM t_rf WHERE secret IS NOT NULL",
                          "50:shown,1004:shown too", 60s);
}

// A subscriber whose publication filters a table more narrowly than those
// the node streams: the node checks each stored change against its filter
// (asking the upstream, as the filter is PostgreSQL's expression), and
// turns updates that enter or leave it into inserts and deletes, as
// PostgreSQL's pgoutput does. Publications whose filters differ between
// actions cannot be served so (a stored delete may have been an update):
// refused.
TEST_F(streaming, a_narrower_row_filter_is_applied_by_the_node) {
  start(1, {}, "pub_all,pub_even,pub_big,pub_ins",
        std::string(t_rf_rows) +
            "CREATE PUBLICATION pub_even FOR TABLE t_rf WHERE (id % 2 = 0);"
            "CREATE PUBLICATION pub_big FOR TABLE t_rf WHERE (id > 1000);"
            "CREATE PUBLICATION pub_ins FOR TABLE t_rf WHERE (id > 5) "
            "WITH (publish = 'insert');");
  subscribe(0, "sub_even", "pub_even", "true");
  wait_copied(0); // what follows is streamed
  run_upstream(std::string(t_rf_more_rows) +
               // Stored by the node (pub_big), every other row for the
               // subscriber: its rows are checked 1000 to a query.
               "INSERT INTO t_rf SELECT g, g, 'many' FROM "
               "generate_series(2001, 4500) g;"
               "UPDATE t_rf SET id = 5002 WHERE id = 6;" // stays even
               // Leaves the node's filters too: the upstream sends a delete.
               "UPDATE t_rf SET id = 999 WHERE id = 8;"
               // Stays in the node's filters (pub_big), leaves the
               // subscriber's: the node sends a delete.
               "UPDATE t_rf SET id = 1011 WHERE id = 10;"
               // And the reverse: the node sends an insert.
               "UPDATE t_rf SET id = 1012 WHERE id = 1007;"
               "DELETE FROM t_rf WHERE id IN (14, 15, 1003, 1004);");
  // Single-row transactions, stored by the node (pub_big): their rows are
  // checked together, a run of transactions at a time.
  run_upstream("DO $$ BEGIN FOR i IN 6001..6040 LOOP INSERT INTO t_rf "
               "VALUES (i, i, 'single'); COMMIT; END LOOP; END $$");
  const std::string rows =
      "SELECT string_agg(id || ':' || a || ':' || secret, ',' ORDER BY id) "
      "FROM t_rf";
  expect_subscriber_value(0, rows, upstream_value(rows + " WHERE id % 2 = 0"));

  // pub_even and pub_ins: inserts would pass (id % 2 = 0) OR (id > 5),
  // updates and deletes (id % 2 = 0): refused with PostgreSQL's SQLSTATE
  // for an unsupported feature.
  ASSERT_TRUE(run_query(node_->conninfo(),
                        "CREATE_REPLICATION_SLOT mixed LOGICAL pgoutput"));
  auto refused =
      run_query(node_->conninfo(), "START_REPLICATION SLOT mixed LOGICAL 0/0 "
                                   "(proto_version '1', publication_names "
                                   "'pub_even,pub_ins')");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.err().code, "0A000");
  EXPECT_NE(refused.err().message.find(
                "the row filters of table \"public.t_rf\" differ between "
                "the actions its publications publish"),
            std::string::npos)
      << refused.err().message;
}

// Transactions larger than logical_decoding_work_mem (64kB here) are read
// and sent in pieces: each subscriber still gets each of them whole and
// once, and one whose first published change comes late in a transaction
// gets Begin and the table's Relation right before it.
TEST_F(streaming, large_transactions_are_sent_in_pieces) {
  start(2, {"logical_decoding_work_mem=64kB"}, "pub_all,pub_full",
        "CREATE PUBLICATION pub_full FOR TABLE t_full;");
  subscribe(0, "sub_all");
  subscribe(1, "sub_full", "pub_full");
  // The workload is one transaction of ~1.5MB, its t_full changes last.
  run_upstream(workload);
  run_upstream("INSERT INTO t_comp SELECT g, repeat('k', 200), 'v' FROM "
               "generate_series(1, 20000) g;"
               "INSERT INTO t_full VALUES (-1, 'last of a large one')");
  EXPECT_TRUE(converges(0)) << dump(*subs_[0]) << node_->log();
  const std::string full =
      "SELECT count(*) || ' ' || md5(string_agg(t::text, '|' ORDER BY t.x, "
      "t.y)) FROM t_full t";
  expect_subscriber_value(1, full, upstream_value(full));
  auto others = subs_[1]->query(
      "SELECT (SELECT count(*) FROM t_int) + (SELECT count(*) FROM t_comp)");
  ASSERT_TRUE(others);
  EXPECT_EQ((*others)[0][0], "0");
  // pg_stat_replication_slots counts them in its spill columns.
  auto spilled = run_query(
      node_->conninfo(false),
      "SELECT spill_txns >= 2, spill_count > spill_txns, spill_bytes > "
      "5000000 FROM pg_stat_replication_slots WHERE slot_name = 'sub_all'");
  ASSERT_TRUE(spilled) << spilled.err().message;
  ASSERT_EQ(spilled->size(), 1u);
  EXPECT_EQ((*spilled)[0], (std::vector<std::string>{"t", "t", "t"}));
}

// The source stores a large transaction in parts as it arrives; when the
// upstream connection breaks in the middle of one, the stored part is
// voided and the transaction, sent again from its start, is stored once.
TEST_F(streaming, a_large_transaction_cut_off_upstream_is_stored_once) {
  start(1);
  subscribe(0, "sub_a");
  run_upstream("INSERT INTO t_comp VALUES (0, 'before', 'x')");
  ASSERT_TRUE(converges(0));
  auto wal_bytes = [&] {
    uint64_t total = 0;
    for (const auto& e :
         std::filesystem::directory_iterator(node_->data_dir() + "/wal"))
      if (e.is_regular_file())
        total += e.file_size();
    return total;
  };
  const uint64_t before = wal_bytes();
  // ~40MB in one transaction; once the node has stored 4MB of it, the
  // upstream walsender is ended (the commit has not arrived yet).
  run_upstream("INSERT INTO t_comp SELECT g, repeat('k', 200), 'v' FROM "
               "generate_series(1, 150000) g");
  ASSERT_TRUE(
      wait_until([&] { return wal_bytes() > before + (4 << 20); }, 60s));
  run_upstream("SELECT pg_terminate_backend(pid) FROM pg_stat_replication");
  EXPECT_TRUE(converges(0)) << node_->log();
  auto count = subs_[0]->query("SELECT count(*) FROM t_comp");
  ASSERT_TRUE(count);
  EXPECT_EQ((*count)[0][0], "150001");
  EXPECT_NE(node_->log().find("stored before the upstream connection was "
                              "lost: the upstream sends it again"),
            std::string::npos)
      << node_->log();

  // The same with walmux killed: recovery cuts what was stored of it.
  const uint64_t stored = wal_bytes();
  run_upstream("INSERT INTO t_comp SELECT g, repeat('m', 200), 'v' FROM "
               "generate_series(150001, 300000) g");
  ASSERT_TRUE(
      wait_until([&] { return wal_bytes() > stored + (4 << 20); }, 60s));
  node_->kill();
  ASSERT_TRUE(node_->start()) << node_->log();
  EXPECT_TRUE(converges(0)) << node_->log();
  count = subs_[0]->query("SELECT count(*) FROM t_comp");
  ASSERT_TRUE(count);
  EXPECT_EQ((*count)[0][0], "300001");
  // The cut is the part (or a torn last record of it, when the kill came
  // during a write).
  EXPECT_NE(node_->log().find("WAL store recovery cut"), std::string::npos)
      << node_->log();
}

TEST_F(streaming, clean_restart_resumes_every_subscriber) {
  start(1);
  subscribe(0, "sub_a");
  run_upstream("INSERT INTO t_comp VALUES (1, 'before', 'x')");
  ASSERT_TRUE(converges(0));
  ASSERT_TRUE(node_->stop()) << node_->log();
  run_upstream("INSERT INTO t_comp VALUES (2, 'while down', 'x')");
  ASSERT_TRUE(node_->start()) << node_->log();
  run_upstream("INSERT INTO t_comp VALUES (3, 'after', 'x')");
  EXPECT_TRUE(converges(0)) << dump(*subs_[0]) << node_->log();
}

TEST_F(streaming, lost_upstream_connection_is_resumed_without_duplicates) {
  start(1);
  subscribe(0, "sub_a");
  run_upstream("INSERT INTO t_comp SELECT g, 'k', 'first' FROM "
               "generate_series(1, 1000) g");
  ASSERT_TRUE(converges(0));
  // The upstream ends walmux's walsender; walmux reconnects with backoff.
  run_upstream("SELECT pg_terminate_backend(pid) FROM pg_stat_replication");
  run_upstream("INSERT INTO t_comp SELECT g, 'k', 'second' FROM "
               "generate_series(1001, 2000) g");
  EXPECT_TRUE(converges(0)) << node_->log();
  EXPECT_NE(node_->log().find("retrying the upstream connection"),
            std::string::npos)
      << node_->log();
  // Exactly once: a duplicate would have stopped the subscriber with a
  // unique violation, a loss would show in the dump.
  auto count = subs_[0]->query("SELECT count(*) FROM t_comp");
  ASSERT_TRUE(count);
  EXPECT_EQ((*count)[0][0], "2000");
}

TEST_F(streaming, retention_removes_segments_and_invalidates_lagging_slots) {
  start(2, {"wal_segment_size=1MB", "max_slot_wal_keep_size=3"});
  subscribe(0, "sub_a");
  // t_comp's Relation goes into the store now, in a segment soon removed.
  run_upstream("INSERT INTO t_comp VALUES (1, 'early', 'x')");
  ASSERT_TRUE(converges(0));
  // A slot whose client never confirms anything.
  ASSERT_TRUE(run_query(node_->conninfo(),
                        "CREATE_REPLICATION_SLOT lagging LOGICAL pgoutput "
                        "(SNAPSHOT 'nothing')"));
  for (int i = 0; i < 12; ++i)
    run_upstream("INSERT INTO t_full SELECT g, repeat(md5(g::text), 16) FROM "
                 "generate_series(" +
                 std::to_string(i * 1000 + 1) + ", " +
                 std::to_string(i * 1000 + 1000) + ") g");
  ASSERT_TRUE(converges(0));
  ASSERT_TRUE(wait_until(
      [&] {
        auto log = node_->log();
        return log.find("invalidating obsolete replication slot "
                        "\"lagging\"") != std::string::npos &&
               log.find("WAL segment(s) no slot needs any more") !=
                   std::string::npos;
      },
      60s))
      << node_->log();
  auto lost = run_query(node_->conninfo(),
                        "START_REPLICATION SLOT lagging LOGICAL 0/0 "
                        "(proto_version '1', publication_names 'pub_all')");
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.err().code, "55000");
  EXPECT_NE(
      lost.err().message.find("can no longer get changes from replication slot "
                              "\"lagging\""),
      std::string::npos)
      << lost.err().message;
  // The segment holding t_comp's Relation is gone: a new subscriber still
  // gets it, from the relation snapshot.
  auto wal = read_file(node_->data_dir() + "/wal/0000000000000000");
  EXPECT_TRUE(wal.empty()) << "segment 0 should have been removed";
  subscribe(1, "sub_b");
  run_upstream("INSERT INTO t_comp VALUES (2, 'late', 'y')");
  EXPECT_TRUE(wait_until(
      [&] {
        auto r = subs_[1]->query("SELECT count(*) FROM t_comp");
        return r && (*r)[0][0] == "1";
      },
      60s))
      << node_->log();
  EXPECT_TRUE(converges(0));
}

} // namespace
} // namespace walmux::testing
