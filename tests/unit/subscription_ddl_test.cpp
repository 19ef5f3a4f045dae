// subscription_ddl_test.cpp: CREATE / ALTER / DROP SUBSCRIPTION parsing
// and option checks, against PostgreSQL's grammar, texts and SQLSTATEs.
#include "protocol/subscription_ddl.hpp"

#include <gtest/gtest.h>

namespace walmux::subddl {
namespace {

statement parsed(std::string_view sql) {
  auto s = parse(sql);
  EXPECT_TRUE(s) << sql << ": " << s.err().message;
  EXPECT_TRUE(s && s->has_value()) << sql;
  return s && *s ? **s : statement{};
}

std::string error_of(std::string_view sql) {
  auto s = parse(sql);
  return s ? "" : s.err().code + " " + s.err().message;
}

// The error's position (characters from 1, as psql's cursor); -1 if none.
int position_of(std::string_view sql) {
  auto s = parse(sql);
  return s ? -1 : s.err().position;
}

TEST(subscription_ddl, create_with_options_as_postgresql_writes_them) {
  auto s = parsed("create Subscription \"MySub\" CONNECTION 'host=a "
                  "password=''x''' PUBLICATION p1, \"P2\" WITH (target = "
                  "'dbname=t', copy_data = false, enabled, slot_name = NONE, "
                  "synchronous_commit = 'remote_apply');");
  auto& c = std::get<create_subscription>(s);
  EXPECT_EQ(c.name, "MySub");
  EXPECT_EQ(c.conninfo, "host=a password='x'");
  EXPECT_EQ(c.publications, (std::vector<std::string>{"p1", "P2"}));
  ASSERT_EQ(c.options.size(), 5u);
  EXPECT_EQ(c.options[1], (option{"copy_data", "false"}));
  EXPECT_EQ(c.options[2], (option{"enabled", std::nullopt}));
  EXPECT_EQ(c.options[3], (option{"slot_name", "none"}));
}

TEST(subscription_ddl, alter_and_drop_forms) {
  using action = alter_subscription::action;
  EXPECT_EQ(
      std::get<alter_subscription>(parsed("ALTER SUBSCRIPTION s ENABLE")).what,
      action::enable);
  EXPECT_EQ(
      std::get<alter_subscription>(parsed("alter subscription s disable")).what,
      action::disable);
  auto skip = std::get<alter_subscription>(
      parsed("ALTER SUBSCRIPTION s SKIP (lsn = '0/14C0378')"));
  EXPECT_EQ(skip.what, action::skip);
  EXPECT_EQ(interpret_skip(skip.options)->value, 0x14C0378u);
  EXPECT_EQ(interpret_skip({{"lsn", "NONE"}})->value, 0u);
  EXPECT_FALSE(interpret_skip({{"lsn", "0/0"}}));
  EXPECT_EQ(interpret_skip({{"foo", "1/1"}}).err().message,
            "unrecognized subscription parameter: \"foo\"");
  auto refresh = std::get<alter_subscription>(parsed(
      "ALTER SUBSCRIPTION s REFRESH PUBLICATION WITH (copy_data = false)"));
  EXPECT_EQ(refresh.what, action::refresh);
  auto conn = std::get<alter_subscription>(
      parsed("ALTER SUBSCRIPTION s CONNECTION 'host=b'"));
  EXPECT_EQ(conn.conninfo, "host=b");
  auto rename = std::get<alter_subscription>(
      parsed("ALTER SUBSCRIPTION s RENAME TO \"New Name\""));
  EXPECT_EQ(rename.what, action::rename);
  EXPECT_EQ(rename.name, "s");
  EXPECT_EQ(rename.new_name, "New Name");
  EXPECT_EQ(error_of("ALTER SUBSCRIPTION s RENAME t"),
            "42601 syntax error at or near \"t\"");
  EXPECT_EQ(error_of("ALTER SUBSCRIPTION s RENAME TO"),
            "42601 syntax error at end of input");
  EXPECT_EQ(error_of("ALTER SUBSCRIPTION s OWNER TO bob"),
            "0A000 ALTER SUBSCRIPTION ... OWNER TO is not supported by walmux");
  auto drop = std::get<drop_subscription>(
      parsed("DROP SUBSCRIPTION IF EXISTS s CASCADE"));
  EXPECT_TRUE(drop.if_exists);
  EXPECT_EQ(drop.name, "s");
}

TEST(subscription_ddl, other_statements_are_not_ours) {
  for (const char* sql :
       {"SELECT 1", "CREATE TABLE subscription (a int)", "DROP TABLE x",
        "alter system set x = 1", "", "create"}) {
    auto s = parse(sql);
    ASSERT_TRUE(s) << sql;
    EXPECT_FALSE(s->has_value()) << sql;
  }
}

TEST(subscription_ddl, malformed_statements_are_syntax_errors) {
  EXPECT_EQ(error_of("CREATE SUBSCRIPTION s CONNECTION 'x'"),
            "42601 syntax error at end of input");
  EXPECT_EQ(error_of("CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p WITH "
                     "(copy_data = )"),
            "42601 syntax error at or near \")\"");
  EXPECT_EQ(error_of("CREATE SUBSCRIPTION s CONNECTION 'x PUBLICATION p"),
            "42601 unterminated quoted string at or near \"'x PUBLICATION "
            "p\"");
  EXPECT_EQ(error_of("ALTER SUBSCRIPTION s FLY"),
            "42601 syntax error at or near \"FLY\"");
  EXPECT_EQ(error_of("ALTER SUBSCRIPTION s ADD p"),
            "42601 syntax error at or near \"p\"");
  EXPECT_EQ(error_of("CREATE SUBSCRIPTION s CONNECTION '' PUBLICATION a, b, a"),
            "42710 publication name \"a\" used more than once");
  EXPECT_EQ(error_of("ALTER SUBSCRIPTION \"abc RENAME"),
            "42601 unterminated quoted identifier at or near \"\"abc RENAME\"");
  EXPECT_EQ(error_of("ALTER SUBSCRIPTION \"\" RENAME TO x"),
            "42601 zero-length delimited identifier at or near \"\"\"\"");
  EXPECT_EQ(error_of("ALTER SUBSCRIPTION b RENAME \"Cé\""),
            "42601 syntax error at or near \"\"Cé\"\"");
  EXPECT_EQ(error_of("ALTER SUBSCRIPTION b ENABLE ?"),
            "42601 syntax error at or near \"?\"");
  // Positions as PostgreSQL 15 reports them (psql's cursor column), in
  // characters: é is two bytes and one character.
  EXPECT_EQ(position_of("ALTER SUBSCRIPTION b RENAME c"), 29);
  EXPECT_EQ(position_of("ALTER SUBSCRIPTION b RENAME TO"), 31);
  EXPECT_EQ(position_of("  ALTER SUBSCRIPTION é FLY"), 24);
  EXPECT_EQ(position_of("CREATE SUBSCRIPTION s CONNECTION 'x PUBLICATION p"),
            34);
  EXPECT_EQ(position_of("ALTER SUBSCRIPTION \"\" RENAME TO x"), 20);
  EXPECT_EQ(position_of("ALTER SUBSCRIPTION b SET (x = )"), 31);
  EXPECT_EQ(position_of("CREATE SUBSCRIPTION s CONNECTION '' PUBLICATION a, a"),
            0);
}

TEST(subscription_ddl, set_add_and_drop_publication) {
  using action = alter_subscription::action;
  auto set = std::get<alter_subscription>(parsed(
      "ALTER SUBSCRIPTION s SET PUBLICATION p1, p2 WITH (refresh = false)"));
  EXPECT_EQ(set.what, action::set_publication);
  EXPECT_EQ(set.publications, (std::vector<std::string>{"p1", "p2"}));
  ASSERT_EQ(set.options.size(), 1u);
  auto o = interpret_options(set.options, option_context::publication, {});
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->refresh);
  EXPECT_EQ(
      interpret_options({{"binary", "true"}}, option_context::publication, {})
          .err()
          .message,
      "unrecognized subscription parameter: \"binary\"");

  auto add = std::get<alter_subscription>(
      parsed("ALTER SUBSCRIPTION s ADD PUBLICATION p3"));
  EXPECT_EQ(add.what, action::add_publication);
  const std::vector<std::string> now = {"p1", "p2"};
  EXPECT_EQ(*merge_publications(now, add),
            (std::vector<std::string>{"p1", "p2", "p3"}));
  EXPECT_EQ(*merge_publications(now, set), set.publications);
  auto again = std::get<alter_subscription>(
      parsed("ALTER SUBSCRIPTION s ADD PUBLICATION p2"));
  EXPECT_EQ(merge_publications(now, again).err().message,
            "publication \"p2\" is already in subscription \"s\"");
  EXPECT_EQ(merge_publications(now, again).err().code, "42710");

  auto drop = std::get<alter_subscription>(
      parsed("ALTER SUBSCRIPTION s DROP PUBLICATION p1 WITH (copy_data)"));
  EXPECT_EQ(drop.what, action::drop_publication);
  EXPECT_EQ(*merge_publications(now, drop), (std::vector<std::string>{"p2"}));
  auto missing = std::get<alter_subscription>(
      parsed("ALTER SUBSCRIPTION s DROP PUBLICATION p9"));
  EXPECT_EQ(merge_publications(now, missing).err().code, "42P17");
  EXPECT_EQ(merge_publications(now, missing).err().message,
            "publication \"p9\" is not in subscription \"s\"");
  auto all = std::get<alter_subscription>(
      parsed("ALTER SUBSCRIPTION s DROP PUBLICATION p1, p2"));
  EXPECT_EQ(merge_publications(now, all).err().message,
            "cannot drop all the publications from a subscription");
}

TEST(subscription_ddl, options_are_checked_as_postgresql_checks_them) {
  auto err = [](std::vector<option> o,
                option_context ctx = option_context::create) {
    auto r = interpret_options(o, ctx, {});
    return r ? "" : r.err().code + " " + r.err().message;
  };
  EXPECT_EQ(err({{"foo", "1"}}),
            "42601 unrecognized subscription parameter: \"foo\"");
  EXPECT_EQ(err({{"copy_data", "true"}, {"copy_data", "false"}}),
            "42601 conflicting or redundant options");
  EXPECT_EQ(err({{"copy_data", "maybe"}}),
            "42601 copy_data requires a Boolean value");
  EXPECT_EQ(err({{"origin", "local"}}),
            "22023 unrecognized origin value: \"local\"");
  EXPECT_EQ(err({{"slot_name", "Bad-Name"}}),
            "22023 replication slot name \"Bad-Name\" contains invalid "
            "character");
  EXPECT_EQ(err({{"connect", "false"}, {"copy_data", "true"}}),
            "42601 connect = false and copy_data = true are mutually "
            "exclusive options");
  EXPECT_EQ(err({{"slot_name", "none"}}),
            "42601 subscription with slot_name = NONE must also set enabled "
            "= false");
  EXPECT_EQ(err({{"copy_data", "false"}}, option_context::set),
            "42601 unrecognized subscription parameter: \"copy_data\"");
  auto ok = interpret_options({{"target", "dbname=t"},
                               {"streaming", "parallel"},
                               {"synchronous_commit", "local"},
                               {"disable_on_error", std::nullopt},
                               {"connect", "off"}},
                              option_context::create, {});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->target, "dbname=t");
  EXPECT_EQ(ok->streaming, "parallel");
  EXPECT_EQ(ok->synchronous_commit, "local");
  EXPECT_TRUE(ok->disable_on_error);
  EXPECT_FALSE(ok->enabled); // connect = false implies it
  EXPECT_FALSE(ok->create_slot);
}

} // namespace
} // namespace walmux::subddl
