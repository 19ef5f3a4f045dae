// walmux_cli_test.cpp: the walmux executable as a DBA uses it: init, start,
// SIGHUP reload, SIGTERM/SIGINT shutdown, restart, a second walmux on the
// same directory, and clear failures for bad configuration or directories.
#include "tests/support/pg_cluster.hpp"
#include "tests/support/process.hpp"

#include <csignal>
#include <fstream>

#include <gtest/gtest.h>

namespace walmux::testing {
namespace {

using namespace std::chrono_literals;

const std::string walmux_binary = WALMUX_BINARY;

struct run_result {
  int exit_code = -1;
  std::string output;
};

// Runs walmux to completion (bounded by a deadline).
run_result run(const std::vector<std::string>& args, const std::string& out) {
  std::vector<std::string> argv = {walmux_binary};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = spawn(argv, out);
  run_result r;
  auto code = wait_exit(child.pid, 60s);
  if (!code) {
    ::kill(child.pid, SIGKILL);
    (void)wait_exit(child.pid, 10s);
  }
  r.exit_code = code.value_or(-1);
  r.output = read_file(out);
  return r;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class walmux_cli : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = tmp_.path() + "/data";
    auto r = run({"init", "-D", data_}, tmp_.path() + "/init.out");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    port_ = free_tcp_port();
    ASSERT_GT(port_, 0);
    append_conf("port = " + std::to_string(port_) + "\n");
  }

  // Starts a node and waits until it reports that it runs.
  child_process start_node(const std::string& log,
                           std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {walmux_binary, "-D", data_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto child = spawn(argv, log);
    EXPECT_TRUE(wait_until(
        [&] { return contains(read_file(log), "walmux node is running"); },
        30s))
        << read_file(log);
    return child;
  }

  void append_conf(const std::string& text) {
    std::ofstream(data_ + "/walmux.conf", std::ios::app) << text;
  }

  temp_dir tmp_;
  std::string data_;
  int port_ = 0;
};

TEST_F(walmux_cli, init_writes_generated_conf_and_refuses_to_overwrite) {
  auto conf = read_file(data_ + "/walmux.conf");
  EXPECT_TRUE(contains(conf, "\nrds.logical_replication = on\n"));
  EXPECT_TRUE(contains(conf, "\n#max_wal_senders = 20\n"));
  EXPECT_TRUE(contains(conf, "\n#port = 5433\n"));
  EXPECT_TRUE(contains(read_file(tmp_.path() + "/init.out"),
                       "Success. You can now start walmux with:"));
  auto again = run({"init", "-D", data_}, tmp_.path() + "/again.out");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(contains(again.output, "exists but is not empty"))
      << again.output;
}

TEST_F(walmux_cli, show_config_prints_effective_values) {
  auto level = run({"-C", "wal_level", "-D", data_}, tmp_.path() + "/w");
  EXPECT_EQ(level.exit_code, 0);
  EXPECT_EQ(level.output,
            "logical\n"); // init writes rds.logical_replication = on
  auto off =
      run({"-C", "wal_level", "-D", data_, "-c", "rds.logical_replication=off"},
          tmp_.path() + "/o");
  EXPECT_EQ(off.output, "replica\n");
  auto all = run({"-C", "all", "-D", data_, "-c", "shared_buffers=1GB"},
                 tmp_.path() + "/a");
  EXPECT_EQ(all.exit_code, 0);
  EXPECT_TRUE(contains(all.output, "rds.logical_wal_cache = 32MB\n"))
      << all.output;
  EXPECT_TRUE(contains(all.output, "wal_sender_timeout = 1min\n"))
      << all.output;
  auto unknown = run({"-C", "nope", "-D", data_}, tmp_.path() + "/u");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_TRUE(
      contains(unknown.output, "unrecognized configuration parameter \"nope\""))
      << unknown.output;
}

TEST_F(walmux_cli, start_reload_sigterm_restart) {
  std::string log = tmp_.path() + "/node.log";
  auto node = start_node(log, {"-c", "port=" + std::to_string(port_)});
  ASSERT_GT(node.pid, 0);
  auto text = read_file(log);
  EXPECT_TRUE(contains(text, "] LOG:  starting walmux ")) << text;
  EXPECT_TRUE(contains(text, "wal_level logical")) << text;
  EXPECT_TRUE(contains(text, "write-through WAL cache 4MB")) << text;
  EXPECT_TRUE(testing::path_exists(data_ + "/walmux.pid"));

  // SIGHUP: reloadable parameters change, restart-only ones are reported.
  append_conf("wal_sender_timeout = 30s\nmax_wal_senders = 3\n");
  ::kill(node.pid, SIGHUP);
  EXPECT_TRUE(wait_until(
      [&] {
        auto t = read_file(log);
        return contains(
                   t, "parameter \"wal_sender_timeout\" changed to \"30s\"") &&
               contains(t, "parameter \"max_wal_senders\" cannot be changed "
                           "without restarting the server");
      },
      30s))
      << read_file(log);

  // A bad edit is reported and changes nothing; the node keeps running.
  append_conf("wal_sender_timeout = soon\n");
  ::kill(node.pid, SIGHUP);
  EXPECT_TRUE(wait_until(
      [&] {
        return contains(read_file(log),
                        "contains errors; no changes were applied");
      },
      30s))
      << read_file(log);
  EXPECT_TRUE(process_alive(node.pid));

  ::kill(node.pid, SIGTERM);
  auto code = wait_exit(node.pid, 30s);
  ASSERT_TRUE(code.has_value()) << "walmux did not exit on SIGTERM";
  EXPECT_EQ(*code, 0);
  text = read_file(log);
  EXPECT_TRUE(contains(text, "LOG:  received smart shutdown request")) << text;
  EXPECT_TRUE(contains(text, "LOG:  walmux is shut down")) << text;
  EXPECT_FALSE(testing::path_exists(data_ + "/walmux.pid"));

  // The bad line is still in the file: starting now fails with file and line.
  auto bad = run({"-D", data_}, tmp_.path() + "/bad.log");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(contains(bad.output, "FATAL:  invalid value for parameter "
                                   "\"wal_sender_timeout\": \"soon\""))
      << bad.output;
  EXPECT_TRUE(contains(bad.output, "CONTEXT:  line ")) << bad.output;
  EXPECT_TRUE(contains(bad.output,
                       "of configuration file \"" + data_ + "/walmux.conf\""))
      << bad.output;
}

TEST_F(walmux_cli,
       restart_keeps_system_identifier_and_sigint_is_fast_shutdown) {
  auto id_of = [](const std::string& log) {
    auto pos = log.find("system identifier ");
    return pos == std::string::npos
               ? std::string()
               : log.substr(pos + 18, log.find(',', pos) - pos - 18);
  };
  std::string log1 = tmp_.path() + "/1.log";
  auto first = start_node(log1);
  ::kill(first.pid, SIGINT);
  ASSERT_EQ(wait_exit(first.pid, 30s).value_or(-1), 0);
  EXPECT_TRUE(contains(read_file(log1), "received fast shutdown request"));

  std::string log2 = tmp_.path() + "/2.log";
  auto second = start_node(log2);
  ::kill(second.pid, SIGTERM);
  ASSERT_EQ(wait_exit(second.pid, 30s).value_or(-1), 0);
  EXPECT_FALSE(id_of(read_file(log1)).empty());
  EXPECT_EQ(id_of(read_file(log1)), id_of(read_file(log2)));
}

TEST_F(walmux_cli, second_walmux_on_same_directory_fails_clearly) {
  std::string log = tmp_.path() + "/node.log";
  auto node = start_node(log);
  auto second = run({"-D", data_}, tmp_.path() + "/second.log");
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_TRUE(contains(second.output,
                       "FATAL:  lock file \"walmux.pid\" already exists"))
      << second.output;
  EXPECT_TRUE(contains(second.output, "HINT:  Is another walmux (PID " +
                                          std::to_string(node.pid) + ")"))
      << second.output;
  EXPECT_TRUE(process_alive(node.pid));
  ::kill(node.pid, SIGTERM);
  EXPECT_EQ(wait_exit(node.pid, 30s).value_or(-1), 0);
}

TEST_F(walmux_cli, bad_command_line_values_and_cross_rules_fail_at_start) {
  auto range =
      run({"-D", data_, "-c", "max_wal_senders=-5"}, tmp_.path() + "/r.log");
  EXPECT_EQ(range.exit_code, 1);
  EXPECT_TRUE(contains(range.output,
                       "FATAL:  -5 is outside the valid range for parameter "
                       "\"max_wal_senders\" (0 .. 262143)"))
      << range.output;
  auto cross = run({"-D", data_, "-c", "max_logical_replication_workers=100",
                    "-c", "max_worker_processes=8"},
                   tmp_.path() + "/c.log");
  EXPECT_EQ(cross.exit_code, 1);
  EXPECT_TRUE(
      contains(cross.output, "must not exceed \"max_worker_processes\""))
      << cross.output;
  auto segsize =
      run({"-D", data_, "-c", "wal_segment_size=16MB"}, tmp_.path() + "/s.log");
  EXPECT_EQ(segsize.exit_code, 1);
  EXPECT_TRUE(contains(segsize.output, "initialized with wal_segment_size"))
      << segsize.output;
}

// A data directory initialized with 16MB segments (the default before
// 64MB) whose walmux.conf does not set wal_segment_size starts with the
// size it was made with, and a reload reports no change of it.
TEST(walmux_cli_plain, segment_size_comes_from_the_data_directory) {
  temp_dir tmp;
  const std::string data = tmp.path() + "/data";
  auto init = run({"init", "-D", data, "-c", "wal_segment_size=16MB"},
                  tmp.path() + "/init.out");
  ASSERT_EQ(init.exit_code, 0) << init.output;
  std::string conf = read_file(data + "/walmux.conf");
  const auto set = conf.find("\nwal_segment_size = ");
  ASSERT_NE(set, std::string::npos) << conf;
  conf.insert(set + 1, "#");
  const int port = free_tcp_port();
  conf += "port = " + std::to_string(port) + "\n";
  std::ofstream(data + "/walmux.conf", std::ios::trunc) << conf;
  const std::string log = tmp.path() + "/node.log";
  auto node = spawn({walmux_binary, "-D", data}, log);
  ASSERT_TRUE(wait_until(
      [&] { return contains(read_file(log), "walmux node is running"); }, 30s))
      << read_file(log);
  const std::string at = "host=127.0.0.1 port=" + std::to_string(port) +
                         " user=postgres dbname=postgres";
  auto shown = run_query(at, "SELECT setting, source FROM pg_settings WHERE "
                             "name = 'wal_segment_size'");
  ASSERT_TRUE(shown) << shown.err().message;
  EXPECT_EQ(*shown, (rows{{"16777216", "default"}}));
  ::kill(node.pid, SIGHUP);
  EXPECT_TRUE(wait_until(
      [&] { return contains(read_file(log), "reloading configuration"); },
      30s));
  ASSERT_TRUE(run_query(at, "SELECT 1")); // the reload is done
  EXPECT_FALSE(contains(read_file(log), "\"wal_segment_size\""))
      << read_file(log);
  ::kill(node.pid, SIGTERM);
  EXPECT_EQ(wait_exit(node.pid, 30s).value_or(-1), 0);
}

TEST(walmux_cli_plain, uninitialized_directory_and_usage_errors) {
  temp_dir data; // exists, mode 0700, but was never initialized
  temp_dir out;
  auto r = run({"-D", data.path()}, out.path() + "/r");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.output, "FATAL:  \"" + data.path() +
                                     "\" is not a valid walmux data directory"))
      << r.output;
  auto missing = run({"-D", data.path() + "/none"}, out.path() + "/m");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(contains(missing.output, "does not exist")) << missing.output;

  auto version = run({"--version"}, out.path() + "/v");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_TRUE(contains(version.output, "walmux ")) << version.output;
  auto usage = run({"--nonsense"}, out.path() + "/u");
  EXPECT_EQ(usage.exit_code, 1);
  EXPECT_TRUE(contains(usage.output, "Try \"walmux --help\"")) << usage.output;
  auto init_bad =
      run({"init", "-D", out.path() + "/d", "-c", "port=0"}, out.path() + "/i");
  EXPECT_EQ(init_bad.exit_code, 1);
  EXPECT_TRUE(contains(init_bad.output, "outside the valid range"))
      << init_bad.output;
  EXPECT_FALSE(path_exists(out.path() + "/d"));
}

} // namespace
} // namespace walmux::testing
