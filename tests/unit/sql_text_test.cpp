// sql_text_test.cpp: the SQL surface's text helpers: statement ends, leading
// words, PostgreSQL casts, boolean-looking expressions.
#include "protocol/sql_text.hpp"

#include <gtest/gtest.h>

namespace walmux::sqltext {
namespace {

TEST(sql_text, statements_end_at_a_semicolon_outside_quotes) {
  EXPECT_EQ(statement_end("SHOW wal_level; SELECT 1"), 14u);
  EXPECT_EQ(statement_end("SELECT ';', \"a;b\"; x"), 17u);
  EXPECT_EQ(statement_end("SELECT 'unterminated;"), 21u);
  EXPECT_EQ(statement_end(""), 0u);
}

TEST(sql_text, words_are_down_cased_and_dotted_names_kept) {
  size_t at = 0;
  const std::string_view sql = "  SHOW rds.Logical_Replication;";
  EXPECT_EQ(next_word(sql, at), "show");
  EXPECT_EQ(next_word(sql, at), "rds.logical_replication");
  EXPECT_EQ(next_word(sql, at), "");
  EXPECT_EQ(sql[at], ';');
}

TEST(sql_text, identifiers) {
  EXPECT_TRUE(is_identifier("slot_name"));
  EXPECT_TRUE(is_identifier("_x1"));
  EXPECT_FALSE(is_identifier("1x"));
  EXPECT_FALSE(is_identifier("count(*)"));
  EXPECT_FALSE(is_identifier(""));
}

TEST(sql_text, casts_are_stripped_outside_literals) {
  EXPECT_EQ(strip_casts("SELECT '0/10'::pg_lsn, a::text, b :: numeric(10,2)"),
            "SELECT '0/10', a, b ");
  EXPECT_EQ(strip_casts("SELECT 'a::b', \"x::y\"::name[]"),
            "SELECT 'a::b', \"x::y\"");
  EXPECT_EQ(strip_casts("SELECT x::pg_catalog.int8"), "SELECT x");
  EXPECT_EQ(strip_casts("'open::"), "'open::");
}

TEST(sql_text, boolean_expressions) {
  for (const char* yes :
       {"a > 0", "(a > 0)", "((a = b))", "a IS NULL", "NOT active",
        "x IN (1, 2)", "name LIKE 'a%'", "a <> b AND c"})
    EXPECT_TRUE(looks_boolean(yes)) << yes;
  for (const char* no : {"a + 1", "count(a > 0)", "'a = b'", "f(x)", "a",
                         "(a + 1)", "data->>'k'"})
    EXPECT_FALSE(looks_boolean(no)) << no;
}

TEST(sql_text, niladic_functions_become_calls) {
  EXPECT_EQ(call_niladic_functions("SELECT current_user, SESSION_USER"),
            "SELECT current_user(), SESSION_USER()");
  EXPECT_EQ(call_niladic_functions("SELECT user;"), "SELECT user();");
  // Not inside literals or quoted names, not a called or qualified name,
  // not part of a longer word.
  EXPECT_EQ(
      call_niladic_functions("SELECT 'current_user', \"user\", current_user(), "
                             "t.user, current_users, usename FROM t"),
      "SELECT 'current_user', \"user\", current_user(), t.user, "
      "current_users, usename FROM t");
}

TEST(sql_text, catalog_qualified_calls_lose_their_schema) {
  EXPECT_EQ(
      unqualify_catalog_calls(
          "SELECT pg_catalog.pg_get_userbyid(subowner), "
          "PG_CATALOG.current_database () FROM pg_catalog.pg_subscription"),
      "SELECT pg_get_userbyid(subowner), current_database () FROM "
      "pg_catalog.pg_subscription");
  // Not in literals, not a longer schema name, not a table.
  EXPECT_EQ(unqualify_catalog_calls("SELECT 'pg_catalog.f(1)', "
                                    "my_pg_catalog.f(1), x.pg_catalog.f(2) "
                                    "FROM pg_catalog.t"),
            "SELECT 'pg_catalog.f(1)', my_pg_catalog.f(1), "
            "x.pg_catalog.f(2) FROM pg_catalog.t");
  EXPECT_EQ(unqualify_catalog_calls("pg_catalog."), "pg_catalog.");
}

TEST(sql_text, regular_expression_operators_become_regexp) {
  // psql's name pattern.
  EXPECT_EQ(regex_operators("WHERE subname OPERATOR(pg_catalog.~) '^(s.*)$' "
                            "COLLATE pg_catalog.default"),
            "WHERE subname  REGEXP  '^(s.*)$' ");
  EXPECT_EQ(regex_operators("a~'x' AND b !~ 'y' AND (c) ~ d AND f(x)!~'z'"),
            "a REGEXP 'x' AND b  NOT REGEXP  'y' AND (c)  REGEXP  d AND "
            "f(x) NOT REGEXP 'z'");
  // The case-insensitive forms.
  EXPECT_EQ(regex_operators("a ~* 'b' OR c !~* 'd' OR e OPERATOR(~*) 'f'"),
            "a  MATCH  'b' OR c  NOT MATCH  'd' OR e  MATCH  'f'");
  // Unary ~ (after "(", an operator or a keyword), literals and names stay.
  EXPECT_EQ(regex_operators("SELECT ~5, (~x), '~', \"~\", "
                            "collate_me WHERE NOT ~k = 0"),
            "SELECT ~5, (~x), '~', \"~\", collate_me WHERE NOT ~k = 0");
}

TEST(sql_text, an_alias_names_its_expression) {
  const char* q = "SELECT a = b AS Same, f(x, y) AS \"F of x\", DISTINCT "
                  "(SELECT 1 AS inner_one), 'as x' AS lit FROM t";
  EXPECT_EQ(aliased_expression(q, "same"), "a = b");
  EXPECT_EQ(aliased_expression(q, "F of x"), "f(x, y)");
  EXPECT_EQ(aliased_expression(q, "inner_one"), "1");
  EXPECT_EQ(aliased_expression(q, "lit"), "'as x'");
  // Not a quoted alias by another case, not an alias that is not there.
  EXPECT_EQ(aliased_expression(q, "f of x"), std::nullopt);
  EXPECT_EQ(aliased_expression(q, "x"), std::nullopt);
  EXPECT_EQ(aliased_expression("SELECT AS", "as"), std::nullopt);
}

TEST(sql_text, escape_strings_become_standard_literals) {
  EXPECT_EQ(plain_escape_strings("SELECT E'a\\nb', e'it\\'s', E'x''y'"),
            "SELECT 'a\nb', 'it''s', 'x''y'");
  EXPECT_EQ(plain_escape_strings("SELECT E'\\x41\\101\\t\\\\'"),
            "SELECT 'AA\t\\'");
  // A word ending in e, a standard literal, an unterminated escape string.
  EXPECT_EQ(plain_escape_strings("SELECT code'x', 'a\\n', E'open"),
            "SELECT code'x', 'a\\n', 'open");
  EXPECT_EQ(for_engine("SELECT pg_catalog.array_to_string(d.datacl, E'\\n')"
                       "::text FROM pg_catalog.pg_database d"),
            "SELECT array_to_string(d.datacl, '\n') FROM "
            "pg_catalog.pg_database d");
}

TEST(sql_text, a_relation_is_found_where_from_or_join_names_it) {
  EXPECT_EQ(relation_mention("SELECT x.a FROM nosuch x", "nosuch"), 16u);
  EXPECT_EQ(relation_mention("SELECT 1 FROM t JOIN NoSuch n", "nosuch"), 21u);
  // Not in a literal, not as a column, a quoted name exactly.
  EXPECT_EQ(relation_mention("SELECT 'from t', t.a FROM \"t\"", "t"), 26u);
  EXPECT_EQ(relation_mention("SELECT 1 FROM \"T\"", "t"), std::nullopt);
  EXPECT_EQ(relation_mention("SELECT t FROM s", "t"), std::nullopt);
  EXPECT_EQ(relation_mention("SELECT 1 FROM (t)", "t"), std::nullopt);
  EXPECT_EQ(relation_mention("FROM", ""), std::nullopt);
  EXPECT_EQ(relation_mention("SELECT 1 FROM \"t", "t"), std::nullopt);
}

} // namespace
} // namespace walmux::sqltext
