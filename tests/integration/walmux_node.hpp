// walmux_node.hpp: a walmux node as a child process for integration tests:
// init a data directory with settings, start it on a free port, wait for
// its log lines, stop it cleanly or kill it, start it again.
#pragma once

#include "tests/support/process.hpp"

#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

namespace walmux::testing {

class walmux_node {
 public:
  // `settings`: name=value pairs given to walmux init as -c.
  walmux_node(const std::string& dir, std::vector<std::string> settings)
      : dir_(dir + "/walmux")
      , log_(dir + "/walmux.log") {
    port_ = free_tcp_port();
    settings.push_back("port=" + std::to_string(port_));
    std::vector<std::string> argv = {WALMUX_BINARY, "init", "-D", dir_};
    for (const auto& s : settings) {
      argv.push_back("-c");
      argv.push_back(s);
    }
    auto init = spawn(argv, dir + "/init.log");
    init_ok_ = wait_exit(init.pid, std::chrono::seconds(60)) == 0;
  }
  ~walmux_node() { kill(); }

  bool initialized() const { return init_ok_; }
  int port() const { return port_; }
  const std::string& log_path() const { return log_; }
  const std::string& data_dir() const { return dir_; }
  std::string log() const { return read_file(log_); }
  pid_t pid() const { return child_.pid; }
  std::string conninfo(bool replication = true) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) +
           " user=postgres dbname=postgres" +
           (replication ? " replication=database" : "");
  }

  // Starts the node and waits until it runs (and, with `wait_streaming`,
  // until its source streams from the upstream).
  bool start(bool wait_streaming = true) {
    size_t before = log().size();
    child_ = spawn({WALMUX_BINARY, "-D", dir_}, log_);
    return wait_until(
        [&] {
          auto text = log();
          if (text.size() < before)
            return false;
          auto tail = text.substr(before);
          return tail.find("walmux node is running") != std::string::npos &&
                 (!wait_streaming ||
                  tail.find("started streaming from upstream slot") !=
                      std::string::npos);
        },
        std::chrono::seconds(60));
  }
  // SIGTERM and wait; true when it exited with 0.
  bool stop() {
    if (child_.pid <= 0)
      return true;
    ::kill(child_.pid, SIGTERM);
    auto code = wait_exit(child_.pid, std::chrono::seconds(60));
    child_.pid = -1;
    return code == 0;
  }
  // SIGKILL and reap.
  void kill() {
    if (child_.pid <= 0)
      return;
    ::kill(child_.pid, SIGKILL);
    (void)wait_exit(child_.pid, std::chrono::seconds(30));
    child_.pid = -1;
  }
  // Starts a node that streams `publications` from `upstream_conninfo`,
  // with `extra` settings after the required ones; false (with the test
  // failed) when init or start fails.
  static std::unique_ptr<walmux_node>
  streaming_from(const std::string& dir, const std::string& upstream_conninfo,
                 const std::string& publications,
                 std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), {"rds.logical_replication=on",
                                 "upstream_conninfo=" + upstream_conninfo,
                                 "upstream_publications=" + publications});
    auto node = std::make_unique<walmux_node>(dir, extra);
    EXPECT_TRUE(node->initialized());
    EXPECT_TRUE(node->start()) << node->log();
    return node;
  }

  // VmRSS of the running node in kB (0 when unknown).
  long rss_kb() const {
    auto status = read_file("/proc/" + std::to_string(child_.pid) + "/status");
    auto at = status.find("VmRSS:");
    return at == std::string::npos ? 0 : std::atol(status.c_str() + at + 6);
  }

 private:
  std::string dir_;
  std::string log_;
  int port_ = 0;
  bool init_ok_ = false;
  child_process child_;
};

// GET /metrics from 127.0.0.1:port; the body, or "" on failure.
inline std::string scrape(int port) {
  const int fd = connect_loopback(port);
  if (fd < 0)
    return "";
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  (void)!::write(fd, request.data(), request.size());
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0)
    response.append(buf, static_cast<size_t>(n));
  ::close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.1 200", 0) != 0 || body == std::string::npos)
    return "";
  return response.substr(body + 4);
}

// The value of the sample `series` (name and labels as printed), or -1.
inline double metric(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos)
    return -1;
  return std::atof(text.c_str() + at + series.size() + 2);
}

} // namespace walmux::testing
