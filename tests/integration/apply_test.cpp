// apply_test.cpp: walmux as a subscriber (the apply role) with real
// PostgreSQL 15 clusters: the initial copy of three tables under
// concurrent writes and then streaming, from a PostgreSQL publisher and
// from a walmux node; SIGKILLs of walmux during a continuous write load
// (a table without a key and with REPLICA IDENTITY FULL shows any
// duplicated apply); the conflict paths (a duplicate key retried, then
// SKIP; disable_on_error); large transactions streamed before they commit
// (streaming = on); values in binary form (binary = true); prepared
// transactions (two_phase = true); REPLICA IDENTITY FULL with NULLs through
// a target index, and keyed runs of updates and deletes; ALTER SUBSCRIPTION
// ... RENAME TO.
//
// Tables are compared in full (row count and an md5 over every row), with
// deadlines, never fixed sleeps.
#include "tests/integration/walmux_node.hpp"
#include "tests/support/pg_cluster.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

namespace walmux::testing {
namespace {

using namespace std::chrono_literals;

// Three tables: a keyed one, one with a wide text column, and one without
// a key (REPLICA IDENTITY FULL).
constexpr const char* tables_sql = R"sql(
CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE notes (id bigserial PRIMARY KEY, account bigint, body text);
CREATE TABLE events (account bigint, kind text, amount int);
ALTER TABLE events REPLICA IDENTITY FULL;
)sql";

// Rows of the three tables: 100,000 in all.
constexpr const char* rows_sql = R"sql(
INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, 40000) g;
INSERT INTO notes (account, body)
  SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 30000) g;
INSERT INTO events SELECT g % 5000, 'open', g % 100 FROM generate_series(1, 30000) g;
)sql";

// A pgbench script touching all three tables, key and no key.
constexpr const char* load_script =
    "\\set id random(1, 40000)\n"
    "BEGIN;\n"
    "UPDATE accounts SET balance = balance + 1 WHERE id = :id;\n"
    "INSERT INTO notes (account, body) VALUES (:id, 'load ' || :id);\n"
    "INSERT INTO events VALUES (:id, 'load', 1);\n"
    "DELETE FROM notes WHERE id = (SELECT min(id) FROM notes WHERE account = "
    ":id);\n"
    "UPDATE events SET amount = amount + 1 WHERE ctid = (SELECT ctid FROM "
    "events WHERE account = :id % 5000 LIMIT 1);\n"
    "COMMIT;\n";

class apply_role : public ::testing::Test {
 protected:
  void SetUp() override {
    auto up = pg_cluster::start();
    ASSERT_TRUE(up) << up.err().message;
    upstream_ = std::move(*up);
    auto tgt = pg_cluster::start();
    ASSERT_TRUE(tgt) << tgt.err().message;
    target_ = std::move(*tgt);
    ASSERT_TRUE(target_->query(tables_sql));
  }
  void TearDown() override { stop_load(); }

  // A walmux node that only applies (no upstream of its own).
  void start_apply_node() {
    metrics_port_ = free_tcp_port();
    node_ = std::make_unique<walmux_node>(
        tmp_.path() + "/apply",
        std::vector<std::string>{"metrics_port=" +
                                 std::to_string(metrics_port_)});
    ASSERT_TRUE(node_->initialized());
    ASSERT_TRUE(node_->start(false)) << node_->log();
  }
  // Runs SQL on the apply node's SQL surface.
  expected<rows> walmux_sql(const std::string& sql) {
    return run_query(node_->conninfo(false), sql);
  }
  std::string walmux_value(const std::string& sql) {
    auto r = walmux_sql(sql);
    if (!r)
      return "error: " + r.err().message;
    return r->empty() || (*r)[0].empty() ? "" : (*r)[0][0];
  }
  void expect_filtered_items(const std::string& source);
  // Every table of the subscription is ready.
  bool ready(const std::string& sub, int tables) {
    return walmux_value("SELECT count(*) FROM pg_subscription_rel r JOIN "
                        "pg_subscription s ON s.oid = r.srsubid WHERE "
                        "s.subname = '" +
                        sub + "' AND r.srsubstate = 'r'") ==
           std::to_string(tables);
  }
  void start_load(const pg_cluster& on, int rate) {
    const std::string script = tmp_.path() + "/load.sql";
    std::ofstream(script) << load_script;
    load_ = spawn({"/usr/lib/postgresql/15/bin/pgbench", "-n", "-h",
                   "127.0.0.1", "-p", std::to_string(on.port()), "-U",
                   "postgres", "-c", "2", "-j", "1", "-R", std::to_string(rate),
                   "-T", "900", "-f", script, "postgres"},
                  tmp_.path() + "/pgbench.log");
    ASSERT_GT(load_.pid, 0);
  }
  void stop_load() {
    if (load_.pid <= 0)
      return;
    ::kill(load_.pid, SIGINT);
    (void)wait_exit(load_.pid, 30s);
    load_.pid = -1;
  }
  // The target ends equal to the upstream, table by table.
  void expect_target_equal(std::chrono::seconds within) {
    for (const auto& [table, key] : {std::pair{"accounts", "id"},
                                     {"notes", "id"},
                                     {"events", "account, t.kind, t.amount"}}) {
      const std::string want = table_digest(*upstream_, table, key);
      EXPECT_TRUE(wait_until(
          [&] { return table_digest(*target_, table, key) == want; }, within))
          << table << ": upstream " << want << ", target "
          << table_digest(*target_, table, key) << "\n"
          << node_->log();
    }
  }

  void two_phase_case(const std::string& target_user);

  temp_dir tmp_;
  std::unique_ptr<pg_cluster> upstream_;
  std::unique_ptr<pg_cluster> target_;
  std::unique_ptr<walmux_node> node_;
  child_process load_;
  int metrics_port_ = 0;
};

TEST_F(apply_role, initial_copy_under_writes_then_streaming) {
  ASSERT_TRUE(upstream_->query(std::string(tables_sql) + rows_sql +
                               "CREATE PUBLICATION pub FOR TABLE accounts, "
                               "notes, events;"));
  start_apply_node();
  start_load(*upstream_, 200);
  auto made = walmux_sql(
      "CREATE SUBSCRIPTION s1 CONNECTION '" + upstream_->conninfo() +
      "' PUBLICATION pub WITH (target = '" + target_->conninfo() + "')");
  ASSERT_TRUE(made) << made.err().message;
  EXPECT_TRUE(wait_until([&] { return ready("s1", 3); }, 120s)) << node_->log();
  std::this_thread::sleep_for(2s); // streaming under load for a while
  stop_load();
  expect_target_equal(60s);
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM accounts"), "40000");
  EXPECT_GT(std::stol(one_value(*upstream_, "SELECT count(*) FROM notes WHERE "
                                            "body LIKE 'load %'")),
            50);
  // The progress is the target's origin, mirrored on walmux.
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM "
                                "pg_replication_origin_status WHERE "
                                "external_id = 'walmux_s1'"),
            "1");
  EXPECT_EQ(walmux_value("SELECT count(*) FROM pg_replication_origin_status "
                         "WHERE external_id = 'walmux_s1' AND remote_lsn <> "
                         "'0/0'"),
            "1");
  EXPECT_NE(walmux_value("SELECT received_lsn FROM pg_stat_subscription "
                         "WHERE subname = 's1'"),
            "");
  EXPECT_EQ(walmux_value("SELECT apply_error_count FROM "
                         "pg_stat_subscription_stats WHERE subname = 's1'"),
            "0");
  const std::string scraped = scrape(metrics_port_);
  ASSERT_FALSE(scraped.empty()) << node_->log();
  EXPECT_EQ(metric(scraped,
                   "walmux_subscription_worker_running{subscription=\"s1\"}"),
            1)
      << scraped;
  EXPECT_EQ(metric(scraped, "walmux_subscription_apply_errors_total{"
                            "subscription=\"s1\"}"),
            0);
  // DROP SUBSCRIPTION drops the slot on the publisher and the target's
  // origin.
  auto dropped = walmux_sql("DROP SUBSCRIPTION s1");
  ASSERT_TRUE(dropped) << dropped.err().message;
  EXPECT_EQ(one_value(*upstream_, "SELECT count(*) FROM pg_replication_slots"),
            "0");
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM "
                                "pg_replication_origin"),
            "0");
  EXPECT_EQ(walmux_value("SELECT count(*) FROM pg_subscription"), "0");
}

// walmux (the streaming node) as the source: the same node streams the
// upstream's publication and applies it, as a subscriber of itself, into
// the target; the copy goes through its strict proxy and its snapshot.
TEST_F(apply_role, a_walmux_node_as_the_source) {
  ASSERT_TRUE(upstream_->query(std::string(tables_sql) + rows_sql +
                               "CREATE PUBLICATION pub FOR TABLE accounts, "
                               "notes, events;"));
  node_ =
      walmux_node::streaming_from(tmp_.path(), upstream_->conninfo(), "pub");
  start_load(*upstream_, 200);
  // streaming = on is accepted by a walmux source, which stores whole
  // transactions and never streams one; binary = true too, which it serves
  // with text values (it stores text), so inserts go as text COPY.
  auto made =
      walmux_sql("CREATE SUBSCRIPTION s2 CONNECTION '" +
                 node_->conninfo(false) + "' PUBLICATION pub WITH (target = '" +
                 target_->conninfo() + "', streaming = on, binary = true)");
  ASSERT_TRUE(made) << made.err().message;
  EXPECT_TRUE(wait_until([&] { return ready("s2", 3); }, 120s)) << node_->log();
  std::this_thread::sleep_for(1s);
  // pg_terminate_backend restarts an apply worker (as PostgreSQL's
  // launcher does); it resumes from the target's progress.
  const std::string first =
      walmux_value("SELECT pid FROM pg_stat_subscription WHERE subname = 's2'");
  EXPECT_EQ(walmux_value("SELECT pg_terminate_backend(pid) FROM "
                         "pg_stat_activity WHERE backend_type = 'logical "
                         "replication worker'"),
            "t");
  EXPECT_TRUE(wait_until(
      [&] {
        auto now = walmux_value(
            "SELECT pid FROM pg_stat_subscription WHERE subname = 's2'");
        return !now.empty() && now != first && now.rfind("error", 0) != 0;
      },
      30s))
      << node_->log();
  std::this_thread::sleep_for(1s);
  stop_load();
  expect_target_equal(60s);
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM accounts"), "40000");
  // The slot is walmux's own; the upstream holds only walmux's slot.
  EXPECT_EQ(walmux_value("SELECT count(*) FROM pg_replication_slots WHERE "
                         "slot_name = 's2'"),
            "1");
  EXPECT_EQ(one_value(*upstream_, "SELECT count(*) FROM pg_replication_slots"),
            "1");
}

// SIGKILL walmux ten times at random moments (the first during the initial
// copy) while the upstream takes a continuous write load: the target ends
// equal to the upstream; the events table has no key and REPLICA IDENTITY
// FULL, so a transaction applied twice would show as extra rows.
TEST_F(apply_role, survives_ten_sigkills_without_loss_or_duplicates) {
  ASSERT_TRUE(upstream_->query(std::string(tables_sql) + rows_sql +
                               "CREATE PUBLICATION pub FOR TABLE accounts, "
                               "notes, events;"));
  start_apply_node();
  start_load(*upstream_, 300);
  auto made = walmux_sql(
      "CREATE SUBSCRIPTION s3 CONNECTION '" + upstream_->conninfo() +
      "' PUBLICATION pub WITH (target = '" + target_->conninfo() + "')");
  ASSERT_TRUE(made) << made.err().message;
  std::mt19937 rng(std::random_device{}());
  for (int i = 0; i < 10; ++i) {
    const int wait_ms = i == 0 ? std::uniform_int_distribution(200, 1200)(rng)
                               : std::uniform_int_distribution(300, 3000)(rng);
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    node_->kill();
    ASSERT_TRUE(node_->start(false)) << node_->log();
  }
  EXPECT_TRUE(wait_until([&] { return ready("s3", 3); }, 120s)) << node_->log();
  std::this_thread::sleep_for(1s);
  stop_load();
  expect_target_equal(90s);
  EXPECT_GT(std::stol(one_value(*upstream_, "SELECT count(*) FROM events "
                                            "WHERE kind = 'load'")),
            500);
}

// A duplicate key on the target: the transaction fails, is retried (the
// error counted, its "finished at" LSN logged), and ALTER SUBSCRIPTION ...
// SKIP passes over exactly that transaction. An update of a row the target
// lacks is logged and counted, not fatal. With disable_on_error, the
// first error disables the subscription.
TEST_F(apply_role, conflicts_retry_skip_and_disable_on_error) {
  ASSERT_TRUE(upstream_->query(std::string(tables_sql) +
                               "CREATE TABLE missing_on_target (id int "
                               "PRIMARY KEY);"
                               "CREATE PUBLICATION pub FOR TABLE accounts;"
                               "CREATE PUBLICATION pub2 FOR TABLE "
                               "missing_on_target;"));
  ASSERT_TRUE(target_->query("INSERT INTO accounts VALUES (7, 0), (3, 0)"));
  start_apply_node();
  auto made =
      walmux_sql("CREATE SUBSCRIPTION s4 CONNECTION '" + upstream_->conninfo() +
                 "' PUBLICATION pub WITH (target = '" + target_->conninfo() +
                 "', copy_data = false)");
  ASSERT_TRUE(made) << made.err().message;
  EXPECT_TRUE(wait_until(
      [&] {
        return node_->log().find("logical replication apply worker for "
                                 "subscription \"s4\" has started") !=
               std::string::npos;
      },
      60s));
  // One transaction per query (a multi-statement query is one).
  for (const char* sql : {"INSERT INTO accounts VALUES (1, 1)",
                          "UPDATE accounts SET balance = 5 WHERE id = 3",
                          "INSERT INTO accounts VALUES (8, 8), (7, 7)",
                          "INSERT INTO accounts VALUES (9, 9)"})
    ASSERT_TRUE(upstream_->query(sql));
  // The error names the transaction once it is retried alone.
  const std::regex finished(
      R"(duplicate key value violates unique constraint[\s\S]*?)"
      R"(in transaction [0-9]+, finished at ([0-9A-F]+/[0-9A-F]+))");
  std::string log, skip_at;
  EXPECT_TRUE(wait_until(
      [&] {
        log = node_->log();
        for (auto it = std::sregex_iterator(log.begin(), log.end(), finished);
             it != std::sregex_iterator(); ++it)
          skip_at = (*it)[1];
        return !skip_at.empty() &&
               std::stol(walmux_value(
                   "SELECT apply_error_count FROM pg_stat_subscription_stats "
                   "WHERE subname = 's4'")) >= 2;
      },
      60s))
      << log;
  ASSERT_FALSE(skip_at.empty());
  EXPECT_EQ(one_value(*target_, "SELECT balance FROM accounts WHERE id = 1"),
            "1")
      << log;
  auto skipped =
      walmux_sql("ALTER SUBSCRIPTION s4 SKIP (lsn = '" + skip_at + "')");
  ASSERT_TRUE(skipped) << skipped.err().message;
  EXPECT_TRUE(wait_until(
      [&] {
        return one_value(*target_, "SELECT count(*) FROM accounts WHERE id = "
                                   "9") == "1";
      },
      60s))
      << node_->log();
  // The whole skipped transaction is absent: 8 with it, 7 is the target's.
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM accounts WHERE id = 8"),
            "0");
  EXPECT_EQ(one_value(*target_, "SELECT balance FROM accounts WHERE id = 7"),
            "0");
  EXPECT_EQ(walmux_value("SELECT subskiplsn FROM pg_subscription WHERE "
                         "subname = 's4'"),
            "0/0");
  EXPECT_GE(std::stol(walmux_value("SELECT confl_insert_exists FROM "
                                   "pg_stat_subscription_stats WHERE subname "
                                   "= 's4'")),
            1);
  // Updates and deletes of rows the target lacks: logged, counted, each
  // row, also inside one statement for several rows (a keyed run: 7 is
  // there, 1 is not; neither 8, never applied, nor 9 is).
  ASSERT_TRUE(target_->query("DELETE FROM accounts WHERE id IN (1, 9)"));
  for (const char* sql : {"UPDATE accounts SET balance = 2 WHERE id IN (1, 7)",
                          "DELETE FROM accounts WHERE id IN (8, 9)",
                          "INSERT INTO accounts VALUES (10, 10)"})
    ASSERT_TRUE(upstream_->query(sql));
  EXPECT_TRUE(wait_until(
      [&] {
        return one_value(*target_, "SELECT count(*) FROM accounts WHERE id = "
                                   "10") == "1";
      },
      60s));
  EXPECT_TRUE(wait_until(
      [&] {
        return walmux_value("SELECT confl_update_missing || ' ' || "
                            "confl_delete_missing FROM "
                            "pg_stat_subscription_stats WHERE subname = "
                            "'s4'") == "1 2";
      },
      30s))
      << node_->log();
  EXPECT_NE(node_->log().find("conflict=update_missing, 1 of the 2 rows"),
            std::string::npos)
      << node_->log();
  EXPECT_EQ(one_value(*target_, "SELECT balance FROM accounts WHERE id = 7"),
            "2");

  // pg_stat_reset_subscription_stats: the view's counters start again from
  // zero (stats_reset says when); the metrics' counters do not go back.
  const long errors_before = std::stol(walmux_value(
      "SELECT apply_error_count FROM pg_stat_subscription_stats WHERE "
      "subname = 's4'"));
  EXPECT_EQ(walmux_value("SELECT count(*) FROM pg_stat_subscription_stats "
                         "WHERE subname = 's4' AND stats_reset IS NULL"),
            "1");
  auto reset = walmux_sql("SELECT pg_stat_reset_subscription_stats(oid) "
                          "FROM pg_subscription WHERE subname = 's4'");
  ASSERT_TRUE(reset) << reset.err().message;
  EXPECT_EQ(walmux_value("SELECT apply_error_count || ' ' || "
                         "confl_insert_exists || ' ' || confl_update_missing "
                         "FROM pg_stat_subscription_stats WHERE subname = "
                         "'s4' AND stats_reset IS NOT NULL"),
            "0 0 0");
  EXPECT_EQ(metric(scrape(metrics_port_),
                   "walmux_subscription_apply_errors_total{subscription="
                   "\"s4\"}"),
            errors_before);
  // A delete of a missing row after the reset counts from zero.
  ASSERT_TRUE(upstream_->query("INSERT INTO accounts VALUES (11, 11)"));
  EXPECT_TRUE(wait_until(
      [&] {
        return one_value(*target_, "SELECT count(*) FROM accounts WHERE id = "
                                   "11") == "1";
      },
      60s));
  ASSERT_TRUE(target_->query("DELETE FROM accounts WHERE id = 11"));
  ASSERT_TRUE(upstream_->query("DELETE FROM accounts WHERE id = 11"));
  EXPECT_TRUE(wait_until(
      [&] {
        return walmux_value("SELECT confl_delete_missing FROM "
                            "pg_stat_subscription_stats WHERE subname = "
                            "'s4'") == "1";
      },
      30s))
      << node_->log();
  EXPECT_EQ(metric(scrape(metrics_port_),
                   "walmux_subscription_delete_missing_total{subscription="
                   "\"s4\"}"),
            3);
  // NULL resets every subscription; OID 0 is PostgreSQL's error.
  EXPECT_TRUE(walmux_sql("SELECT pg_stat_reset_subscription_stats(NULL)"));
  EXPECT_EQ(walmux_value("SELECT confl_delete_missing FROM "
                         "pg_stat_subscription_stats WHERE subname = 's4'"),
            "0");
  auto zero = walmux_sql("SELECT pg_stat_reset_subscription_stats(0)");
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.err().code, "22023");
  EXPECT_NE(zero.err().message.find("invalid subscription OID 0"),
            std::string::npos);

  // disable_on_error: a table the target lacks disables the subscription.
  auto second =
      walmux_sql("CREATE SUBSCRIPTION s5 CONNECTION '" + upstream_->conninfo() +
                 "' PUBLICATION pub2 WITH (target = '" + target_->conninfo() +
                 "', copy_data = false, disable_on_error = true)");
  ASSERT_TRUE(second) << second.err().message;
  EXPECT_TRUE(wait_until(
      [&] {
        return node_->log().find("subscription \"s5\" has started") !=
               std::string::npos;
      },
      60s));
  ASSERT_TRUE(upstream_->query("INSERT INTO missing_on_target VALUES (1)"));
  EXPECT_TRUE(wait_until(
      [&] {
        return walmux_value("SELECT subenabled FROM pg_subscription WHERE "
                            "subname = 's5'") == "f";
      },
      60s))
      << node_->log();
  EXPECT_NE(node_->log().find("logical replication target relation "
                              "\"public.missing_on_target\" does not exist"),
            std::string::npos);
  // The log line follows the catalog change that the view shows.
  EXPECT_TRUE(wait_until(
      [&] {
        return node_->log().find("subscription \"s5\" has been disabled "
                                 "because of an error") != std::string::npos;
      },
      10s))
      << node_->log();
  EXPECT_EQ(walmux_value("SELECT apply_error_count FROM "
                         "pg_stat_subscription_stats WHERE subname = 's5'"),
            "1");

  // The view's counters survive a clean restart of walmux, not a crash,
  // as PostgreSQL's do.
  const char* s5_stats = "SELECT apply_error_count FROM "
                         "pg_stat_subscription_stats WHERE subname = 's5'";
  ASSERT_TRUE(node_->stop()) << node_->log();
  ASSERT_TRUE(node_->start(false)) << node_->log();
  EXPECT_EQ(walmux_value(s5_stats), "1");
  node_->kill();
  ASSERT_TRUE(node_->start(false)) << node_->log();
  EXPECT_EQ(walmux_value(s5_stats), "0");
}

// streaming = on: the publisher streams a transaction larger than its
// logical_decoding_work_mem before it commits; walmux keeps the blocks in
// files and applies the transaction at its Stream Commit, without the
// changes of a subtransaction rolled back to its savepoint, and drops a
// transaction streamed and then rolled back. Small transactions committing
// meanwhile apply first. A worker restarted in the middle of a streamed
// transaction starts it over from what the publisher streams again. With
// origin = none a streamed transaction from elsewhere is not applied.
TEST_F(apply_role, streaming_on_applies_large_transactions_at_commit) {
  ASSERT_TRUE(
      upstream_->query("ALTER SYSTEM SET logical_decoding_work_mem = '64kB'"));
  ASSERT_TRUE(upstream_->query("SELECT pg_reload_conf()"));
  const char* table = "CREATE TABLE big (id int PRIMARY KEY, note text);";
  ASSERT_TRUE(upstream_->query(std::string(table) +
                               "CREATE PUBLICATION pub FOR TABLE big;"));
  ASSERT_TRUE(target_->query(table));
  start_apply_node();
  auto made =
      walmux_sql("CREATE SUBSCRIPTION s7 CONNECTION '" + upstream_->conninfo() +
                 "' PUBLICATION pub WITH (target = '" + target_->conninfo() +
                 "', copy_data = false, streaming = on, origin = none)");
  ASSERT_TRUE(made) << made.err().message;
  ASSERT_TRUE(wait_until(
      [&] {
        return node_->log().find("subscription \"s7\" has started") !=
               std::string::npos;
      },
      60s));
  // One large transaction, open for a while, with a savepoint rolled back.
  const std::string script = tmp_.path() + "/large.sql";
  std::ofstream(script)
      << "BEGIN;\n"
         "INSERT INTO big SELECT g, repeat('a', 50) FROM generate_series(1, "
         "5000) g;\n"
         "SAVEPOINT a;\n"
         "INSERT INTO big SELECT g, 'rolled back' FROM generate_series(5001, "
         "8000) g;\n"
         "ROLLBACK TO a;\n"
         "SELECT pg_sleep(4);\n"
         "INSERT INTO big SELECT g, 'after' FROM generate_series(8001, 10000) "
         "g;\n"
         "COMMIT;\n";
  child_process large = spawn({"/usr/lib/postgresql/15/bin/psql", "-X", "-q",
                               "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                               std::to_string(upstream_->port()), "-U",
                               "postgres", "-d", "postgres", "-f", script},
                              tmp_.path() + "/large.log");
  ASSERT_GT(large.pid, 0);
  // Its first blocks reach walmux's spool before it commits.
  const std::string spool = tmp_.path() + "/apply/walmux/stream_spool";
  auto spooled_files = [&] {
    size_t n = 0;
    std::error_code ec;
    for ([[maybe_unused]] const auto& e :
         std::filesystem::directory_iterator(spool, ec))
      ++n;
    return n;
  };
  EXPECT_TRUE(wait_until([&] { return spooled_files() > 0; }, 30s))
      << node_->log();
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM big"), "0");
  // Small transactions commit meanwhile and apply before it.
  for (int i = 1; i <= 20; ++i)
    ASSERT_TRUE(upstream_->query("INSERT INTO big VALUES (" +
                                 std::to_string(100000 + i) + ", 'small')"));
  EXPECT_TRUE(wait_until(
      [&] { return one_value(*target_, "SELECT count(*) FROM big") == "20"; },
      30s))
      << node_->log();
  // A worker restart drops the spool; the publisher streams it again.
  ASSERT_TRUE(walmux_sql("ALTER SUBSCRIPTION s7 DISABLE"));
  EXPECT_TRUE(wait_until([&] { return spooled_files() == 0; }, 30s));
  ASSERT_TRUE(walmux_sql("ALTER SUBSCRIPTION s7 ENABLE"));
  // A large transaction streamed and then rolled back leaves nothing; one
  // that carries a replication origin upstream is not applied (origin =
  // none: its Origin message comes inside the first block).
  ASSERT_TRUE(upstream_->query(
      "BEGIN; INSERT INTO big SELECT g, 'aborted' FROM generate_series(20001, "
      "26000) g; ROLLBACK;"));
  ASSERT_TRUE(
      upstream_->query("SELECT pg_replication_origin_create('elsewhere')"));
  ASSERT_TRUE(upstream_->query(
      "SELECT pg_replication_origin_session_setup('elsewhere'); "
      "INSERT INTO big SELECT g, 'elsewhere' FROM generate_series(30001, "
      "36000) g;"));
  EXPECT_EQ(wait_exit(large.pid, 60s), std::optional<int>(0))
      << read_file(large.output_path);
  ASSERT_TRUE(upstream_->query("INSERT INTO big VALUES (200000, 'last')"));
  EXPECT_TRUE(wait_until(
      [&] {
        return one_value(*target_,
                         "SELECT count(*) FROM big WHERE id = 200000") == "1";
      },
      60s))
      << node_->log();
  EXPECT_EQ(table_digest(*target_, "big", "id"),
            table_digest(*upstream_,
                         "(SELECT * FROM big WHERE note <> 'elsewhere')",
                         "id"));
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM big"), "7021");
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM big WHERE note IN "
                                "('rolled back', 'aborted')"),
            "0");
  // The publisher did stream (PostgreSQL's own counters).
  EXPECT_TRUE(wait_until(
      [&] {
        return one_value(*upstream_, "SELECT stream_txns > 0 FROM "
                                     "pg_stat_replication_slots WHERE "
                                     "slot_name = 's7'") == "t";
      },
      30s));
  EXPECT_EQ(spooled_files(), 0u);
}

// binary = true: the publisher sends values in their types' binary form;
// inserts go to the target as binary COPY, updates and deletes as binary
// parameters (keys, REPLICA IDENTITY FULL rows), NULLs and unchanged TOAST
// values as in text mode; a row with a value of a type without a binary
// form (aclitem: sent as text) goes as an INSERT of its own, in order. The
// target ends equal to the upstream.
TEST_F(apply_role, binary_values_in_copy_and_statements) {
  const char* tables =
      "CREATE TABLE kinds (id bigint PRIMARY KEY, i int, n numeric, t text, "
      "b bytea, ts timestamptz, j jsonb, a int[], u uuid, f bool, big text);"
      "CREATE TABLE acls (id int PRIMARY KEY, acl aclitem);"
      "CREATE TABLE nokey (x int, y text);"
      "ALTER TABLE nokey REPLICA IDENTITY FULL;";
  ASSERT_TRUE(upstream_->query(std::string(tables) +
                               "CREATE PUBLICATION pub FOR TABLE kinds, "
                               "nokey, acls;"));
  ASSERT_TRUE(target_->query(tables));
  start_apply_node();
  auto made =
      walmux_sql("CREATE SUBSCRIPTION s9 CONNECTION '" + upstream_->conninfo() +
                 "' PUBLICATION pub WITH (target = '" + target_->conninfo() +
                 "', copy_data = false, binary = true)");
  ASSERT_TRUE(made) << made.err().message;
  EXPECT_EQ(walmux_value("SELECT subbinary FROM pg_subscription WHERE "
                         "subname = 's9'"),
            "t");
  ASSERT_TRUE(wait_until(
      [&] {
        return node_->log().find("subscription \"s9\" has started") !=
               std::string::npos;
      },
      60s));
  for (const char* sql :
       {"INSERT INTO kinds SELECT g, g, g * 1.5, 'text ' || g, "
        "decode(md5(g::text), 'hex'), '2026-01-01 00:00:00+00'::timestamptz + "
        "g * interval '1 minute', jsonb_build_object('g', g, 'l', "
        "jsonb_build_array(g, 'x')), ARRAY[g, g + 1, NULL], "
        "md5(g::text)::uuid, g % 2 = 0, CASE WHEN g = 1 THEN (SELECT "
        "string_agg(md5(k::text), '') FROM generate_series(1, 400) k) END "
        "FROM generate_series(1, 500) g",
        "INSERT INTO acls SELECT g, CASE WHEN g % 3 = 0 THEN "
        "'postgres=r/postgres'::aclitem END FROM generate_series(1, 30) g",
        "INSERT INTO kinds (id) VALUES (1000)",
        "INSERT INTO nokey SELECT g % 7, 'v' || g FROM generate_series(1, 50) "
        "g",
        "UPDATE kinds SET i = -i, n = n / 3, j = j || '{\"u\": true}' WHERE "
        "id <= 20",
        "UPDATE kinds SET f = NULL WHERE id = 1", // big stays unchanged
        "UPDATE kinds SET id = 2000 WHERE id = 2",
        "DELETE FROM kinds WHERE id BETWEEN 10 AND 15",
        "UPDATE nokey SET y = y || '!' WHERE x = 3",
        "DELETE FROM nokey WHERE x = 4",
        "INSERT INTO kinds (id, t) VALUES (3000, 'last')"})
    ASSERT_TRUE(upstream_->query(sql)) << sql;
  EXPECT_TRUE(wait_until(
      [&] {
        return one_value(*target_,
                         "SELECT count(*) FROM kinds WHERE id = 3000") == "1";
      },
      60s))
      << node_->log();
  EXPECT_EQ(table_digest(*target_, "kinds", "id"),
            table_digest(*upstream_, "kinds", "id"));
  EXPECT_EQ(table_digest(*target_, "nokey", "x, t.y"),
            table_digest(*upstream_, "nokey", "x, t.y"));
  EXPECT_EQ(table_digest(*target_, "acls", "id"),
            table_digest(*upstream_, "acls", "id"));
  EXPECT_EQ(one_value(*target_, "SELECT length(big) FROM kinds WHERE id = 1"),
            "12800");
  EXPECT_EQ(walmux_value("SELECT apply_error_count FROM "
                         "pg_stat_subscription_stats WHERE subname = 's9'"),
            "0");
}

// PostgreSQL's apply semantics on one stream: an unchanged TOAST value
// ('u') is left as it is, values with tabs, newlines, backslashes and NULLs
// arrive intact through the COPY path, an update of the key moves the row,
// TRUNCATE empties the table, and with origin = none a transaction that
// carries a replication origin upstream is not applied.
// REPLICA IDENTITY FULL: a row is found by every old value, NULL where it
// was NULL, one row of identical ones changed at a time, through an index
// the target has (the publisher has none); and keyed runs of updates and
// deletes next to single statements, in order.
TEST_F(apply_role, replica_identity_full_with_nulls_and_keyed_runs) {
  ASSERT_TRUE(upstream_->query(
      "CREATE TABLE f (a int, b text, c int); ALTER TABLE f REPLICA "
      "IDENTITY FULL; CREATE TABLE k (id int PRIMARY KEY, v int);"
      "CREATE PUBLICATION pub FOR TABLE f, k;"));
  ASSERT_TRUE(target_->query("CREATE TABLE f (a int, b text, c int); CREATE "
                             "INDEX f_a ON f (a); CREATE TABLE k (id int "
                             "PRIMARY KEY, v int);"));
  start_apply_node();
  auto made =
      walmux_sql("CREATE SUBSCRIPTION s10 CONNECTION '" +
                 upstream_->conninfo() + "' PUBLICATION pub WITH (target = '" +
                 target_->conninfo() + "', copy_data = false)");
  ASSERT_TRUE(made) << made.err().message;
  for (const std::string& sql :
       {std::string(
            "INSERT INTO f SELECT g % 500, CASE WHEN g % 3 = 0 THEN "
            "NULL ELSE 'b' || (g % 7) END, CASE WHEN g % 5 = 0 THEN "
            "NULL ELSE g % 11 END FROM generate_series(1, 5000) g; "
            "INSERT INTO f VALUES (7, 'twin', 1), (7, 'twin', 1); "
            "INSERT INTO k SELECT g, 0 FROM generate_series(1, 1000) g"),
        std::string("UPDATE f SET c = 100 WHERE a = 1 AND b IS NULL"),
        std::string("UPDATE f SET b = 'was null' WHERE b IS NULL AND a < 50"),
        std::string("DELETE FROM f WHERE a = 2 AND c IS NULL"),
        std::string("DELETE FROM f WHERE ctid = (SELECT ctid FROM f WHERE b "
                    "= 'twin' LIMIT 1)"),
        // Runs by key: a repeated key, a key update and a FULL change in
        // between end a run; the order on every row holds.
        std::string("UPDATE k SET v = v + 1 WHERE id <= 600; UPDATE k SET v = "
                    "v * 10 WHERE id BETWEEN 300 AND 700; UPDATE k SET id = "
                    "id + 5000 WHERE id % 100 = 0; UPDATE f SET c = 5 WHERE a "
                    "= 3; DELETE FROM k WHERE id % 7 = 0; UPDATE k SET v = -v "
                    "WHERE id % 2 = 0"),
        std::string("INSERT INTO k VALUES (-1, -1)")})
    ASSERT_TRUE(upstream_->query(sql)) << sql;
  EXPECT_TRUE(wait_until(
      [&] {
        return one_value(*target_, "SELECT count(*) FROM k WHERE id = -1") ==
               "1";
      },
      60s))
      << node_->log();
  EXPECT_EQ(table_digest(*target_, "f", "a, t.b, t.c"),
            table_digest(*upstream_, "f", "a, t.b, t.c"));
  EXPECT_EQ(table_digest(*target_, "k", "id"),
            table_digest(*upstream_, "k", "id"));
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM f WHERE b = 'twin'"),
            "1");
  // The apply session reports its statistics once idle (within a second).
  EXPECT_TRUE(wait_until(
      [&] {
        return one_value(*target_, "SELECT idx_scan > 0 FROM "
                                   "pg_stat_user_indexes WHERE indexrelname = "
                                   "'f_a'") == "t";
      },
      20s));
  EXPECT_EQ(walmux_value("SELECT apply_error_count || ' ' || "
                         "confl_update_missing || ' ' || confl_delete_missing "
                         "FROM pg_stat_subscription_stats"),
            "0 0 0");
}

TEST_F(apply_role, toast_escapes_key_updates_truncate_and_origin_none) {
  ASSERT_TRUE(upstream_->query(
      "CREATE TABLE docs (id int PRIMARY KEY, big text, n int, note text);"
      "CREATE PUBLICATION pub FOR TABLE docs;"));
  ASSERT_TRUE(target_->query(
      "CREATE TABLE docs (id int PRIMARY KEY, big text, n int, note text);"));
  start_apply_node();
  auto made =
      walmux_sql("CREATE SUBSCRIPTION s6 CONNECTION '" + upstream_->conninfo() +
                 "' PUBLICATION pub WITH (target = '" + target_->conninfo() +
                 "', copy_data = false, origin = none)");
  ASSERT_TRUE(made) << made.err().message;
  const std::string big =
      "(SELECT string_agg(md5(g::text || 'x'), '') FROM generate_series(1, "
      "400) g)";
  for (const std::string& sql :
       {"INSERT INTO docs VALUES (1, " + big +
            ", 0, E'tab\\there\\nline "
            "back\\\\slash')",
        std::string("INSERT INTO docs VALUES (2, NULL, NULL, NULL), (3, 'x', "
                    "3, '\\N')"),
        std::string("UPDATE docs SET n = n + 1 WHERE id = 1"),
        std::string("UPDATE docs SET id = 30 WHERE id = 3")})
    ASSERT_TRUE(upstream_->query(sql)) << sql;
  // Marked with an origin upstream: not applied with origin = none.
  ASSERT_TRUE(
      upstream_->query("SELECT pg_replication_origin_create('elsewhere')"));
  ASSERT_TRUE(upstream_->query(
      "SELECT pg_replication_origin_session_setup('elsewhere'); "
      "INSERT INTO docs VALUES (99, 'from elsewhere', 0, NULL);"));
  ASSERT_TRUE(upstream_->query("INSERT INTO docs VALUES (4, 'last', 4, '')"));
  EXPECT_TRUE(wait_until(
      [&] {
        return one_value(*target_, "SELECT count(*) FROM docs WHERE id = 4") ==
               "1";
      },
      60s))
      << node_->log();
  // The TOAST value was not sent with the update ('u') and is intact.
  EXPECT_GT(std::stol(one_value(*upstream_, "SELECT pg_column_size(big) FROM "
                                            "docs WHERE id = 1")),
            2000);
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM docs WHERE id = 99"),
            "0");
  ASSERT_TRUE(upstream_->query("DELETE FROM docs WHERE id = 99"));
  EXPECT_TRUE(wait_until(
      [&] {
        return table_digest(*target_, "docs", "id") ==
               table_digest(*upstream_, "docs", "id");
      },
      30s))
      << table_digest(*target_, "docs", "id") << " vs "
      << table_digest(*upstream_, "docs", "id");
  ASSERT_TRUE(upstream_->query("TRUNCATE docs"));
  EXPECT_TRUE(wait_until(
      [&] { return one_value(*target_, "SELECT count(*) FROM docs") == "0"; },
      30s));
}

// The upstream side of the row filter tests: items, and publications
// with row filters and column lists (`wide` has neither).
const char* const filtered_items_sql =
    "CREATE TABLE items (id int PRIMARY KEY, name text, secret text);"
    "INSERT INTO items SELECT g, 'item ' || g, 'hidden' FROM "
    "generate_series(1, 100) g;"
    "CREATE PUBLICATION even FOR TABLE items (id, name) WHERE (id % 2 = 0);"
    "CREATE PUBLICATION big FOR TABLE items (id, name) WHERE (id > 90);"
    "CREATE PUBLICATION wide FOR TABLE items;";

// Subscribes to `even` and `big` of `source` (a conninfo): the copy and the
// stream hold only the published rows and columns.
void apply_role::expect_filtered_items(const std::string& source) {
  // Two filters on one table are OR'ed, as PostgreSQL's tablesync does.
  auto made = walmux_sql("CREATE SUBSCRIPTION sf CONNECTION '" + source +
                         "' PUBLICATION even, big WITH (target = '" +
                         target_->conninfo() + "')");
  ASSERT_TRUE(made) << made.err().message;
  EXPECT_TRUE(wait_until([&] { return ready("sf", 1); }, 60s)) << node_->log();
  const std::string digest =
      "SELECT count(*) || ' ' || md5(string_agg(id || ':' || name, ',' "
      "ORDER BY id)) FROM items";
  const std::string published = " WHERE id % 2 = 0 OR id > 90";
  EXPECT_EQ(one_value(*target_, digest),
            one_value(*upstream_, digest + published));
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM items"), "55");
  // The column list leaves `secret` out of the copy.
  EXPECT_EQ(
      one_value(*target_, "SELECT count(*) FROM items WHERE secret IS NULL"),
      "55");
  // Streamed changes follow the same rules (the publisher filters them).
  ASSERT_TRUE(upstream_->query("INSERT INTO items SELECT g, 'late ' || g, "
                               "'hidden' FROM generate_series(101, 110) g"));
  ASSERT_TRUE(
      upstream_->query("UPDATE items SET name = 'renamed' WHERE id IN (4, 5)"));
  ASSERT_TRUE(upstream_->query("INSERT INTO items VALUES (-7, 'odd', 'x')"));
  EXPECT_TRUE(wait_until(
      [&] {
        return one_value(*target_, digest) ==
               one_value(*upstream_, digest + published);
      },
      60s))
      << one_value(*target_, digest) << " vs "
      << one_value(*upstream_, digest + published) << "\n"
      << node_->log();
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM items"), "65");
  ASSERT_TRUE(walmux_sql("DROP SUBSCRIPTION sf"));
}

// A PostgreSQL upstream's row filters and column lists, then PostgreSQL's
// error for different column lists.
TEST_F(apply_role, row_filters_and_column_lists_in_the_copy_and_the_stream) {
  ASSERT_TRUE(upstream_->query(filtered_items_sql));
  ASSERT_TRUE(target_->query(
      "CREATE TABLE items (id int PRIMARY KEY, name text, secret text);"));
  start_apply_node();
  expect_filtered_items(upstream_->conninfo());

  // Publications with different column lists for one table: PostgreSQL's
  // error, counted as a sync error and retried, nothing copied.
  ASSERT_TRUE(target_->query("TRUNCATE items"));
  auto made = walmux_sql(
      "CREATE SUBSCRIPTION sw CONNECTION '" + upstream_->conninfo() +
      "' PUBLICATION even, wide WITH (target = '" + target_->conninfo() + "')");
  ASSERT_TRUE(made) << made.err().message;
  EXPECT_TRUE(wait_until(
      [&] {
        return node_->log().find(
                   "cannot use different column lists for table "
                   "\"public.items\" in different publications") !=
               std::string::npos;
      },
      60s))
      << node_->log();
  EXPECT_NE(walmux_value("SELECT sync_error_count FROM "
                         "pg_stat_subscription_stats WHERE subname = 'sw'"),
            "0");
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM items"), "0");
}

// The same through a walmux node that streams those publications: the
// upstream filtered what the node stores, and the node's proxy copies with
// the filters' WHERE clause (it accepts no other).
TEST_F(apply_role, row_filters_and_column_lists_through_a_walmux_source) {
  ASSERT_TRUE(upstream_->query(filtered_items_sql));
  ASSERT_TRUE(target_->query(
      "CREATE TABLE items (id int PRIMARY KEY, name text, secret text);"));
  node_ = walmux_node::streaming_from(tmp_.path(), upstream_->conninfo(),
                                      "even,big");
  expect_filtered_items(node_->conninfo(false));
}

TEST_F(apply_role, set_add_and_drop_publication) {
  ASSERT_TRUE(upstream_->query(std::string(tables_sql) + rows_sql +
                               "CREATE PUBLICATION pa FOR TABLE accounts;"
                               "CREATE PUBLICATION pn FOR TABLE notes;"
                               "CREATE PUBLICATION pe FOR TABLE events;"));
  start_apply_node();
  auto made = walmux_sql(
      "CREATE SUBSCRIPTION s8 CONNECTION '" + upstream_->conninfo() +
      "' PUBLICATION pa WITH (target = '" + target_->conninfo() + "')");
  ASSERT_TRUE(made) << made.err().message;
  EXPECT_TRUE(wait_until([&] { return ready("s8", 1); }, 60s)) << node_->log();
  // The SQLSTATE and the message without libpq's "ERROR:  " and newline.
  auto code = [&](const std::string& sql) {
    auto r = walmux_sql(sql);
    if (r)
      return std::string("ok");
    std::string m = r.err().message;
    if (m.rfind("ERROR:  ", 0) == 0)
      m = m.substr(8);
    while (!m.empty() && m.back() == '\n')
      m.pop_back();
    return r.err().code + " " + m;
  };
  // A copied table becomes ready once the target's flushed progress is at
  // or past its copy's point; on this quiet publisher walmux moves the
  // progress there itself, as PostgreSQL's worker promotes tables on the
  // last received position.
  auto ready_when_quiet = [&](int tables) {
    return wait_until([&] { return ready("s8", tables); }, 60s);
  };
  // ADD PUBLICATION refreshes: notes is copied, then streams.
  EXPECT_EQ(code("ALTER SUBSCRIPTION s8 ADD PUBLICATION pn"), "ok");
  EXPECT_TRUE(ready_when_quiet(2)) << node_->log();
  EXPECT_EQ(code("ALTER SUBSCRIPTION s8 ADD PUBLICATION pn"),
            "42710 publication \"pn\" is already in subscription \"s8\"");
  EXPECT_EQ(code("ALTER SUBSCRIPTION s8 DROP PUBLICATION px"),
            "42P17 publication \"px\" is not in subscription \"s8\"");
  EXPECT_EQ(code("ALTER SUBSCRIPTION s8 DROP PUBLICATION pa, pn"),
            "42P17 cannot drop all the publications from a subscription");
  EXPECT_EQ(code("BEGIN; ALTER SUBSCRIPTION s8 DROP PUBLICATION pn; COMMIT")
                .substr(0, 5),
            "25001");
  // SET without refresh: the stream follows the new list at once, the
  // tables only at the next REFRESH, which drops notes and copies events.
  EXPECT_EQ(code("ALTER SUBSCRIPTION s8 SET PUBLICATION pa, pe WITH (refresh "
                 "= false)"),
            "ok");
  EXPECT_EQ(walmux_value("SELECT subpublications FROM pg_subscription WHERE "
                         "subname = 's8'"),
            "{pa,pe}");
  EXPECT_EQ(code("ALTER SUBSCRIPTION s8 REFRESH PUBLICATION"), "ok");
  EXPECT_TRUE(ready_when_quiet(2)) << node_->log();
  for (const auto& [table, count] :
       {std::pair{"accounts", "1"}, {"notes", "0"}, {"events", "1"}})
    EXPECT_EQ(walmux_value("SELECT count(*) FROM pg_subscription_rel WHERE "
                           "srrelname = 'public." +
                           std::string(table) + "'"),
              count)
        << table;
  ASSERT_TRUE(upstream_->query(
      "UPDATE accounts SET balance = balance + 7 WHERE id <= 100;"
      "INSERT INTO events VALUES (1, 'late', 5);"
      "INSERT INTO notes (account, body) VALUES (1, 'not applied');"));
  for (const auto& [table, key] :
       {std::pair{"accounts", "id"}, {"events", "account, t.kind, t.amount"}}) {
    const std::string want = table_digest(*upstream_, table, key);
    EXPECT_TRUE(wait_until(
        [&] { return table_digest(*target_, table, key) == want; }, 60s))
        << table << "\n"
        << node_->log();
  }
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM notes"), "30000");
  // DISABLEd: refreshing is refused, changing the list is not.
  EXPECT_EQ(code("ALTER SUBSCRIPTION s8 DISABLE"), "ok");
  EXPECT_EQ(code("ALTER SUBSCRIPTION s8 ADD PUBLICATION pn"),
            "55000 ALTER SUBSCRIPTION with refresh is not allowed for "
            "disabled subscriptions\nHINT:  Use ALTER SUBSCRIPTION ... SET "
            "PUBLICATION ... WITH (refresh = false).");
  EXPECT_EQ(
      code("ALTER SUBSCRIPTION s8 ADD PUBLICATION pn WITH (refresh = false)"),
      "ok");
}

// ALTER SUBSCRIPTION ... REFRESH PUBLICATION: a table added to the
// publication is copied (while the upstream writes to it) in the snapshot
// of a temporary slot and streamed from that point on; a table published
// but not refreshed into the subscription is not applied (it does not even
// exist on the target), as on PostgreSQL.
TEST_F(apply_role, refresh_publication_copies_added_tables) {
  ASSERT_TRUE(
      upstream_->query(std::string(tables_sql) + rows_sql +
                       "CREATE PUBLICATION pub FOR TABLE accounts, events;"));
  start_apply_node();
  auto made = walmux_sql(
      "CREATE SUBSCRIPTION s7 CONNECTION '" + upstream_->conninfo() +
      "' PUBLICATION pub WITH (target = '" + target_->conninfo() + "')");
  ASSERT_TRUE(made) << made.err().message;
  EXPECT_TRUE(wait_until([&] { return ready("s7", 2); }, 120s)) << node_->log();
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM notes"), "0");
  start_load(*upstream_, 200);
  ASSERT_TRUE(upstream_->query("CREATE TABLE unrefreshed (id int PRIMARY KEY);"
                               "ALTER PUBLICATION pub ADD TABLE notes;"));
  auto refreshed = walmux_sql("ALTER SUBSCRIPTION s7 REFRESH PUBLICATION");
  ASSERT_TRUE(refreshed) << refreshed.err().message;
  ASSERT_TRUE(upstream_->query("ALTER PUBLICATION pub ADD TABLE unrefreshed;"
                               "INSERT INTO unrefreshed VALUES (1);"));
  EXPECT_TRUE(wait_until([&] { return ready("s7", 3); }, 120s)) << node_->log();
  std::this_thread::sleep_for(2s);
  stop_load();
  expect_target_equal(60s);
  EXPECT_EQ(walmux_value("SELECT apply_error_count FROM "
                         "pg_stat_subscription_stats WHERE subname = 's7'"),
            "0")
      << node_->log();
}

// Crashes of the target (an immediate stop: commits it had not flushed are
// lost, and the apply runs with synchronous_commit = off) and of the source
// during a write load: apply resumes from the target's committed progress,
// and the target ends equal to the upstream. (What this cannot show: that
// walmux confirms to the source only what the target flushed. An immediate
// stop loses only WAL not yet written to the OS, a partial page at most, so
// the test also passes with that tracking removed; checked.)
TEST_F(apply_role, survives_crashes_of_the_target_and_the_source) {
  ASSERT_TRUE(upstream_->query(std::string(tables_sql) + rows_sql +
                               "CREATE PUBLICATION pub FOR TABLE accounts, "
                               "notes, events;"));
  start_apply_node();
  auto made = walmux_sql(
      "CREATE SUBSCRIPTION s8 CONNECTION '" + upstream_->conninfo() +
      "' PUBLICATION pub WITH (target = '" + target_->conninfo() + "')");
  ASSERT_TRUE(made) << made.err().message;
  EXPECT_TRUE(wait_until([&] { return ready("s8", 3); }, 120s)) << node_->log();
  start_load(*upstream_, 300);
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(2s);
    ASSERT_TRUE(target_->crash_restart());
  }
  for (int i = 0; i < 2; ++i) {
    std::this_thread::sleep_for(2s);
    stop_load(); // pgbench ends when its server goes away
    ASSERT_TRUE(upstream_->crash_restart());
    start_load(*upstream_, 300);
  }
  std::this_thread::sleep_for(2s);
  stop_load();
  expect_target_equal(120s);
  EXPECT_GT(std::stol(walmux_value("SELECT apply_error_count FROM "
                                   "pg_stat_subscription_stats WHERE subname "
                                   "= 's8'")),
            0); // the lost connections were seen and retried
}

// The statements' errors, as PostgreSQL words them where it has them; and a
// subscription to a slot that exists already (create_slot = false).
TEST_F(apply_role, statement_errors_and_an_existing_slot) {
  ASSERT_TRUE(upstream_->query(std::string(tables_sql) +
                               "CREATE PUBLICATION pub FOR ALL TABLES"));
  start_apply_node();
  const std::string head = "CREATE SUBSCRIPTION e CONNECTION '" +
                           upstream_->conninfo() + "' PUBLICATION pub WITH (";
  const std::string target = "target = '" + target_->conninfo() + "'";
  auto code = [&](const std::string& sql) {
    auto r = walmux_sql(sql);
    return r ? std::string("ok") : r.err().code;
  };
  EXPECT_EQ(code(head + "copy_data = false)"), "42601"); // no target
  EXPECT_EQ(code(head + target + ", streaming = parallel)"), "0A000");
  EXPECT_EQ(code(head + target + ", nonsense = 1)"), "42601");
  EXPECT_EQ(code("CREATE SUBSCRIPTION e CONNECTION 'host=127.0.0.1 port=1' "
                 "PUBLICATION pub WITH (" +
                 target + ")"),
            "08006");
  EXPECT_EQ(code("BEGIN; " + head + target + ", copy_data = false); COMMIT"),
            "25001");
  EXPECT_EQ(code(head + target + ", copy_data = false)"), "ok");
  EXPECT_EQ(code(head + target + ", copy_data = false)"), "42710");
  EXPECT_EQ(code("ALTER SUBSCRIPTION e SET (slot_name = NONE)"), "55000");
  // As in PostgreSQL 15, two_phase is chosen at CREATE only.
  EXPECT_EQ(code("ALTER SUBSCRIPTION e SET (two_phase = true)"), "42601");
  EXPECT_EQ(code("ALTER SUBSCRIPTION nope ENABLE"), "42704");
  EXPECT_EQ(code("DROP SUBSCRIPTION nope"), "42704");
  EXPECT_EQ(code("DROP SUBSCRIPTION IF EXISTS nope"), "ok");
  EXPECT_EQ(code("DROP SUBSCRIPTION e"), "ok");
  EXPECT_EQ(one_value(*upstream_, "SELECT count(*) FROM pg_replication_slots"),
            "0");
  // two_phase waits for the initial copy ('p'); without two_phase 'd'.
  EXPECT_EQ(code(head + target + ", enabled = false, two_phase = true)"), "ok");
  EXPECT_EQ(walmux_value("SELECT subtwophasestate FROM pg_subscription"), "p");
  EXPECT_EQ(code("DROP SUBSCRIPTION e"), "ok");
  EXPECT_EQ(code(head + target + ", enabled = false)"), "ok");
  EXPECT_EQ(walmux_value("SELECT subtwophasestate FROM pg_subscription"), "d");
  EXPECT_EQ(code("DROP SUBSCRIPTION e"), "ok");

  ASSERT_TRUE(upstream_->query(
      "SELECT pg_create_logical_replication_slot('made_before', 'pgoutput')"));
  ASSERT_TRUE(upstream_->query("INSERT INTO accounts VALUES (1, 10)"));
  EXPECT_EQ(code(head + target +
                 ", create_slot = false, copy_data = false, slot_name = "
                 "made_before)"),
            "ok");
  EXPECT_TRUE(wait_until(
      [&] {
        return one_value(*target_, "SELECT count(*) FROM accounts") == "1";
      },
      60s))
      << node_->log();
  EXPECT_EQ(walmux_value("SELECT srsubstate FROM pg_subscription_rel WHERE "
                         "srrelname = 'public.accounts'"),
            "r");
}

// A target role that is not a superuser (a managed service's owner): no
// replication origin and no session_replication_role, so the progress is
// kept in public.walmux_apply_progress, in the same transactions as the
// rows; a restart of walmux resumes from it without loss or duplicates.
TEST_F(apply_role, a_non_superuser_target_keeps_progress_in_a_table) {
  ASSERT_TRUE(upstream_->query(std::string(tables_sql) + rows_sql +
                               "CREATE PUBLICATION pub FOR TABLE accounts, "
                               "notes, events;"));
  ASSERT_TRUE(target_->query(
      "CREATE ROLE loader LOGIN; GRANT CREATE ON SCHEMA public TO loader; "
      "GRANT ALL ON ALL TABLES IN SCHEMA public TO loader; "
      "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO loader;"));
  start_apply_node();
  start_load(*upstream_, 200);
  auto made =
      walmux_sql("CREATE SUBSCRIPTION s9 CONNECTION '" + upstream_->conninfo() +
                 "' PUBLICATION pub WITH (target = '" + target_->conninfo() +
                 " user=loader')");
  ASSERT_TRUE(made) << made.err().message;
  EXPECT_TRUE(wait_until([&] { return ready("s9", 3); }, 120s)) << node_->log();
  std::this_thread::sleep_for(2s);
  node_->kill();
  ASSERT_TRUE(node_->start(false)) << node_->log();
  std::this_thread::sleep_for(2s);
  stop_load();
  expect_target_equal(60s);
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM walmux_apply_progress "
                                "WHERE subname = 's9' AND remote_lsn > '0/0'"),
            "1");
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM pg_replication_origin"),
            "0");
  EXPECT_NE(node_->log().find("may not set session_replication_role"),
            std::string::npos);
}

// ALTER SUBSCRIPTION ... RENAME TO: the renamed subscription goes on from
// the target's progress under its first name (its origin walmux_a), with
// its slot, through a SIGKILL under load, without a row applied twice (the
// table without a key would show it); the errors are PostgreSQL's own,
// compared with a real cluster; a new subscription of the old name gets a
// key of its own; DROP of the renamed one drops its origin and slot.
TEST_F(apply_role, rename_keeps_the_target_progress_and_the_slot) {
  ASSERT_TRUE(upstream_->query(std::string(tables_sql) + rows_sql +
                               "CREATE PUBLICATION pub FOR TABLE accounts, "
                               "notes, events;"));
  start_apply_node();
  start_load(*upstream_, 200);
  auto made = walmux_sql("CREATE SUBSCRIPTION a CONNECTION '" +
                         upstream_->conninfo() + "' PUBLICATION pub WITH " +
                         "(target = '" + target_->conninfo() + "')");
  ASSERT_TRUE(made) << made.err().message;
  EXPECT_TRUE(wait_until([&] { return ready("a", 3); }, 120s)) << node_->log();

  auto renamed = walmux_sql("ALTER SUBSCRIPTION a RENAME TO b");
  ASSERT_TRUE(renamed) << renamed.err().message;
  EXPECT_EQ(walmux_value("SELECT subname || ' ' || subslotname FROM "
                         "pg_subscription WHERE subenabled"),
            "b a");
  // The errors, against PostgreSQL's for the same statements.
  ASSERT_TRUE(target_->query("CREATE SUBSCRIPTION b CONNECTION 'dbname=none' "
                             "PUBLICATION pub WITH (connect = false, "
                             "slot_name = NONE)"));
  // libpq's whole text: with a syntax error's position, its "LINE 1:"
  // and cursor.
  auto error_of = [](const expected<rows>& r) {
    return r ? std::string("ok") : r.err().code + " " + r.err().message;
  };
  for (const char* sql :
       {"ALTER SUBSCRIPTION b RENAME TO b", "ALTER SUBSCRIPTION a RENAME TO c",
        "ALTER SUBSCRIPTION b RENAME c", "ALTER SUBSCRIPTION b RENAME TO",
        "  ALTER SUBSCRIPTION \"é\" FLY", "SELECT 1; ALTER SUBSCRIPTION b FLY",
        "ALTER SUBSCRIPTION \"abc RENAME", "ALTER SUBSCRIPTION b SET (x = )"}) {
    const std::string want = error_of(run_query(target_->conninfo(), sql));
    EXPECT_NE(want, "ok") << sql;
    EXPECT_EQ(error_of(walmux_sql(sql)), want) << sql;
  }
  ASSERT_TRUE(target_->query("DROP SUBSCRIPTION b"));

  // Killed under load after the rename: it resumes from the progress it
  // committed as "a".
  std::this_thread::sleep_for(2s);
  node_->kill();
  ASSERT_TRUE(node_->start(false)) << node_->log();
  EXPECT_TRUE(wait_until(
      [&] {
        return walmux_value("SELECT count(*) FROM pg_stat_subscription WHERE "
                            "subname = 'b' AND pid IS NOT NULL") == "1";
      },
      60s))
      << node_->log();
  std::this_thread::sleep_for(2s);
  stop_load();
  expect_target_equal(60s);
  EXPECT_EQ(one_value(*target_, "SELECT string_agg(roname, ',') FROM "
                                "pg_replication_origin"),
            "walmux_a");
  EXPECT_EQ(walmux_value("SELECT external_id FROM "
                         "pg_replication_origin_status"),
            "walmux_a");
  EXPECT_EQ(one_value(*upstream_, "SELECT string_agg(slot_name, ',') FROM "
                                  "pg_replication_slots"),
            "a");
  // Copied once, before the rename: no second copy under the new name.
  const std::string log = node_->log();
  const std::string copied = "table \"accounts\" has finished";
  EXPECT_NE(log.find(copied), std::string::npos) << log;
  EXPECT_EQ(log.find(copied), log.rfind(copied)) << log;

  // A new subscription named "a" (its own slot) takes a key of its own.
  ASSERT_TRUE(upstream_->query("CREATE TABLE extra (id int PRIMARY KEY); "
                               "INSERT INTO extra SELECT generate_series(1, "
                               "100); CREATE PUBLICATION pub2 FOR TABLE "
                               "extra;"));
  ASSERT_TRUE(target_->query("CREATE TABLE extra (id int PRIMARY KEY)"));
  made =
      walmux_sql("CREATE SUBSCRIPTION a CONNECTION '" + upstream_->conninfo() +
                 "' PUBLICATION pub2 WITH (slot_name = a2, target = '" +
                 target_->conninfo() + "')");
  ASSERT_TRUE(made) << made.err().message;
  EXPECT_TRUE(wait_until([&] { return ready("a", 1); }, 60s)) << node_->log();
  ASSERT_TRUE(upstream_->query("INSERT INTO extra VALUES (101)"));
  EXPECT_TRUE(wait_until(
      [&] {
        return one_value(*target_, "SELECT count(*) FROM extra") == "101";
      },
      60s));
  const std::string oid =
      walmux_value("SELECT oid FROM pg_subscription WHERE subname = 'a'");
  EXPECT_TRUE(wait_until(
      [&] {
        return one_value(*target_,
                         "SELECT string_agg(roname, ',' ORDER BY roname) FROM "
                         "pg_replication_origin") == "walmux_a,walmux_a_" + oid;
      },
      30s));

  // DROP of the renamed subscription takes its origin and its slot.
  auto dropped = walmux_sql("DROP SUBSCRIPTION b");
  ASSERT_TRUE(dropped) << dropped.err().message;
  EXPECT_EQ(one_value(*target_, "SELECT string_agg(roname, ',') FROM "
                                "pg_replication_origin"),
            "walmux_a_" + oid);
  EXPECT_EQ(one_value(*upstream_, "SELECT string_agg(slot_name, ',') FROM "
                                  "pg_replication_slots"),
            "a2");
  ASSERT_TRUE(walmux_sql("DROP SUBSCRIPTION a"));
}

// two_phase = true: a transaction prepared upstream is prepared on the
// target (a prepared transaction of walmux's name, not visible) and
// committed or rolled back there when the publisher's COMMIT PREPARED or
// ROLLBACK PREPARED arrives; walmux killed while one is prepared; a large
// prepared transaction streamed before its PREPARE (streaming = on); one
// prepared before the slot enabled two_phase, which arrives whole with its
// COMMIT PREPARED. With the target's replication origin (superuser) or
// with the progress table (a role without replication rights), where the
// target's pg_prepared_xacts tells a prepare sent again after a kill.
void apply_role::two_phase_case(const std::string& target_user) {
  const char* table = "CREATE TABLE tp (id int PRIMARY KEY, note text);";
  ASSERT_TRUE(target_->query(table));
  for (const auto* c : {upstream_.get(), target_.get()}) {
    ASSERT_TRUE(c->query("ALTER SYSTEM SET max_prepared_transactions = 10"));
    ASSERT_TRUE(c->crash_restart());
  }
  ASSERT_TRUE(
      upstream_->query("ALTER SYSTEM SET logical_decoding_work_mem = '64kB'"));
  ASSERT_TRUE(upstream_->query("SELECT pg_reload_conf()"));
  ASSERT_TRUE(upstream_->query(std::string(table) +
                               "CREATE PUBLICATION pub FOR TABLE tp;"));
  if (!target_user.empty()) {
    ASSERT_TRUE(target_->query("CREATE ROLE " + target_user +
                               " LOGIN; GRANT CREATE ON SCHEMA public TO " +
                               target_user + "; GRANT ALL ON tp TO " +
                               target_user));
  }
  // Prepared before the subscription's slot decodes prepared transactions
  // (the slot is made without two_phase and moved past its PREPARE).
  ASSERT_TRUE(upstream_->query(
      "SELECT pg_create_logical_replication_slot('tp_slot', 'pgoutput')"));
  ASSERT_TRUE(upstream_->query("BEGIN; INSERT INTO tp VALUES (1, 'early'); "
                               "PREPARE TRANSACTION 'early'"));
  ASSERT_TRUE(upstream_->query(
      "SELECT pg_replication_slot_advance('tp_slot', pg_current_wal_lsn())"));
  start_apply_node();
  const std::string user = target_user.empty() ? "" : " user=" + target_user;
  auto made = walmux_sql(
      "CREATE SUBSCRIPTION tp CONNECTION '" + upstream_->conninfo() +
      "' PUBLICATION pub WITH (target = '" + target_->conninfo() + user +
      "', create_slot = false, slot_name = 'tp_slot', copy_data = false, "
      "two_phase = true, streaming = on)");
  ASSERT_TRUE(made) << made.err().message;
  EXPECT_TRUE(wait_until(
      [&] {
        return one_value(*upstream_, "SELECT two_phase FROM "
                                     "pg_replication_slots WHERE slot_name = "
                                     "'tp_slot' AND active") == "t";
      },
      60s))
      << node_->log();
  EXPECT_EQ(walmux_value("SELECT subtwophasestate FROM pg_subscription"), "e");
  auto prepared_on_target = [&] {
    return one_value(*target_, "SELECT count(*) FROM pg_prepared_xacts WHERE "
                               "gid LIKE 'walmux_tp_%'");
  };
  auto count_where = [&](const std::string& cond) {
    return one_value(*target_, "SELECT count(*) FROM tp WHERE " + cond);
  };
  // Prepared upstream: prepared on the target, its row not visible; a
  // transaction committing meanwhile applies.
  const std::string before_p2 =
      one_value(*upstream_, "SELECT pg_current_wal_lsn()");
  ASSERT_TRUE(upstream_->query(
      "SELECT pg_copy_logical_replication_slot('tp_slot', 'tp_again')"));
  ASSERT_TRUE(upstream_->query("BEGIN; INSERT INTO tp VALUES (2, 'two'); "
                               "PREPARE TRANSACTION 'p2'"));
  EXPECT_TRUE(wait_until([&] { return prepared_on_target() == "1"; }, 30s))
      << node_->log();
  // Sent again with the target's progress behind it (as after a crash
  // between a PREPARE and the progress row written after it): found
  // prepared on the target, not prepared twice. (A slot copied before it,
  // and the progress moved back.)
  ASSERT_TRUE(walmux_sql("ALTER SUBSCRIPTION tp DISABLE"));
  auto slot_active = [&](const char* slot) {
    return one_value(*upstream_,
                     std::string("SELECT active FROM pg_replication_slots "
                                 "WHERE slot_name = '") +
                         slot + "'");
  };
  ASSERT_TRUE(wait_until([&] { return slot_active("tp_slot") == "f"; }, 30s));
  ASSERT_TRUE(target_->query(
      target_user.empty()
          ? "SELECT pg_replication_origin_advance('walmux_tp', '" + before_p2 +
                "')"
          : "UPDATE walmux_apply_progress SET remote_lsn = '" + before_p2 +
                "'"));
  ASSERT_TRUE(walmux_sql("ALTER SUBSCRIPTION tp SET (slot_name = 'tp_again')"));
  ASSERT_TRUE(walmux_sql("ALTER SUBSCRIPTION tp ENABLE"));
  EXPECT_TRUE(wait_until([&] { return slot_active("tp_again") == "t"; }, 30s));
  ASSERT_TRUE(upstream_->query("INSERT INTO tp VALUES (3, 'three')"));
  EXPECT_TRUE(wait_until([&] { return count_where("id = 3") == "1"; }, 30s))
      << node_->log();
  EXPECT_EQ(count_where("id = 2"), "0");
  // Killed while it is prepared: after the restart it is neither lost nor
  // prepared twice.
  node_->kill();
  ASSERT_TRUE(node_->start(false)) << node_->log();
  ASSERT_TRUE(upstream_->query("COMMIT PREPARED 'p2'"));
  EXPECT_TRUE(wait_until([&] { return count_where("id = 2") == "1"; }, 30s))
      << node_->log();
  EXPECT_EQ(prepared_on_target(), "0");
  // Rolled back upstream: rolled back on the target.
  ASSERT_TRUE(upstream_->query("BEGIN; INSERT INTO tp VALUES (4, 'four'); "
                               "PREPARE TRANSACTION 'p4'"));
  EXPECT_TRUE(wait_until([&] { return prepared_on_target() == "1"; }, 30s))
      << node_->log();
  ASSERT_TRUE(upstream_->query("ROLLBACK PREPARED 'p4'"));
  EXPECT_TRUE(wait_until([&] { return prepared_on_target() == "0"; }, 30s))
      << node_->log();
  // Larger than logical_decoding_work_mem: streamed, then Stream Prepare.
  ASSERT_TRUE(upstream_->query(
      "BEGIN; INSERT INTO tp SELECT g, repeat('x', 40) FROM "
      "generate_series(1000, 6999) g; PREPARE TRANSACTION 'big'"));
  EXPECT_TRUE(wait_until([&] { return prepared_on_target() == "1"; }, 60s))
      << node_->log();
  EXPECT_EQ(count_where("id >= 1000"), "0");
  EXPECT_EQ(one_value(*upstream_, "SELECT sum(stream_txns) > 0 FROM "
                                  "pg_stat_replication_slots"),
            "t");
  node_->kill();
  ASSERT_TRUE(node_->start(false)) << node_->log();
  ASSERT_TRUE(upstream_->query("COMMIT PREPARED 'big'"));
  // Prepared before two_phase was enabled: all of it arrives now.
  ASSERT_TRUE(upstream_->query("COMMIT PREPARED 'early'"));
  ASSERT_TRUE(upstream_->query("INSERT INTO tp VALUES (5, 'last')"));
  EXPECT_TRUE(wait_until([&] { return count_where("id = 5") == "1"; }, 60s))
      << node_->log();
  EXPECT_EQ(table_digest(*target_, "tp", "id"),
            table_digest(*upstream_, "tp", "id"));
  EXPECT_EQ(count_where("true"), "6004");
  EXPECT_EQ(prepared_on_target(), "0");
  // No more copies once prepared transactions are decoded.
  auto refused = walmux_sql("ALTER SUBSCRIPTION tp REFRESH PUBLICATION");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.err().code, "55000");
  EXPECT_NE(refused.err().message.find("not allowed when two_phase is enabled"),
            std::string::npos);
  auto refreshed = walmux_sql(
      "ALTER SUBSCRIPTION tp REFRESH PUBLICATION WITH (copy_data = false)");
  EXPECT_TRUE(refreshed) << refreshed.err().message;
  EXPECT_EQ(one_value(*target_, "SELECT count(*) FROM pg_replication_origin"),
            target_user.empty() ? "1" : "0");
}

TEST_F(apply_role, two_phase_with_the_target_origin) {
  two_phase_case("");
}

TEST_F(apply_role, two_phase_with_the_progress_table) {
  two_phase_case("loader");
}

} // namespace
} // namespace walmux::testing
