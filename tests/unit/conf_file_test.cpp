// conf_file_test.cpp: the postgresql.conf-syntax reader: tokens, quoting,
// comments, PostgreSQL's syntax error texts, include directives.
#include "config/conf_file.hpp"
#include "tests/support/process.hpp"

#include <fstream>
#include <sys/stat.h>

#include <gtest/gtest.h>

namespace walmux::config {
namespace {

std::vector<conf_item> parse_ok(std::string_view text) {
  auto items = conf_parse_text(text, "t.conf");
  EXPECT_TRUE(items) << (items ? "" : items.err().message);
  return items ? *items : std::vector<conf_item>{};
}

std::string parse_error(std::string_view text) {
  auto items = conf_parse_text(text, "t.conf");
  EXPECT_FALSE(items) << text;
  return items ? "" : items.err().message;
}

TEST(conf_file, names_values_lines_and_comments) {
  auto items = parse_ok("# header\n"
                        "\n"
                        "port = 5433\n"
                        "  Max_WAL_Senders=7# tight\n"
                        "rds.logical_replication on   # no '='\n"
                        "shared_buffers = 128MB\n"
                        "listen_addresses = '127.0.0.1'\n"
                        "wal_sender_timeout = -1.5e3\n"
                        "log_min_messages = warning");
  ASSERT_EQ(items.size(), 7u);
  EXPECT_EQ(items[0].name, "port");
  EXPECT_EQ(items[0].value, "5433");
  EXPECT_EQ(items[0].line, 3);
  EXPECT_EQ(items[0].file, "t.conf");
  EXPECT_EQ(items[1].name, "max_wal_senders");
  EXPECT_EQ(items[1].value, "7");
  EXPECT_EQ(items[2].name, "rds.logical_replication");
  EXPECT_EQ(items[2].value, "on");
  EXPECT_EQ(items[3].value, "128MB");
  EXPECT_EQ(items[4].value, "127.0.0.1");
  EXPECT_EQ(items[5].value, "-1.5e3");
  EXPECT_EQ(items[6].line, 9);
}

TEST(conf_file, quoted_strings_resolve_escapes) {
  auto items = parse_ok("a = 'it''s'\n"
                        "b = 'tab\\there'\n"
                        "c = 'oct\\101'\n"
                        "d = 'back\\\\slash \\q'\n"
                        "e = ''\n"
                        "f = 'has # hash'\n"
                        "g = 'host=127.0.0.1 port=5432 dbname=x'\n");
  ASSERT_EQ(items.size(), 7u);
  EXPECT_EQ(items[0].value, "it's");
  EXPECT_EQ(items[1].value, "tab\there");
  EXPECT_EQ(items[2].value, "octA");
  EXPECT_EQ(items[3].value, "back\\slash q");
  EXPECT_EQ(items[4].value, "");
  EXPECT_EQ(items[5].value, "has # hash");
  EXPECT_EQ(items[6].value, "host=127.0.0.1 port=5432 dbname=x");
}

TEST(conf_file, quote_round_trips) {
  for (std::string v : {"plain", "it's", "back\\slash", "", "a\nb"}) {
    auto items = parse_ok("x = " + conf_quote(v) + "\n");
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0].value, v);
  }
}

TEST(conf_file, syntax_errors_use_postgres_text) {
  EXPECT_EQ(parse_error("port = 1\nport = 1 2\n"),
            "syntax error in file \"t.conf\" line 2, near token \"2\"");
  EXPECT_EQ(parse_error("port =\n"),
            "syntax error in file \"t.conf\" line 1, near end of line");
  EXPECT_EQ(parse_error("port = # nothing\n"),
            "syntax error in file \"t.conf\" line 1, near end of line");
  EXPECT_EQ(parse_error("= 5\n"),
            "syntax error in file \"t.conf\" line 1, near token \"=\"");
  EXPECT_EQ(parse_error("x = 'open\n"),
            "syntax error in file \"t.conf\" line 1, near token \"'open\"");
  EXPECT_EQ(parse_error("x = *\n"),
            "syntax error in file \"t.conf\" line 1, near token \"*\"");
  EXPECT_EQ(parse_error("9x = 1\n"),
            "syntax error in file \"t.conf\" line 1, near token \"9x\"");
  EXPECT_FALSE(conf_parse_text(std::string("x = 1\0", 6), "t.conf"));
}

TEST(conf_file, include_directives_follow_postgres_rules) {
  testing::temp_dir dir;
  auto write = [&](const std::string& rel, const std::string& text) {
    std::ofstream(dir.path() + "/" + rel) << text;
  };
  ::mkdir((dir.path() + "/conf.d").c_str(), 0700);
  write("main.conf", "port = 1\n"
                     "include 'extra.conf'\n"
                     "include_if_exists 'missing.conf'\n"
                     "include_dir 'conf.d'\n"
                     "max_wal_senders = 5\n");
  write("extra.conf", "port = 2\n");
  write("conf.d/b.conf", "port = 4\n");
  write("conf.d/a.conf", "port = 3\n");
  write("conf.d/ignored.txt", "port = 99\n");
  auto items = conf_read_file(dir.path() + "/main.conf");
  ASSERT_TRUE(items) << items.err().message;
  std::vector<std::string> ports;
  for (const auto& it : *items)
    if (it.name == "port")
      ports.push_back(it.value);
  EXPECT_EQ(ports, (std::vector<std::string>{"1", "2", "3", "4"}));
  EXPECT_EQ(items->back().name, "max_wal_senders");
  EXPECT_EQ((*items)[1].file, dir.path() + "/extra.conf");
  EXPECT_EQ((*items)[1].line, 1);

  write("bad.conf", "include 'nope.conf'\n");
  auto bad = conf_read_file(dir.path() + "/bad.conf");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.err().message, "could not open configuration file \"" +
                                   dir.path() +
                                   "/nope.conf\": No such file or directory");

  write("loop.conf", "include 'loop.conf'\n");
  auto loop = conf_read_file(dir.path() + "/loop.conf");
  ASSERT_FALSE(loop);
  EXPECT_NE(loop.err().message.find("maximum nesting depth exceeded"),
            std::string::npos);
}

} // namespace
} // namespace walmux::config
