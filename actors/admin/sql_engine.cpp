// sql_engine.cpp: SQLite with live-state virtual tables (sql_engine.hpp).
#include "actors/admin/sql_engine.hpp"

#include "protocol/pg_text.hpp"
#include "protocol/sql_text.hpp"

#include <cctype>
#include <charconv>
#include <chrono>
#include <cstring>

#include <sqlite3.h>

namespace walmux::actors::admin {
namespace {

// Errors raised inside SQLite callbacks travel as
// "\x1f<SQLSTATE>\x1f<message>\x1f<detail>\x1f<hint>\x1f<context>" so that
// the engine can give the client the whole error back.
constexpr char error_mark = '\x1f';

std::string encode_error(const error& e) {
  const std::string mark(1, error_mark);
  return mark + e.code + mark + e.message + mark + e.detail + mark + e.hint +
         mark + e.context;
}

std::string after(std::string_view text, std::string_view prefix) {
  return std::string(text.substr(prefix.size()));
}

constexpr const char* no_function_hint =
    "No function matches the given name and argument types. You might need "
    "to add explicit type casts.";

// PostgreSQL's error for SQLite's message `m`.
error translate_error(std::string_view m) {
  if (!m.empty() && m[0] == error_mark) {
    std::vector<std::string> fields;
    size_t start = 1;
    while (true) {
      const size_t next = m.find(error_mark, start);
      fields.emplace_back(m.substr(start, next - start));
      if (next == std::string_view::npos)
        break;
      start = next + 1;
    }
    if (fields.size() >= 2) {
      error e{fields[0], fields[1]};
      fields.resize(5);
      e.detail = fields[2];
      e.hint = fields[3];
      e.context = fields[4];
      return e;
    }
  }
  if (m.rfind("no such table: ", 0) == 0)
    return error{"42P01", "relation \"" + after(m, "no such table: ") +
                              "\" does not exist"};
  if (m.rfind("no such table-valued function: ", 0) == 0)
    return error{"42883", "function " +
                              after(m, "no such table-valued function: ") +
                              "() does not exist"};
  if (m.rfind("no such function: ", 0) == 0)
    return error{"42883", "function " + after(m, "no such function: ") +
                              "() does not exist"}
        .with_hint(no_function_hint);
  if (m.rfind("wrong number of arguments to function ", 0) == 0)
    return error{"42883",
                 "function " +
                     after(m, "wrong number of arguments to function ") +
                     " does not exist"}
        .with_hint(no_function_hint);
  if (m.rfind("no such column: ", 0) == 0)
    return error{"42703", "column \"" + after(m, "no such column: ") +
                              "\" does not exist"};
  if (m.rfind("near \"", 0) == 0 && m.find("syntax error") != m.npos) {
    const size_t end = m.find('"', 6);
    return error{sqlstate::syntax_error, "syntax error at or near \"" +
                                             std::string(m.substr(6, end - 6)) +
                                             "\""};
  }
  if (m == "incomplete input")
    return error{sqlstate::syntax_error, "syntax error at end of input"};
  if (m == "not authorized")
    return error{"42501", "permission denied"}.with_detail(
        "walmux's SQL surface reads the node's state and runs its "
        "functions; it has no tables to change, ATTACH or PRAGMA.");
  return error{sqlstate::internal_error, std::string(m)};
}

// The error of a statement `sql` that did not prepare, with PostgreSQL's
// position where PostgreSQL gives one (a syntax error, an unknown
// relation, column or function: its token, in characters from 1).
error prepare_error(sqlite3* db, std::string_view sql) {
  const std::string_view m = sqlite3_errmsg(db);
  error e = translate_error(m);
  if (e.code != sqlstate::syntax_error && e.code != "42P01" &&
      e.code != "42703" && e.code != "42883")
    return e;
  size_t offset = sql.size(); // "incomplete input": at its end
  if (e.code == "42P01") {
    // SQLite does not say where; PostgreSQL points at the FROM item.
    auto at = sqltext::relation_mention(sql, after(m, "no such table: "));
    if (!at)
      return e;
    offset = *at;
  } else if (m != "incomplete input") {
    const int at = sqlite3_error_offset(db);
    if (at < 0)
      return e;
    offset = std::min(static_cast<size_t>(at), sql.size());
  }
  e.position =
      1 + static_cast<int>(pgtext::character_count(sql.substr(0, offset)));
  return e;
}

sql_value value_of(sqlite3_value* v) {
  switch (sqlite3_value_type(v)) {
  case SQLITE_INTEGER:
    return static_cast<int64_t>(sqlite3_value_int64(v));
  case SQLITE_FLOAT:
    return sqlite3_value_double(v);
  case SQLITE_NULL:
    return std::monostate{};
  default:
    return std::string(reinterpret_cast<const char*>(sqlite3_value_text(v)),
                       static_cast<size_t>(sqlite3_value_bytes(v)));
  }
}

void set_result(sqlite3_context* ctx, const sql_value& v) {
  if (auto* i = std::get_if<int64_t>(&v))
    sqlite3_result_int64(ctx, *i);
  else if (auto* d = std::get_if<double>(&v))
    sqlite3_result_double(ctx, *d);
  else if (auto* s = std::get_if<std::string>(&v))
    sqlite3_result_text(ctx, s->data(), static_cast<int>(s->size()),
                        SQLITE_TRANSIENT);
  else
    sqlite3_result_null(ctx);
}

// --- The virtual table module -------------------------------------------

struct vtab {
  sqlite3_vtab base{};
  const table_def* def = nullptr;
  int columns = 0;
  int first_argument = 0;
};

struct cursor {
  sqlite3_vtab_cursor base{};
  std::vector<sql_row> rows;
  std::vector<sql_value> args;
  size_t at = 0;
};

int count_columns(const std::string& schema) {
  const size_t open = schema.find('(');
  const size_t close = schema.rfind(')');
  if (open == std::string::npos || close == std::string::npos)
    return 0;
  int n = 1;
  for (size_t i = open + 1; i < close; ++i)
    n += schema[i] == ',';
  return n;
}

// Set while a virtual table declares its columns: that CREATE TABLE is the
// engine's own, and the authorizer lets it through.
thread_local bool declaring_table = false;

int x_connect(sqlite3* db, void* aux, int, const char* const*,
              sqlite3_vtab** out, char**) {
  const auto* def = static_cast<const table_def*>(aux);
  declaring_table = true;
  const int rc = sqlite3_declare_vtab(db, def->schema.c_str());
  declaring_table = false;
  if (rc != SQLITE_OK)
    return rc;
  auto* v = new vtab;
  v->def = def;
  v->columns = count_columns(def->schema);
  v->first_argument = v->columns - def->arguments;
  *out = &v->base;
  return SQLITE_OK;
}

int x_disconnect(sqlite3_vtab* base) {
  delete reinterpret_cast<vtab*>(base);
  return SQLITE_OK;
}

// Arguments are equality constraints on the argument columns; idxNum is the
// bit set of the arguments given, passed in argument order.
int x_best_index(sqlite3_vtab* base, sqlite3_index_info* info) {
  auto* v = reinterpret_cast<vtab*>(base);
  int mask = 0;
  int next = 1;
  for (int a = 0; a < v->def->arguments; ++a) {
    for (int c = 0; c < info->nConstraint; ++c) {
      const auto& con = info->aConstraint[c];
      if (con.iColumn != v->first_argument + a)
        continue;
      if (!con.usable || con.op != SQLITE_INDEX_CONSTRAINT_EQ)
        return SQLITE_CONSTRAINT;
      info->aConstraintUsage[c].argvIndex = next++;
      info->aConstraintUsage[c].omit = 1;
      mask |= 1 << a;
      break;
    }
  }
  info->idxNum = mask;
  info->estimatedCost = 1000.0 / (1 + next);
  return SQLITE_OK;
}

int x_open(sqlite3_vtab*, sqlite3_vtab_cursor** out) {
  auto* c = new cursor;
  *out = &c->base;
  return SQLITE_OK;
}

int x_close(sqlite3_vtab_cursor* base) {
  delete reinterpret_cast<cursor*>(base);
  return SQLITE_OK;
}

int x_filter(sqlite3_vtab_cursor* base, int mask, const char*, int argc,
             sqlite3_value** argv) {
  auto* c = reinterpret_cast<cursor*>(base);
  auto* v = reinterpret_cast<vtab*>(base->pVtab);
  c->args.assign(static_cast<size_t>(v->def->arguments), std::monostate{});
  int k = 0;
  for (int a = 0; a < v->def->arguments && k < argc; ++a)
    if (mask & (1 << a))
      c->args[static_cast<size_t>(a)] = value_of(argv[k++]);
  auto rows = v->def->rows(c->args);
  if (!rows) {
    sqlite3_free(v->base.zErrMsg);
    v->base.zErrMsg = sqlite3_mprintf("%s", encode_error(rows.err()).c_str());
    return SQLITE_ERROR;
  }
  c->rows = std::move(*rows);
  c->at = 0;
  return SQLITE_OK;
}

int x_next(sqlite3_vtab_cursor* base) {
  ++reinterpret_cast<cursor*>(base)->at;
  return SQLITE_OK;
}

int x_eof(sqlite3_vtab_cursor* base) {
  auto* c = reinterpret_cast<cursor*>(base);
  return c->at >= c->rows.size();
}

int x_column(sqlite3_vtab_cursor* base, sqlite3_context* ctx, int i) {
  auto* c = reinterpret_cast<cursor*>(base);
  auto* v = reinterpret_cast<vtab*>(base->pVtab);
  if (i >= v->first_argument) {
    set_result(ctx, c->args[static_cast<size_t>(i - v->first_argument)]);
    return SQLITE_OK;
  }
  const auto& row = c->rows[c->at];
  if (static_cast<size_t>(i) < row.size())
    set_result(ctx, row[static_cast<size_t>(i)]);
  else
    sqlite3_result_null(ctx);
  return SQLITE_OK;
}

int x_rowid(sqlite3_vtab_cursor* base, sqlite3_int64* id) {
  *id = static_cast<sqlite3_int64>(reinterpret_cast<cursor*>(base)->at);
  return SQLITE_OK;
}

sqlite3_module make_module() {
  sqlite3_module m{};
  m.iVersion = 0;
  m.xCreate = nullptr; // eponymous only: no CREATE VIRTUAL TABLE
  m.xConnect = x_connect;
  m.xBestIndex = x_best_index;
  m.xDisconnect = x_disconnect;
  m.xOpen = x_open;
  m.xClose = x_close;
  m.xFilter = x_filter;
  m.xNext = x_next;
  m.xEof = x_eof;
  m.xColumn = x_column;
  m.xRowid = x_rowid;
  return m;
}

const sqlite3_module live_table_module = make_module();

void x_function(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  const auto* def = static_cast<const function_def*>(sqlite3_user_data(ctx));
  std::vector<sql_value> args;
  for (int i = 0; i < argc; ++i)
    args.push_back(value_of(argv[i]));
  auto r = def->call(args);
  if (!r) {
    sqlite3_result_error(ctx, encode_error(r.err()).c_str(), -1);
    return;
  }
  set_result(ctx, *r);
}

// Only reading and calling functions; never ATTACH (files), PRAGMA, DDL or
// writes; never the functions that reach outside the engine.
int authorize(void*, int action, const char* a, const char*, const char*,
              const char*) {
  if (declaring_table)
    return SQLITE_OK;
  switch (action) {
  case SQLITE_SELECT:
  case SQLITE_READ:
  case SQLITE_RECURSIVE:
    return SQLITE_OK;
  case SQLITE_FUNCTION:
    if (a != nullptr && (std::strcmp(a, "load_extension") == 0 ||
                         std::strcmp(a, "fts3_tokenizer") == 0))
      return SQLITE_DENY;
    return SQLITE_OK;
  default:
    return SQLITE_DENY;
  }
}

std::string lower(std::string_view s) {
  std::string out;
  for (char c : s)
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

} // namespace

sql_column column_type(std::string_view declared) {
  const std::string t = lower(declared);
  struct entry {
    const char* name;
    int32_t oid;
    int16_t size;
  };
  static constexpr entry types[] = {
      {"bool", 16, 1},       {"name", 19, 64},         {"int8", 20, 8},
      {"int2", 21, 2},       {"int4", 23, 4},          {"text", 25, -1},
      {"oid", 26, 4},        {"xid", 28, 4},           {"float8", 701, 8},
      {"numeric", 1700, -1}, {"timestamptz", 1184, 8}, {"pg_lsn", 3220, 8},
      {"void", 2278, 4},     {"interval", 1186, 16},   {"bytea", 17, -1},
  };
  for (const auto& e : types)
    if (t == e.name)
      return {"", e.oid, e.size};
  return {"", 25, -1};
}

struct sql_engine::impl {
  sqlite3* db = nullptr;
  sql_limits limits;
  std::chrono::steady_clock::time_point deadline; // of the running statement
  std::vector<table_def> tables;
  std::vector<function_def> functions;
  ~impl() {
    if (db)
      sqlite3_close_v2(db);
  }
};

sql_engine::~sql_engine() = default;

expected<std::unique_ptr<sql_engine>>
sql_engine::open(std::vector<table_def> tables,
                 std::vector<function_def> functions, sql_limits limits) {
  std::unique_ptr<sql_engine> engine(new sql_engine);
  engine->impl_ = std::make_unique<impl>();
  auto& im = *engine->impl_;
  im.limits = limits;
  im.tables = std::move(tables);
  im.functions = std::move(functions);
  if (sqlite3_open_v2(":memory:", &im.db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY |
                          SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK)
    return error{sqlstate::internal_error, "could not open the SQL engine"};
  for (const auto& t : im.tables)
    if (sqlite3_create_module_v2(im.db, t.name.c_str(), &live_table_module,
                                 const_cast<table_def*>(&t),
                                 nullptr) != SQLITE_OK)
      return error{sqlstate::internal_error,
                   std::string("could not register ") + t.name};
  for (const auto& f : im.functions)
    for (int n = f.min_args; n <= f.max_args; ++n)
      if (sqlite3_create_function_v2(im.db, f.name.c_str(), n, SQLITE_UTF8,
                                     const_cast<function_def*>(&f), x_function,
                                     nullptr, nullptr, nullptr) != SQLITE_OK)
        return error{sqlstate::internal_error,
                     std::string("could not register ") + f.name};
  sqlite3_set_authorizer(im.db, authorize, nullptr);
  // Every 10,000 virtual machine steps: past the statement's deadline?
  sqlite3_progress_handler(
      im.db, 10000,
      [](void* arg) -> int {
        return std::chrono::steady_clock::now() >
                       static_cast<impl*>(arg)->deadline
                   ? 1
                   : 0;
      },
      &im);
  return engine;
}

namespace {

// The number of parameters a statement uses: the highest $N.
int parameter_count(sqlite3_stmt* stmt) {
  int highest = 0;
  for (int i = 1; i <= sqlite3_bind_parameter_count(stmt); ++i) {
    const char* name = sqlite3_bind_parameter_name(stmt, i);
    if (name != nullptr && name[0] == '$')
      highest = std::max(highest, std::atoi(name + 1));
  }
  return highest;
}

// Binds $1..$n from `params` (text, or NULL).
status bind_parameters(sqlite3_stmt* stmt,
                       const std::vector<std::optional<std::string>>& params) {
  const int needed = parameter_count(stmt);
  if (static_cast<size_t>(needed) != params.size())
    return error{sqlstate::protocol_violation,
                 "bind message supplies " + std::to_string(params.size()) +
                     " parameters, but prepared statement \"\" requires " +
                     std::to_string(needed)};
  for (int i = 1; i <= sqlite3_bind_parameter_count(stmt); ++i) {
    const char* name = sqlite3_bind_parameter_name(stmt, i);
    const int n = name != nullptr && name[0] == '$' ? std::atoi(name + 1) : 0;
    if (n < 1)
      return error{sqlstate::syntax_error,
                   std::string("parameters are written $1, $2, ...; not ") +
                       (name ? name : "?")};
    const auto& value = params[static_cast<size_t>(n - 1)];
    if (value)
      sqlite3_bind_text(stmt, i, value->data(), static_cast<int>(value->size()),
                        SQLITE_TRANSIENT);
    else
      sqlite3_bind_null(stmt, i);
  }
  return ok();
}

struct statement_guard {
  sqlite3_stmt* s = nullptr;
  ~statement_guard() { sqlite3_finalize(s); }
};

// True when the parenthesis at `open` in `expr` closes at its last
// character: `f(a) > g(b)` is not one call of f, `f(g(a))` is.
bool closes_at_end(std::string_view expr, size_t open) {
  int depth = 0;
  char quote = 0;
  for (size_t i = open; i < expr.size(); ++i) {
    const char c = expr[i];
    if (quote) {
      if (c == quote)
        quote = 0;
      continue;
    }
    if (c == '\'' || c == '"')
      quote = c;
    else if (c == '(')
      ++depth;
    else if (c == ')' && --depth == 0)
      return i == expr.size() - 1;
  }
  return false;
}

// The result columns of a prepared statement as PostgreSQL would name and
// type them; `from_function[c]` is set for a call of one of `functions`.
std::vector<sql_column>
describe_columns(sqlite3_stmt* stmt, const std::vector<function_def>& functions,
                 std::vector<const function_def*>& from_function) {
  std::vector<sql_column> columns;
  const int ncols = sqlite3_column_count(stmt);
  from_function.assign(static_cast<size_t>(ncols), nullptr);
  for (int c = 0; c < ncols; ++c) {
    const char* declared = sqlite3_column_decltype(stmt, c);
    std::string name = sqlite3_column_name(stmt, c);
    sql_column col = column_type(declared ? declared : "");
    // An alias that is not a plain identifier can only have been written
    // quoted (AS "Access privileges"): it names the column as it is.
    const char* statement_text = sqlite3_sql(stmt);
    const bool quoted_alias =
        statement_text != nullptr &&
        std::string_view(statement_text).find('"' + name + '"') !=
            std::string_view::npos;
    // An expression's text: its name when it has no alias, else what the
    // alias stands for (typed the same way, named by the alias).
    std::string expression;
    bool aliased = false;
    if (sqlite3_column_origin_name(stmt, c) == nullptr) {
      if (!sqltext::is_identifier(name) && !quoted_alias) {
        expression = name;
      } else if (statement_text != nullptr) {
        if (auto e = sqltext::aliased_expression(statement_text, name)) {
          expression = std::move(*e);
          aliased = true;
        }
      }
    }
    if (!expression.empty()) {
      // PostgreSQL names a function call after the function.
      const size_t paren = expression.find('(');
      std::string fn = lower(expression.substr(0, paren));
      if (paren != std::string::npos && sqltext::is_identifier(fn) &&
          closes_at_end(expression, paren)) {
        if (!aliased)
          name = fn;
        for (const auto& f : functions)
          if (f.name == fn) {
            from_function[static_cast<size_t>(c)] = &f;
            col = column_type(f.result_type);
          }
        if (fn == "count")
          col = column_type("int8");
      } else {
        if (sqltext::looks_boolean(expression))
          col = column_type("bool");
        if (!aliased)
          name = "?column?";
      }
    }
    col.name = name;
    columns.push_back(col);
  }
  return columns;
}

} // namespace

expected<sql_shape> sql_engine::describe(std::string_view sql) {
  statement_guard g;
  const char* tail = nullptr;
  if (sqlite3_prepare_v2(impl_->db, sql.data(), static_cast<int>(sql.size()),
                         &g.s, &tail) != SQLITE_OK)
    return prepare_error(impl_->db, sql);
  sql_shape shape;
  if (g.s == nullptr)
    return shape;
  std::vector<const function_def*> from_function;
  shape.columns = describe_columns(g.s, impl_->functions, from_function);
  shape.parameters = parameter_count(g.s);
  return shape;
}

status sql_engine::check_syntax(std::string_view sql, size_t& consumed) {
  statement_guard g;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v2(impl_->db, sql.data(),
                                    static_cast<int>(sql.size()), &g.s, &tail);
  consumed = tail ? static_cast<size_t>(tail - sql.data()) : sql.size();
  if (rc == SQLITE_OK)
    return ok();
  error e = prepare_error(impl_->db, sql);
  if (e.code == sqlstate::syntax_error)
    return e;
  return ok();
}

expected<sql_result>
sql_engine::run_one(std::string_view sql, size_t& consumed,
                    const std::vector<std::optional<std::string>>& params) {
  statement_guard g;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v2(impl_->db, sql.data(),
                                    static_cast<int>(sql.size()), &g.s, &tail);
  consumed = tail ? static_cast<size_t>(tail - sql.data()) : sql.size();
  if (rc != SQLITE_OK)
    return prepare_error(impl_->db, sql);
  sqlite3_stmt* stmt = g.s;
  sql_result result;
  if (stmt == nullptr)
    return result; // only whitespace or a comment
  if (auto st = bind_parameters(stmt, params); !st)
    return std::move(st).err();
  const int ncols = sqlite3_column_count(stmt);
  std::vector<const function_def*> from_function;
  result.columns = describe_columns(stmt, impl_->functions, from_function);
  std::vector<bool> is_bool(static_cast<size_t>(ncols), false);
  for (int c = 0; c < ncols; ++c)
    is_bool[static_cast<size_t>(c)] =
        result.columns[static_cast<size_t>(c)].type_oid == 16;
  std::vector<bool> typed(static_cast<size_t>(ncols), false);
  for (int c = 0; c < ncols; ++c)
    typed[static_cast<size_t>(c)] =
        sqlite3_column_decltype(stmt, c) != nullptr ||
        from_function[static_cast<size_t>(c)] != nullptr ||
        result.columns[static_cast<size_t>(c)].type_oid != 25;
  // Bounds: a statement runs at most limits.statement_time (a recursive
  // query or a cross join of live tables could run for ever) and its
  // result holds at most limits.result_bytes.
  const sql_limits& limits = impl_->limits;
  impl_->deadline = std::chrono::steady_clock::now() + limits.statement_time;
  size_t result_bytes = 0;
  while (true) {
    const int step = sqlite3_step(stmt);
    if (step == SQLITE_DONE)
      break;
    if (step == SQLITE_INTERRUPT)
      return error{"57014", "canceling statement due to statement timeout"}
          .with_detail("walmux's SQL surface runs a statement for at most " +
                       std::to_string(limits.statement_time.count()) + " ms.");
    if (step != SQLITE_ROW)
      return translate_error(sqlite3_errmsg(impl_->db));
    if (result_bytes > limits.result_bytes)
      return error{sqlstate::program_limit_exceeded,
                   "the result exceeds walmux's limit of " +
                       std::to_string(limits.result_bytes) + " bytes"}
          .with_hint("Narrow the query with WHERE or LIMIT.");
    auto& row = result.rows.emplace_back();
    for (int c = 0; c < ncols; ++c) {
      const auto at = static_cast<size_t>(c);
      const int type = sqlite3_column_type(stmt, c);
      if (!typed[at] && type != SQLITE_NULL) {
        // An untyped expression: its first value's type decides.
        result.columns[at].type_oid = type == SQLITE_INTEGER ? 20
                                      : type == SQLITE_FLOAT ? 701
                                                             : 25;
        result.columns[at].type_size = type == SQLITE_TEXT ? -1 : 8;
        is_bool[at] = false;
        typed[at] = true;
      }
      if (type == SQLITE_NULL) {
        row.emplace_back(std::nullopt);
      } else if (is_bool[at]) {
        row.emplace_back(sqlite3_column_int64(stmt, c) != 0 ? "t" : "f");
      } else if (type == SQLITE_FLOAT) {
        char buf[64];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf,
                                       sqlite3_column_double(stmt, c));
        row.emplace_back(std::string(buf, ec == std::errc() ? end : buf));
      } else {
        row.emplace_back(std::string(
            reinterpret_cast<const char*>(sqlite3_column_text(stmt, c)),
            static_cast<size_t>(sqlite3_column_bytes(stmt, c))));
      }
      result_bytes += row.back() ? row.back()->size() + 8 : 8;
    }
  }
  if (ncols > 0) {
    result.tag = "SELECT " + std::to_string(result.rows.size());
  } else {
    std::string_view text(sqlite3_sql(stmt));
    size_t n = 0;
    while (n < text.size() && std::isalpha(static_cast<unsigned char>(text[n])))
      ++n;
    for (char ch : text.substr(0, n))
      result.tag +=
          static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  return result;
}

} // namespace walmux::actors::admin
