// log_test.cpp: server log lines in PostgreSQL's style, level filtering in
// log_min_messages order, and level names.
#include "common/log.hpp"
#include "tests/support/process.hpp"

#include <fcntl.h>
#include <regex>
#include <unistd.h>

#include <gtest/gtest.h>

namespace walmux {
namespace {

class log_capture : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/log";
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd_, 0);
    log_set_fd(fd_);
  }
  void TearDown() override {
    log_set_fd(2);
    log_set_min_level(elevel::warning);
    ::close(fd_);
  }
  std::string text() const { return testing::read_file(path_); }

  testing::temp_dir dir_;
  std::string path_;
  int fd_ = -1;
};

TEST_F(log_capture, lines_follow_postgres_prefix_and_labels) {
  log_error(elevel::fatal,
            error{sqlstate::invalid_parameter_value, "bad value"}
                .with_detail("Some detail.")
                .with_hint("Some hint.")
                .with_context("line 3 of configuration file \"x\""));
  std::string pid = std::to_string(::getpid());
  std::regex prefix(
      "^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}\\.\\d{3} UTC \\[" + pid +
      "\\] ");
  std::vector<std::string> lines;
  std::string all = text();
  for (size_t pos = 0, nl; (nl = all.find('\n', pos)) != std::string::npos;
       pos = nl + 1)
    lines.push_back(all.substr(pos, nl - pos));
  ASSERT_EQ(lines.size(), 4u) << all;
  for (const auto& line : lines)
    EXPECT_TRUE(std::regex_search(line, prefix)) << line;
  EXPECT_NE(lines[0].find("] FATAL:  bad value"), std::string::npos);
  EXPECT_NE(lines[1].find("] DETAIL:  Some detail."), std::string::npos);
  EXPECT_NE(lines[2].find("] HINT:  Some hint."), std::string::npos);
  EXPECT_NE(lines[3].find("] CONTEXT:  line 3 of configuration file \"x\""),
            std::string::npos);
}

TEST_F(log_capture, min_level_uses_log_min_messages_order) {
  log_set_min_level(elevel::warning);
  log_message(elevel::info, "hidden info");
  log_message(elevel::log, "shown log"); // LOG ranks above ERROR
  log_message(elevel::warning, "shown warning");
  log_set_min_level(elevel::fatal);
  log_message(elevel::log, "hidden log");
  log_set_min_level(elevel::debug5);
  log_message(elevel::debug3, "shown debug");
  auto t = text();
  EXPECT_EQ(t.find("hidden"), std::string::npos) << t;
  EXPECT_NE(t.find("LOG:  shown log"), std::string::npos);
  EXPECT_NE(t.find("WARNING:  shown warning"), std::string::npos);
  EXPECT_NE(t.find("DEBUG:  shown debug"), std::string::npos);
}

TEST(log_levels, names_map_to_levels) {
  EXPECT_EQ(elevel_from_name("warning", elevel::panic), elevel::warning);
  EXPECT_EQ(elevel_from_name("debug5", elevel::panic), elevel::debug5);
  EXPECT_EQ(elevel_from_name("log", elevel::panic), elevel::log);
  EXPECT_EQ(elevel_from_name("nope", elevel::info), elevel::info);
  EXPECT_EQ(elevel_label(elevel::debug2), "DEBUG");
  EXPECT_EQ(elevel_label(elevel::log), "LOG");
}

} // namespace
} // namespace walmux
