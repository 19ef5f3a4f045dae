// sql_engine.hpp: the SQL engine behind walmux's admin sessions: SQLite,
// with the node's live state exposed as eponymous virtual tables (the way
// osquery exposes a machine) and its functions as SQL functions, so that
// ad hoc WHERE clauses, ORDER BY, joins and subqueries work.
//
// The engine knows nothing of the node: it is given table and function
// definitions (admin_catalog.hpp binds them to the node's state). Each
// table's rows are produced when a statement reads it, so every statement
// sees the state of that moment.
//
// PostgreSQL's face: result columns carry PostgreSQL type OIDs (from the
// declared column types: name, text, bool, int4, int8, oid, xid, pg_lsn,
// timestamptz, float8, numeric, void, bytea (values in its \x text form);
// bool values are stored as 0/1 and
// shown as t/f), columns are named as PostgreSQL names them (a function
// call after its function, other expressions "?column?"), "::type" casts
// are accepted (and dropped: values are already in their output form), and
// SQLite's errors become PostgreSQL's texts and SQLSTATEs (42P01 relation
// does not exist, 42883 function does not exist, 42703 column does not
// exist, 42601 syntax error). Only reading is allowed: an authorizer refuses
// ATTACH, PRAGMA, DDL and writes (42501), so a session cannot touch files.
// A statement runs for at most sql_limits::statement_time (57014) and its
// result holds at most sql_limits::result_bytes (54000): a recursive query
// or a cross join of live tables ends with an error, not with the node's
// memory.
//
// Thread safety: one engine per session, used by one thread at a time.
#pragma once

#include "common/expected.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

struct sqlite3;

namespace walmux::actors::admin {

using sql_value = std::variant<std::monostate, int64_t, double, std::string>;
using sql_row = std::vector<sql_value>;

// A table (or set-returning function) over live state. `schema` is SQLite's
// "CREATE TABLE x(col type, ...)" text; columns marked HIDDEN after the
// visible ones are aliases, and the last `arguments` hidden columns are the
// function's arguments (`SELECT * FROM f('a')`). `rows` gets the argument
// values (absent ones as monostate) and returns every non-argument column.
struct table_def {
  std::string name;
  std::string schema;
  int arguments = 0;
  std::function<expected<std::vector<sql_row>>(const std::vector<sql_value>&)>
      rows;
};

// A scalar function; `result_type` is a declared type name (see above).
struct function_def {
  std::string name;
  int min_args = 0;
  int max_args = 0;
  std::string result_type = "text";
  std::function<expected<sql_value>(const std::vector<sql_value>&)> call;
};

struct sql_column {
  std::string name;
  int32_t type_oid = 25;
  int16_t type_size = -1;
};

struct sql_result {
  std::vector<sql_column> columns; // empty: the statement returns no rows
  std::vector<std::vector<std::optional<std::string>>> rows;
  std::string tag; // "SELECT 2"
};

struct sql_limits {
  std::chrono::milliseconds statement_time{10000};
  size_t result_bytes = 64 << 20;
};

struct sql_shape {
  std::vector<sql_column> columns;
  int parameters = 0;
};

class sql_engine {
 public:
  static expected<std::unique_ptr<sql_engine>>
  open(std::vector<table_def> tables, std::vector<function_def> functions,
       sql_limits limits = {});
  ~sql_engine();
  sql_engine(const sql_engine&) = delete;
  sql_engine& operator=(const sql_engine&) = delete;

  // Prepares the statement at the start of `sql`, binds `params` to its
  // $1..$n (text; nullopt is NULL), runs it and returns its result;
  // `consumed` is set to the length of the statement's text.
  expected<sql_result>
  run_one(std::string_view sql, size_t& consumed,
          const std::vector<std::optional<std::string>>& params = {});

  // The columns (as run_one would name and type them; expressions whose
  // type shows only in their values are text) and the number of
  // parameters of the statement at the start of `sql`, without running it.
  expected<sql_shape> describe(std::string_view sql);

  // Whether the statement at the start of `sql` parses (a syntax error is
  // returned; an unknown name is left for run_one, as PostgreSQL reports
  // it only when the statement runs); `consumed` as run_one sets it.
  status check_syntax(std::string_view sql, size_t& consumed);

 private:
  sql_engine() = default;
  struct impl;
  std::unique_ptr<impl> impl_;
};

// PostgreSQL's type OID and length for a declared type name (text for
// anything unknown).
sql_column column_type(std::string_view declared);

} // namespace walmux::actors::admin
