// walsender_clients_test.cpp: walmux as a publisher for clients other than
// subscribers: pg_recvlogical must print byte for byte what it prints when
// reading the upstream directly (pgoutput and the real wal2json plugin), a
// client that never reads costs bounded memory and slows no one else, and
// the limits answer with PostgreSQL's texts and SQLSTATEs.
#include "protocol/frame.hpp"
#include "protocol/lsn.hpp"
#include "protocol/messages.hpp"
#include "protocol/stream.hpp"
#include "tests/integration/walmux_node.hpp"
#include "tests/support/pg_cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <libpq-fe.h>

namespace walmux::testing {
namespace {

using namespace std::chrono_literals;

const std::string pgbin = "/usr/lib/postgresql/15/bin/";

const char* const schema = R"sql(
CREATE TABLE t_int (id int PRIMARY KEY, n numeric(12,3), txt text, bin bytea,
  flag bool, ts timestamptz, j jsonb, arr int[]);
CREATE TABLE t_full (x int, y text);
ALTER TABLE t_full REPLICA IDENTITY FULL;
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN label AS varchar(20);
CREATE TABLE t_dom (id posint PRIMARY KEY, l label, n numeric);
SELECT pg_replication_origin_create('remote_a');
SELECT pg_replication_origin_create('remote_b');
)sql";

const char* const workload = R"sql(
INSERT INTO t_int SELECT g, g / 7.0, 'text ' || g, decode(md5(g::text), 'hex'),
  g % 2 = 0, '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 min',
  jsonb_build_object('k', g), ARRAY[g, g + 1] FROM generate_series(1, 50) g;
INSERT INTO t_int (id) VALUES (1000);
UPDATE t_int SET txt = 'updated' WHERE id < 10;
UPDATE t_int SET id = id + 5000 WHERE id BETWEEN 20 AND 25;
DELETE FROM t_int WHERE id % 7 = 0;
INSERT INTO t_full SELECT g, 'y' || g FROM generate_series(1, 20) g;
UPDATE t_full SET y = 'z' WHERE x < 5;
DELETE FROM t_full WHERE x > 15;
SELECT pg_logical_emit_message(true, 'walmux', 'in a transaction');
SELECT pg_logical_emit_message(false, 'walmux', 'outside');
BEGIN; INSERT INTO t_full VALUES (99, 'with message');
SELECT pg_logical_emit_message(true, 'walmux', 'inside'); COMMIT;
TRUNCATE t_full;
INSERT INTO t_dom VALUES (1, 'one', 1.5), (2, 'two', 'NaN');
UPDATE t_dom SET l = 'uno' WHERE id = 1;
)sql";

// Transactions replayed under replication origins (as an apply worker
// does), each whole under one origin: remote_a is origin 1, remote_b 2.
const char* const origin_workload = R"sql(
DO $$ BEGIN
  PERFORM pg_replication_origin_session_setup('remote_a');
  INSERT INTO t_dom VALUES (3, 'from a', 3);
  COMMIT;
  PERFORM pg_replication_origin_session_reset();
  PERFORM pg_replication_origin_session_setup('remote_b');
  INSERT INTO t_full VALUES (100, 'from b');
  DELETE FROM t_dom WHERE id = 2;
  COMMIT;
  PERFORM pg_replication_origin_session_reset();
  INSERT INTO t_full VALUES (101, 'local again');
END $$;
)sql";

class walsender_clients : public ::testing::Test {
 protected:
  void start(std::vector<std::string> settings = {}) {
    auto up = pg_cluster::start();
    ASSERT_TRUE(up) << up.err().message;
    upstream_ = std::move(*up);
    ASSERT_TRUE(upstream_->query(std::string(schema) +
                                 "CREATE PUBLICATION pub_all FOR TABLE t_int, "
                                 "t_full, t_dom;"));
    node_ = walmux_node::streaming_from(tmp_.path(), upstream_->conninfo(),
                                        "pub_all", settings);
  }

  // Runs pg_recvlogical against `port`; returns its exit code.
  int recvlogical(int port, std::vector<std::string> args,
                  const std::string& name) {
    std::vector<std::string> argv = {pgbin + "pg_recvlogical",
                                     "-h",
                                     "127.0.0.1",
                                     "-p",
                                     std::to_string(port),
                                     "-U",
                                     "postgres",
                                     "-d",
                                     "postgres"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto child = spawn(argv, tmp_.path() + "/" + name + ".log");
    auto code = wait_exit(child.pid, 120s);
    if (!code)
      ::kill(child.pid, SIGKILL);
    return code.value_or(-1);
  }

  temp_dir tmp_;
  std::unique_ptr<pg_cluster> upstream_;
  std::unique_ptr<walmux_node> node_;
};

TEST_F(walsender_clients, pg_recvlogical_prints_what_the_upstream_prints) {
  start();
  struct run {
    std::string slot, plugin;
    std::vector<std::string> options;
  };
  const std::vector<run> runs = {
      {"p1", "pgoutput", {"proto_version=1", "publication_names=pub_all"}},
      {"p3",
       "pgoutput",
       {"proto_version=3", "publication_names=pub_all", "messages=true"}},
      {"w1", "wal2json", {"format-version=1"}},
      {"w1x",
       "wal2json",
       {"format-version=1", "include-xids=1", "include-timestamp=1",
        "include-lsn=1", "include-pk=1", "pretty-print=1"}},
      {"w2", "wal2json", {"format-version=2"}},
      {"w2x",
       "wal2json",
       {"format-version=2", "include-xids=1", "include-timestamp=1",
        "include-lsn=1", "include-type-oids=1", "include-not-null=1",
        "actions=insert,update"}},
      // Origins by id (remote_a is 1, remote_b 2) and domains as their
      // base types.
      {"w1o",
       "wal2json",
       {"format-version=1", "include-origin=1", "include-xids=1",
        "include-domain-data-type=1", "include-type-oids=1"}},
      {"w1of",
       "wal2json",
       {"format-version=1", "include-origin=1", "filter-origins=1",
        "write-in-chunks=1", "include-domain-data-type=1", "include-typmod=0"}},
      {"w2o", "wal2json", {"format-version=2", "include-origin=1"}},
      {"w2of",
       "wal2json",
       {"format-version=2", "filter-origins=2, 5", "include-xids=1",
        "include-domain-data-type=1", "include-type-oids=1"}},
  };
  for (const auto& r : runs) {
    for (int port : {node_->port(), upstream_->port()})
      ASSERT_EQ(recvlogical(port,
                            {"--slot", r.slot, "--create-slot", "-P", r.plugin},
                            "create_" + r.slot),
                0)
          << read_file(tmp_.path() + "/create_" + r.slot + ".log")
          << node_->log();
  }
  ASSERT_TRUE(upstream_->query(workload));
  auto replayed = upstream_->query(origin_workload);
  ASSERT_TRUE(replayed) << replayed.err().message;
  auto end = upstream_->query("SELECT pg_current_wal_lsn()");
  ASSERT_TRUE(end);
  const std::string endpos = (*end)[0][0];
  for (const auto& r : runs) {
    std::string out[2];
    int i = 0;
    for (int port : {node_->port(), upstream_->port()}) {
      std::string file = tmp_.path() + "/" + r.slot + std::to_string(i);
      std::vector<std::string> args = {"--slot", r.slot, "--start", "-E",
                                       endpos,   "-f",   file};
      for (const auto& o : r.options) {
        args.push_back("-o");
        args.push_back(o);
      }
      ASSERT_EQ(recvlogical(port, args, r.slot + std::to_string(i)), 0)
          << read_file(tmp_.path() + "/" + r.slot + std::to_string(i) + ".log")
          << node_->log();
      out[i++] = read_file(file);
    }
    EXPECT_FALSE(out[1].empty()) << r.slot;
    EXPECT_EQ(out[0], out[1]) << "slot " << r.slot << " (" << r.plugin << ")";
  }
}

// A replication client on a raw socket that starts streaming and then never
// reads: its receive buffer is made small so the backlog stays in walmux.
class stalled_client {
 public:
  bool start(int port, const std::string& slot) {
    if (!connect(port))
      return false;
    std::string out;
    wire::encode(out, wire::query{"START_REPLICATION SLOT " + slot +
                                  " LOGICAL 0/0 (proto_version '1', "
                                  "publication_names 'pub_all')"});
    return send_all(out);
  }
  // Connects and logs in as a replication session (or an SQL session).
  bool connect(int port, bool replication = true) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      return false;
    std::string out;
    wire::startup_message startup{
        wire::protocol_3_0, {{"user", "postgres"}, {"database", "postgres"}}};
    if (replication)
      startup.parameters.push_back({"replication", "database"});
    wire::encode(out, startup);
    return send_all(out) && wait_ready();
  }
  // Sends without blocking for long: false once the peer stops taking.
  bool send_some(const std::string& b) {
    size_t done = 0;
    for (int tries = 0; done < b.size() && tries < 50; ++tries) {
      ssize_t n = ::send(fd_, b.data() + done, b.size() - done, MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      ::usleep(10000);
    }
    return done == b.size();
  }
  ~stalled_client() {
    if (fd_ >= 0)
      ::close(fd_);
  }

 private:
  bool send_all(const std::string& b) {
    return ::send(fd_, b.data(), b.size(), 0) == static_cast<ssize_t>(b.size());
  }
  bool wait_ready() {
    wire::frame_reader frames(wire::frame_mode::typed);
    char buf[4096];
    while (true) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0)
        return false;
      frames.feed(std::string_view(buf, static_cast<size_t>(n)));
      while (true) {
        auto f = frames.next();
        if (!f || !*f)
          break;
        if ((*f)->type == 'Z')
          return true;
        if ((*f)->type == 'E')
          return false;
      }
    }
  }

 public:
  // Reads backend messages for up to `timeout`; returns them (type, body)
  // in order, and whether the server closed the connection.
  std::vector<wire::frame> read_for(std::chrono::milliseconds timeout,
                                    bool& closed) {
    std::vector<wire::frame> out;
    closed = false;
    const auto until = std::chrono::steady_clock::now() + timeout;
    char buf[65536];
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0)
        continue;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed = true;
        break;
      }
      reader_.feed(std::string_view(buf, static_cast<size_t>(n)));
      while (true) {
        auto f = reader_.next();
        if (!f || !*f)
          break;
        out.push_back(std::move(**f));
      }
    }
    return out;
  }

 private:
  int fd_ = -1;
  wire::frame_reader reader_{wire::frame_mode::typed};
};

TEST_F(walsender_clients, a_client_that_never_reads_costs_bounded_memory) {
  start({"wal_sender_buffer_size=256kB"});
  auto sub = pg_cluster::start();
  ASSERT_TRUE(sub);
  ASSERT_TRUE((*sub)->query(schema));
  ASSERT_TRUE(run_query(node_->conninfo(),
                        "CREATE_REPLICATION_SLOT stall LOGICAL pgoutput "
                        "(SNAPSHOT 'nothing')"));
  ASSERT_TRUE((*sub)->query("CREATE SUBSCRIPTION live CONNECTION "
                            "'host=127.0.0.1 port=" +
                            std::to_string(node_->port()) +
                            " user=postgres dbname=postgres' PUBLICATION "
                            "pub_all WITH (copy_data = false)"));
  stalled_client stalled;
  ASSERT_TRUE(stalled.start(node_->port(), "stall"));
  ASSERT_TRUE(upstream_->query("INSERT INTO t_full VALUES (0, 'warm up')"));
  const long rss_before = node_->rss_kb();
  // 64MB in 64 transactions; the stalled client gets none of it.
  for (int i = 0; i < 64; ++i)
    ASSERT_TRUE(upstream_->query(
        "INSERT INTO t_full SELECT g, repeat(md5(g::text), 32) FROM "
        "generate_series(" +
        std::to_string(i * 1000 + 1) + ", " + std::to_string(i * 1000 + 1000) +
        ") g"));
  // The live subscriber keeps streaming all of it.
  EXPECT_TRUE(wait_until(
      [&] {
        auto r = (*sub)->query("SELECT count(*) FROM t_full");
        return r && (*r)[0][0] == "64001";
      },
      120s))
      << node_->log();
  const long rss_after = node_->rss_kb();
  const long growth_kb = rss_after - rss_before;
  std::printf("walmux RSS %ld kB -> %ld kB (+%ld kB) after 64MB with a stalled "
              "client\n",
              rss_before, rss_after, growth_kb);
  // Unbounded buffering would hold the stalled client's 64MB backlog.
  EXPECT_LT(growth_kb, 40 * 1024);
  // The stalled session is still there (its slot is active).
  auto active = run_query(node_->conninfo(), "DROP_REPLICATION_SLOT stall");
  ASSERT_FALSE(active);
  EXPECT_EQ(active.err().code, "55006") << active.err().message;
}

TEST_F(walsender_clients, a_client_that_floods_commands_costs_bounded_memory) {
  start({"wal_sender_buffer_size=256kB"});
  stalled_client flood;
  ASSERT_TRUE(flood.connect(node_->port(), false));
  const long rss_before = node_->rss_kb();
  // 300 queries of 100kB each on an SQL session (100kB answers from the SQL
  // surface), and no answer is ever read: 30MB in, 30MB out.
  std::string q;
  wire::encode(q, wire::query{"SELECT '" + std::string(100000, 'x') + "'"});
  for (int i = 0; i < 300 && flood.send_some(q); ++i) {
  }
  // Give walmux time to take what it will take.
  ASSERT_TRUE(
      wait_until([&] { return node_->rss_kb() - rss_before > 64 * 1024; },
                 3s) == false);
  const long growth_kb = node_->rss_kb() - rss_before;
  std::printf("walmux RSS +%ld kB while a client sent 30MB of queries and "
              "read nothing\n",
              growth_kb);
  EXPECT_LT(growth_kb, 24 * 1024);
  // walmux still serves others.
  EXPECT_TRUE(run_query(node_->conninfo(), "IDENTIFY_SYSTEM"));
}

TEST_F(walsender_clients,
       silent_client_is_pinged_then_dropped_at_wal_sender_timeout) {
  start({"wal_sender_timeout=2s"});
  ASSERT_TRUE(run_query(node_->conninfo(),
                        "CREATE_REPLICATION_SLOT quiet LOGICAL pgoutput "
                        "(SNAPSHOT 'nothing')"));
  stalled_client quiet; // reads, but never sends a status update
  ASSERT_TRUE(quiet.start(node_->port(), "quiet"));
  bool closed = false;
  auto frames = quiet.read_for(6s, closed);
  EXPECT_TRUE(closed) << "walmux should drop a client silent for 2s";
  bool copy_both = false, ping = false;
  for (const auto& f : frames) {
    if (f.type == 'W')
      copy_both = true;
    if (f.type == 'd' && !f.body.empty() && f.body[0] == 'k') {
      auto k = stream::decode_server(f.body);
      ASSERT_TRUE(k);
      ping = ping || std::get<stream::keepalive>(*k).reply_requested;
    }
  }
  EXPECT_TRUE(copy_both);
  EXPECT_TRUE(ping) << "a keepalive with reply requested at half the timeout";
  EXPECT_NE(node_->log().find("terminating walsender process due to "
                              "replication timeout"),
            std::string::npos);
  // The slot is free again.
  EXPECT_TRUE(run_query(node_->conninfo(), "DROP_REPLICATION_SLOT quiet"));
}

// The SQL interface to slots (pg_logical_slot_{get,peek}[_binary]_changes,
// pg_replication_slot_advance) on the node answers what the same calls
// answer on the upstream for slots made at the same point: rows (LSN, xid,
// data), the upto limits, consumption and advancing, and the errors.
TEST_F(walsender_clients, sql_functions_read_slots_as_the_upstream_does) {
  // Pieces of 16kB: the 2MB transaction below is read in pieces.
  start({"logical_decoding_work_mem=64kB"});
  const std::string node = node_->conninfo(false);
  const std::string up = upstream_->conninfo();
  for (const auto& c : {node, up})
    for (const char* q :
         {"SELECT * FROM pg_create_logical_replication_slot('sw', 'wal2json')",
          "SELECT * FROM pg_create_logical_replication_slot('sp', "
          "'pgoutput')"}) {
      auto r = run_query(c, q);
      ASSERT_TRUE(r) << r.err().message;
    }
  std::string middle;
  for (const char* q :
       {"INSERT INTO t_full SELECT g, 'a' || g FROM generate_series(1, 5) g",
        "UPDATE t_full SET y = 'b' WHERE x < 3",
        "DELETE FROM t_full WHERE x = 5", "SELECT pg_current_wal_lsn()",
        "SELECT pg_logical_emit_message(false, 'walmux', 'outside')",
        "BEGIN; INSERT INTO t_int (id, txt) VALUES (1, 'one'); SELECT "
        "pg_logical_emit_message(true, 'walmux', 'inside'); COMMIT",
        // After the non-transactional message: wal2json 2.5 writes one that
        // follows a transaction of several changes as {"change":[,{...}]}
        // (its change counter is not reset), which walmux does not copy.
        "INSERT INTO t_full SELECT g, repeat('z', 200) FROM "
        "generate_series(100, 9100) g",
        origin_workload}) {
    auto r = upstream_->query(q);
    ASSERT_TRUE(r) << q << ": " << r.err().message;
    if (std::string(q) == "SELECT pg_current_wal_lsn()")
      middle = (*r)[0][0];
  }
  auto all = [](const std::string& conninfo, const std::string& sql) {
    auto r = run_query(conninfo, sql);
    std::string out;
    if (!r)
      return "error: " + r.err().message;
    for (const auto& row : *r) {
      for (const auto& v : row)
        out += v + "|";
      out += "\n";
    }
    return out;
  };
  const std::string count =
      "SELECT count(*) FROM pg_logical_slot_peek_binary_changes('sp', NULL, "
      "NULL, 'proto_version', '1', 'publication_names', 'pub_all')";
  const std::string want = all(up, count);
  ASSERT_TRUE(wait_until([&] { return all(node, count) == want; }, 60s))
      << all(node, count) << " vs " << want << node_->log();
  for (const std::string& q : std::vector<std::string>{
           // A copy starts where its source is.
           "SELECT slot_name FROM pg_copy_logical_replication_slot('sp', "
           "'sp2')",
           "SELECT lsn, xid, data FROM pg_logical_slot_peek_binary_changes("
           "'sp2', NULL, NULL, 'proto_version', '1', 'publication_names', "
           "'pub_all')",
           "SELECT * FROM pg_copy_logical_replication_slot('sp', 'sp2')",
           "SELECT * FROM pg_copy_logical_replication_slot('nope', 'sp3')",
           "SELECT pg_drop_replication_slot('sp2')",
           "SELECT lsn, xid, data FROM pg_logical_slot_peek_changes('sw', "
           "NULL, NULL, 'format-version', '1', 'include-xids', '1', "
           "'include-origin', '1')",
           "SELECT lsn, xid, data FROM pg_logical_slot_peek_binary_changes("
           "'sp', NULL, NULL, 'proto_version', '1', 'publication_names', "
           "'pub_all', 'messages', 'true')",
           // Format 2 writes Begin under the transaction's first record,
           // which a pgoutput stream does not carry (wal2json.hpp).
           "SELECT data FROM pg_logical_slot_peek_changes('sw', NULL, 3, "
           "'format-version', '2')",
           "SELECT lsn, data FROM pg_logical_slot_peek_changes('sw', '" +
               middle + "', NULL)",
           // Consumed: the next call starts after what this one returned.
           "SELECT data FROM pg_logical_slot_get_changes('sw', NULL, 2)",
           "SELECT xid, data FROM pg_logical_slot_peek_changes('sw', NULL, "
           "NULL)",
           "SELECT confirmed_flush_lsn = (SELECT max(lsn) FROM "
           "pg_logical_slot_get_changes('sw', NULL, 1)) FROM "
           "pg_replication_slots WHERE slot_name = 'sw'",
           "SELECT * FROM pg_replication_slot_advance('sp', '" + middle + "')",
           "SELECT lsn, xid, data FROM pg_logical_slot_get_binary_changes("
           "'sp', NULL, NULL, 'proto_version', '1', 'publication_names', "
           "'pub_all')",
           "SELECT count(*) FROM pg_logical_slot_peek_binary_changes('sp', "
           "NULL, NULL, 'proto_version', '1', 'publication_names', 'pub_all')",
           // Errors, with PostgreSQL's texts.
           "SELECT * FROM pg_logical_slot_peek_changes('sp', NULL, NULL)",
           "SELECT * FROM pg_logical_slot_peek_changes('sw', NULL, NULL, "
           "'format-version')",
           "SELECT * FROM pg_logical_slot_peek_changes('nope', NULL, NULL)",
           "SELECT * FROM pg_logical_slot_peek_binary_changes('sp', NULL, "
           "NULL)",
           "SELECT * FROM pg_logical_slot_peek_binary_changes('sp', NULL, "
           "NULL, 'proto_version', '9', 'publication_names', 'pub_all')",
           "SELECT * FROM pg_logical_slot_peek_binary_changes('sp', NULL, "
           "NULL, 'proto_version', '1', 'streaming', 'on', "
           "'publication_names', 'pub_all')",
           "SELECT * FROM pg_logical_slot_peek_changes('sw', NULL, NULL, "
           "'format-version', '3')",
       }) {
    const std::string theirs = all(up, q);
    EXPECT_FALSE(theirs.empty()) << q;
    EXPECT_EQ(all(node, q), theirs) << q;
  }
  // What get_ and advance moved is saved before they return: a SIGKILL
  // right after loses none of it.
  const std::string rest =
      "SELECT xid, data FROM pg_logical_slot_peek_changes('sw', NULL, NULL)";
  const std::string rest_binary =
      "SELECT lsn, data FROM pg_logical_slot_peek_binary_changes('sp', NULL, "
      "NULL, 'proto_version', '1', 'publication_names', 'pub_all')";
  ASSERT_EQ(all(node, "SELECT count(*) FROM pg_logical_slot_get_changes('sw', "
                      "NULL, 1)"),
            all(up, "SELECT count(*) FROM pg_logical_slot_get_changes('sw', "
                    "NULL, 1)"));
  node_->kill();
  ASSERT_TRUE(node_->start()) << node_->log();
  EXPECT_EQ(all(node, rest), all(up, rest));
  EXPECT_EQ(all(node, rest_binary), all(up, rest_binary));

  auto too_far = all(node, "SELECT pg_replication_slot_advance('sp', '0/1')");
  EXPECT_EQ(
      too_far.rfind(
          "error: ERROR:  cannot advance replication slot to 0/1, minimum is ",
          0),
      0u)
      << too_far;
}

TEST_F(walsender_clients, limits_answer_with_postgresql_texts) {
  start({"max_wal_senders=2", "max_replication_slots=2"});
  const std::string repl = node_->conninfo();
  auto expect_error = [&](const std::string& sql, const std::string& code,
                          const std::string& text) {
    auto r = run_query(repl, sql);
    ASSERT_FALSE(r) << sql;
    EXPECT_EQ(r.err().code, code) << r.err().message;
    EXPECT_NE(r.err().message.find(text), std::string::npos) << r.err().message;
  };
  auto ident = run_query(repl, "IDENTIFY_SYSTEM");
  ASSERT_TRUE(ident) << ident.err().message;
  ASSERT_EQ(ident->size(), 1u);
  ASSERT_EQ((*ident)[0].size(), 4u);
  EXPECT_EQ((*ident)[0][1], "1");
  EXPECT_EQ((*ident)[0][3], "postgres");
  EXPECT_TRUE(lsn_parse((*ident)[0][2])) << (*ident)[0][2];
  ASSERT_TRUE(run_query(repl, "CREATE_REPLICATION_SLOT s1 LOGICAL pgoutput "
                              "(SNAPSHOT 'nothing')"));
  ASSERT_TRUE(run_query(repl, "CREATE_REPLICATION_SLOT s2 LOGICAL wal2json "
                              "(SNAPSHOT 'nothing')"));
  expect_error("CREATE_REPLICATION_SLOT s3 LOGICAL pgoutput", "53400",
               "all replication slots are in use");
  expect_error("CREATE_REPLICATION_SLOT s1 LOGICAL pgoutput", "42710",
               "replication slot \"s1\" already exists");
  expect_error("CREATE_REPLICATION_SLOT s4 LOGICAL nosuch", "58P01",
               "could not access file \"nosuch\"");
  expect_error("START_REPLICATION SLOT nope LOGICAL 0/0 (proto_version '1', "
               "publication_names 'pub_all')",
               "42704", "replication slot \"nope\" does not exist");
  expect_error("DROP_REPLICATION_SLOT nope", "42704",
               "replication slot \"nope\" does not exist");
  expect_error("START_REPLICATION SLOT s1 LOGICAL 0/XYZ (proto_version '1', "
               "publication_names 'pub_all')",
               "42601", "syntax error"); // not an LSN: PostgreSQL's text
  expect_error("START_REPLICATION SLOT s1 LOGICAL 0/0 (proto_version '9', "
               "publication_names 'pub_all')",
               "0A000",
               "client sent proto_version=9 but we only support protocol 3 "
               "or lower");
  expect_error("START_REPLICATION SLOT s1 LOGICAL 0/0 (proto_version '1')",
               "22023", "publication_names parameter missing");
  expect_error("START_REPLICATION SLOT s1 LOGICAL 0/0 (proto_version '1', "
               "publication_names 'other')",
               "42704", "publication \"other\" is not streamed");

  // An active slot cannot be used twice; max_wal_senders = 2 counts both.
  PGconn* first = PQconnectdb(repl.c_str());
  ASSERT_EQ(PQstatus(first), CONNECTION_OK);
  PGresult* res = PQexec(first, "START_REPLICATION SLOT s1 LOGICAL 0/0 "
                                "(proto_version '1', publication_names "
                                "'pub_all')");
  EXPECT_EQ(PQresultStatus(res), PGRES_COPY_BOTH);
  PQclear(res);
  expect_error("START_REPLICATION SLOT s1 LOGICAL 0/0 (proto_version '1', "
               "publication_names 'pub_all')",
               "55006", "replication slot \"s1\" is active for PID");
  expect_error("DROP_REPLICATION_SLOT s1", "55006", "is active for PID");
  PGconn* second = PQconnectdb(repl.c_str());
  ASSERT_EQ(PQstatus(second), CONNECTION_OK);
  PGconn* third = PQconnectdb(repl.c_str());
  EXPECT_EQ(PQstatus(third), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(third))
                .find("number of requested standby connections exceeds "
                      "max_wal_senders (currently 2)"),
            std::string::npos)
      << PQerrorMessage(third);
  PQfinish(third);
  PQfinish(second);
  PQfinish(first);
  // Released at disconnect: DROP ... WAIT succeeds. The node sees the
  // disconnects asynchronously (as PostgreSQL's postmaster sees a backend
  // exit), so the first connection after them may still be over
  // max_wal_senders: retried until then.
  EXPECT_TRUE(wait_until(
      [&] {
        return static_cast<bool>(
            run_query(repl, "DROP_REPLICATION_SLOT s1 WAIT"));
      },
      30s))
      << node_->log();

  // SQL on a replication connection: subscriber catalog queries reach the
  // upstream, nothing that writes does (table_copy_test.cpp has the rest).
  auto pubs = run_query(repl, "SELECT t.pubname FROM pg_catalog.pg_publication "
                              "t WHERE t.pubname IN ('pub_all')");
  ASSERT_TRUE(pubs) << pubs.err().message;
  EXPECT_EQ(pubs->size(), 1u);
  for (const char* write :
       {"INSERT INTO t_full VALUES (1, 'x')", "SELECT 1; DELETE FROM t_full",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SET default_transaction_read_only = off"})
    expect_error(write, "42501",
                 "walmux does not forward this statement to the upstream");
  auto write_cte = run_query(
      repl, "SELECT 1 FROM (SELECT pg_catalog.nextval('no_such_seq')) s");
  EXPECT_FALSE(write_cte);
  auto rows = upstream_->query("SELECT count(*) FROM t_full");
  ASSERT_TRUE(rows);
  EXPECT_EQ((*rows)[0][0], "0");

  // A plain session is served by the SQL surface (admin_sql_test.cpp);
  // physical replication is refused clearly.
  auto plain = run_query(node_->conninfo(false), "SELECT 1 AS one");
  ASSERT_TRUE(plain) << plain.err().message;
  EXPECT_EQ((*plain)[0][0], "1");
  auto physical =
      run_query("host=127.0.0.1 port=" + std::to_string(node_->port()) +
                    " user=postgres dbname=postgres replication=true",
                "IDENTIFY_SYSTEM");
  ASSERT_FALSE(physical);
  EXPECT_NE(physical.err().message.find(
                "walmux does not support physical replication"),
            std::string::npos)
      << physical.err().message;
}

TEST_F(walsender_clients, logical_replication_off_refuses_walsenders) {
  temp_dir dir;
  walmux_node off(dir.path(), {"rds.logical_replication=off"});
  ASSERT_TRUE(off.initialized());
  ASSERT_TRUE(off.start(false)) << off.log();
  auto r = run_query(off.conninfo(), "IDENTIFY_SYSTEM");
  ASSERT_FALSE(r);
  EXPECT_NE(r.err().message.find("logical decoding requires wal_level >= "
                                 "logical"),
            std::string::npos)
      << r.err().message;
}

} // namespace
} // namespace walmux::testing
