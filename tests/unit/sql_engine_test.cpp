// sql_engine_test.cpp: the admin SQL engine over made-up live tables:
// PostgreSQL's column names, type OIDs and value texts, table-valued
// functions with arguments, PostgreSQL's errors, and the read-only rule.
#include "actors/admin/sql_engine.hpp"
#include "protocol/sql_text.hpp"

#include <gtest/gtest.h>

namespace walmux::actors::admin {
namespace {

struct fixture {
  int reads = 0;
  std::vector<std::string> dropped;
  std::unique_ptr<sql_engine> engine;

  fixture() {
    std::vector<table_def> tables;
    tables.push_back(
        {"slots",
         "CREATE TABLE x(slot_name name, active bool, active_pid int4, "
         "restart_lsn pg_lsn, alias_name text HIDDEN)",
         0,
         [this](
             const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
           ++reads;
           return std::vector<sql_row>{
               {std::string("b_slot"), int64_t{1}, int64_t{42},
                std::string("0/16B3748"), std::string("b")},
               {std::string("a_slot"), int64_t{0}, std::monostate{},
                std::string("0/0"), std::string("a")}};
         }});
    tables.push_back({"make_thing",
                      "CREATE TABLE x(thing text, arg_name HIDDEN)", 1,
                      [](const std::vector<sql_value>& args)
                          -> expected<std::vector<sql_row>> {
                        if (std::holds_alternative<std::monostate>(args[0]))
                          return error{"22023", "name must not be null"};
                        return std::vector<sql_row>{
                            {"made " + std::get<std::string>(args[0])}};
                      }});
    std::vector<function_def> functions;
    functions.push_back(
        {"drop_it", 1, 1, "void",
         [this](const std::vector<sql_value>& a) -> expected<sql_value> {
           auto* name = std::get_if<std::string>(&a[0]);
           if (!name || *name == "busy")
             return error{"55006", "slot is active"};
           dropped.push_back(*name);
           return sql_value{std::string()};
         }});
    functions.push_back(
        {"lsn_now", 0, 0, "pg_lsn",
         [](const std::vector<sql_value>&) -> expected<sql_value> {
           return sql_value{std::string("0/10")};
         }});
    auto e =
        sql_engine::open(std::move(tables), std::move(functions),
                         sql_limits{std::chrono::milliseconds(200), 1 << 20});
    EXPECT_TRUE(e) << (e ? "" : e.err().message);
    if (e)
      engine = std::move(*e);
  }

  expected<sql_result> run(std::string_view sql) {
    size_t used = 0;
    return engine->run_one(sqltext::strip_casts(sql), used);
  }
};

TEST(sql_engine, live_table_with_postgres_types_and_names) {
  fixture f;
  auto r = f.run("SELECT * FROM slots ORDER BY slot_name");
  ASSERT_TRUE(r) << r.err().message;
  ASSERT_EQ(r->columns.size(), 4u); // the hidden alias is not in *
  EXPECT_EQ(r->columns[0].name, "slot_name");
  EXPECT_EQ(r->columns[0].type_oid, 19);
  EXPECT_EQ(r->columns[1].type_oid, 16);
  EXPECT_EQ(r->columns[2].type_oid, 23);
  EXPECT_EQ(r->columns[3].type_oid, 3220);
  ASSERT_EQ(r->rows.size(), 2u);
  EXPECT_EQ(r->rows[0][0], "a_slot");
  EXPECT_EQ(r->rows[0][1], "f");
  EXPECT_EQ(r->rows[0][2], std::nullopt);
  EXPECT_EQ(r->rows[1][1], "t");
  EXPECT_EQ(r->rows[1][2], "42");
  EXPECT_EQ(r->tag, "SELECT 2");
  // Each statement reads the state of its moment.
  ASSERT_TRUE(f.run("SELECT 1 FROM slots"));
  EXPECT_EQ(f.reads, 2);
}

TEST(sql_engine, ad_hoc_where_subqueries_and_hidden_columns) {
  fixture f;
  auto r = f.run("SELECT slot_name FROM slots WHERE NOT active ORDER BY 1");
  ASSERT_TRUE(r) << r.err().message;
  ASSERT_EQ(r->rows.size(), 1u);
  EXPECT_EQ(r->rows[0][0], "a_slot");
  r = f.run("SELECT alias_name FROM slots WHERE slot_name IN (SELECT "
            "slot_name FROM slots WHERE active_pid > 0)");
  ASSERT_TRUE(r) << r.err().message;
  ASSERT_EQ(r->rows.size(), 1u);
  EXPECT_EQ(r->rows[0][0], "b");
  r = f.run("SELECT active_pid > 0, slot_name IS NULL, (active_pid > 0), "
            "active_pid + 1 FROM slots WHERE active");
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(r->rows[0],
            (std::vector<std::optional<std::string>>{"t", "f", "t", "43"}));
  EXPECT_EQ(r->columns[0].type_oid, 16);
  EXPECT_EQ(r->columns[3].type_oid, 20);
  r = f.run("SELECT count(*) FROM slots");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->columns[0].name, "count");
  EXPECT_EQ(r->columns[0].type_oid, 20);
  EXPECT_EQ(r->rows[0][0], "2");
}

TEST(sql_engine, functions_named_and_typed_as_postgres_does) {
  fixture f;
  auto r = f.run("SELECT drop_it(slot_name) FROM slots WHERE NOT active");
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(r->columns[0].name, "drop_it");
  EXPECT_EQ(r->columns[0].type_oid, 2278);
  EXPECT_EQ(f.dropped, std::vector<std::string>{"a_slot"});
  r = f.run("SELECT lsn_now(), 1 + 1, 'x'::text, 2.5");
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(r->columns[0].name, "lsn_now");
  EXPECT_EQ(r->columns[0].type_oid, 3220);
  EXPECT_EQ(r->columns[1].name, "?column?");
  EXPECT_EQ(r->columns[1].type_oid, 20);
  EXPECT_EQ(r->rows[0][2], "x");
  EXPECT_EQ(r->rows[0][3], "2.5");
  // A comparison of two calls is no call of the first function.
  r = f.run("SELECT lsn_now() >= lsn_now(), lsn_now() || (lsn_now())");
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(r->columns[0].name, "?column?");
  EXPECT_EQ(r->columns[0].type_oid, 16);
  EXPECT_EQ(r->rows[0][0], "t");
  EXPECT_EQ(r->columns[1].name, "?column?");
  auto err = f.run("SELECT drop_it('busy')");
  ASSERT_FALSE(err);
  EXPECT_EQ(err.err().code, "55006");
  EXPECT_EQ(err.err().message, "slot is active");
}

TEST(sql_engine, table_valued_function_takes_arguments) {
  fixture f;
  auto r = f.run("SELECT * FROM make_thing('x')");
  ASSERT_TRUE(r) << r.err().message;
  ASSERT_EQ(r->columns.size(), 1u);
  EXPECT_EQ(r->rows[0][0], "made x");
  auto err = f.run("SELECT * FROM make_thing(NULL)");
  ASSERT_FALSE(err);
  EXPECT_EQ(err.err().code, "22023");
}

TEST(sql_engine, errors_are_postgres_errors) {
  fixture f;
  struct want {
    const char* sql;
    const char* code;
    const char* message;
  };
  for (const want& w : {
           want{"SELECT * FROM nosuch", "42P01",
                "relation \"nosuch\" does not exist"},
           want{"SELECT nosuch()", "42883", "function nosuch() does not exist"},
           want{"SELECT nosuch FROM slots", "42703",
                "column \"nosuch\" does not exist"},
           want{"SELEC 1", "42601", "syntax error at or near \"SELEC\""},
           want{"SELECT (", "42601", "syntax error at end of input"},
           want{"ATTACH DATABASE '/tmp/x' AS x", "42501", "permission denied"},
           want{"CREATE TABLE t (a int)", "42501", "permission denied"},
           want{"PRAGMA table_info(slots)", "42501", "permission denied"},
           want{"SELECT load_extension('x')", "42501", "permission denied"},
       }) {
    auto r = f.run(w.sql);
    ASSERT_FALSE(r) << w.sql;
    EXPECT_EQ(r.err().code, w.code) << w.sql << ": " << r.err().message;
    EXPECT_EQ(r.err().message, w.message) << w.sql;
  }
  // The engine stays usable.
  EXPECT_TRUE(f.run("SELECT 1"));
}

TEST(sql_engine, runaway_statements_end_with_an_error) {
  fixture f;
  auto forever = f.run("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x "
                       "+ 1 FROM c) SELECT count(*) FROM c");
  ASSERT_FALSE(forever);
  EXPECT_EQ(forever.err().code, "57014");
  auto huge = f.run("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                    "FROM c) SELECT x, 'padding padding padding' FROM c");
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.err().code, "54000");
  EXPECT_TRUE(f.run("SELECT 1")); // still usable
}

} // namespace
} // namespace walmux::actors::admin
