// command_line_test.cpp: walmux's command line.
#include "tools/walmux/command_line.hpp"

#include <gtest/gtest.h>

namespace walmux::tools {
namespace {

expected<command_line> parse(std::vector<const char*> args,
                             const char* env = nullptr) {
  args.insert(args.begin(), "walmux");
  return parse_command_line(static_cast<int>(args.size()), args.data(), env);
}

TEST(command_line, run_with_data_dir_and_overrides) {
  auto cl = parse({"-D", "/d", "-c", "port=6000", "-cmax_wal_senders=3",
                   "--wal-sender-timeout=5s"});
  ASSERT_TRUE(cl) << cl.err().message;
  EXPECT_EQ(cl->cmd, command::run);
  EXPECT_EQ(cl->data_dir, "/d");
  using kv = std::pair<std::string, std::string>;
  EXPECT_EQ(cl->overrides, (std::vector<kv>{{"port", "6000"},
                                            {"max_wal_senders", "3"},
                                            {"wal_sender_timeout", "5s"}}));
}

TEST(command_line, init_and_data_dir_spellings) {
  auto a = parse({"init", "-D/x"});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->cmd, command::init);
  EXPECT_EQ(a->data_dir, "/x");
  auto b = parse({"--datadir=/y"});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->data_dir, "/y");
  auto c = parse({}, "/from/env");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->data_dir, "/from/env");
  auto d = parse({"-D", "/flag"}, "/from/env");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->data_dir, "/flag");
}

TEST(command_line, informational_commands_need_no_data_dir) {
  EXPECT_EQ(parse({"--version"})->cmd, command::version);
  EXPECT_EQ(parse({"-V"})->cmd, command::version);
  EXPECT_EQ(parse({"--help"})->cmd, command::help);
  auto dc = parse({"--describe-config", "--markdown"});
  ASSERT_TRUE(dc);
  EXPECT_EQ(dc->cmd, command::describe_config);
  EXPECT_TRUE(dc->markdown);
}

TEST(command_line, show_config_needs_a_name_and_a_data_dir) {
  auto cl = parse({"-C", "wal_level", "-D", "/d"});
  ASSERT_TRUE(cl);
  EXPECT_EQ(cl->cmd, command::show_config);
  EXPECT_EQ(cl->show_name, "wal_level");
  EXPECT_FALSE(parse({"-C", "all"}));
  EXPECT_FALSE(parse({"-D", "/d", "-C"}));
}

TEST(command_line, errors_are_clear) {
  auto none = parse({});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.err().message, "no data directory specified");
  auto bad = parse({"-D", "/d", "--bogus"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.err().message, "--bogus requires a value");
  auto stray = parse({"-D", "/d", "extra"});
  ASSERT_FALSE(stray);
  EXPECT_EQ(stray.err().message, "invalid argument: \"extra\"");
  EXPECT_EQ(stray.err().hint, "Try \"walmux --help\" for more information.");
  EXPECT_FALSE(parse({"-D"}));
  auto novalue = parse({"-D", "/d", "-c", "port"});
  ASSERT_FALSE(novalue);
  EXPECT_EQ(novalue.err().message, "-c port requires a value");
}

} // namespace
} // namespace walmux::tools
