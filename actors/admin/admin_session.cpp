// admin_session.cpp: SQL sessions over the node's state (admin_session.hpp).
#include "actors/admin/admin_session.hpp"

#include "actors/admin/admin_catalog.hpp"
#include "actors/apply/subscription_manager.hpp"
#include "actors/common/clock.hpp"
#include "protocol/messages.hpp"
#include "protocol/pg_text.hpp"
#include "protocol/sql_text.hpp"
#include "protocol/subscription_ddl.hpp"

#include <cctype>

namespace walmux::actors::admin {
namespace {

// The session-level values SHOW gives for settings PostgreSQL reports to a
// client or a client library asks for (walmux's surface is UTF8, ISO dates,
// UTC), unless the session SET them.
const char* session_default(const std::string& name) {
  static const std::pair<const char*, const char*> defaults[] = {
      {"application_name", ""},
      {"bytea_output", "hex"},
      {"client_encoding", "UTF8"},
      {"client_min_messages", "notice"},
      {"datestyle", "ISO, MDY"},
      {"default_transaction_read_only", "off"},
      {"extra_float_digits", "1"},
      {"idle_in_transaction_session_timeout", "0"},
      {"in_hot_standby", "off"},
      {"integer_datetimes", "on"},
      {"intervalstyle", "postgres"},
      {"is_superuser", "on"},
      {"lock_timeout", "0"},
      {"search_path", "\"$user\", public"},
      {"server_encoding", "UTF8"},
      {"standard_conforming_strings", "on"},
      {"statement_timeout", "0"},
      {"timezone", "Etc/UTC"},
      {"transaction_isolation", "read committed"},
      {"transaction_read_only", "off"},
  };
  for (const auto& [n, v] : defaults)
    if (name == n)
      return v;
  return nullptr;
}

// Settings a client library may SET at connection time; they do not change
// what walmux answers, so SET of them succeeds and is only remembered for
// SHOW.
bool client_side_setting(const std::string& name) {
  static const char* names[] = {"application_name",
                                "client_encoding",
                                "datestyle",
                                "extra_float_digits",
                                "intervalstyle",
                                "search_path",
                                "statement_timeout",
                                "timezone",
                                "client_min_messages",
                                "lock_timeout",
                                "idle_in_transaction_session_timeout",
                                "standard_conforming_strings",
                                "bytea_output"};
  for (const char* n : names)
    if (name == n)
      return true;
  return false;
}

} // namespace

admin_session::admin_session(walsender_env& env,
                             std::shared_ptr<connection_link> link, int pid,
                             std::string database)
    : env_(env)
    , link_(std::move(link))
    , pid_(pid)
    , database_(std::move(database)) {}

admin_session::~admin_session() {
  engine_.reset();
  env_.slots->release_session(pid_);
}

error admin_session::positioned(error e, const statement_text& text,
                                size_t prefix) {
  if (e.position <= 0)
    return e;
  if (!text.as_sent) {
    e.position = 0;
    return e;
  }
  e.position += static_cast<int>(
      pgtext::character_count(std::string_view(text.sql).substr(0, prefix)));
  return e;
}

void admin_session::send_error(const error& e) {
  link_->send(
      wire::encoded(wire::error_response{wire::notice_from_error(e, "ERROR")}));
  if (transaction_ == 'T')
    transaction_ = 'E';
}

bool admin_session::on_frame(const wire::frame& f) {
  auto m = wire::decode_frontend(f);
  if (!m) {
    link_->send(wire::encoded(
        wire::error_response{wire::notice_from_error(m.err(), "FATAL")}));
    link_->close();
    return false;
  }
  if (auto* q = std::get_if<wire::query>(&*m)) {
    note_command(env_.activity, pid_, q->sql, unix_micros_now());
    on_query(q->sql);
    note_ready(env_.activity, pid_, transaction_, unix_micros_now());
    link_->send(wire::encoded(wire::ready_for_query{transaction_}));
    return true;
  }
  if (std::holds_alternative<wire::terminate>(*m)) {
    link_->close();
    return false;
  }
  if (std::holds_alternative<wire::sync>(*m)) {
    extended_failed_ = false;
    portals_.erase("");
    note_ready(env_.activity, pid_, transaction_, unix_micros_now());
    link_->send(wire::encoded(wire::ready_for_query{transaction_}));
    return true;
  }
  if (std::holds_alternative<wire::flush>(*m))
    return true;
  if (extended_failed_)
    return true; // the rest of a failed extended-protocol batch, until Sync
  if (auto st = on_extended(*m); !st) {
    extended_failed_ = true;
    send_error(st.err());
  }
  return true;
}

status admin_session::on_extended(const wire::frontend_message& m) {
  if (auto* p = std::get_if<wire::parse>(&m)) {
    if (statements_.size() >= max_prepared && !statements_.count(p->statement))
      return error{sqlstate::program_limit_exceeded,
                   "too many prepared statements (at most " +
                       std::to_string(max_prepared) + " per session)"};
    std::string sql = sqltext::for_engine(p->sql);
    const bool as_sent = sql == p->sql;
    statement_text text{std::move(sql), as_sent};
    // A syntax error fails the Parse, as on PostgreSQL.
    if (auto st = check_syntax(text); !st)
      return std::move(st).err();
    statements_[p->statement] = std::move(text);
    link_->send(wire::encoded(wire::parse_complete{}));
    return ok();
  }
  if (auto* b = std::get_if<wire::bind>(&m)) {
    auto it = statements_.find(b->statement);
    if (it == statements_.end())
      return error{"26000", "prepared statement \"" + b->statement +
                                "\" does not exist"};
    for (int16_t f : b->param_formats)
      if (f != 0)
        return error{sqlstate::feature_not_supported,
                     "walmux's SQL surface takes parameters in text format "
                     "only"};
    for (int16_t f : b->result_formats)
      if (f != 0)
        return error{sqlstate::feature_not_supported,
                     "walmux's SQL surface returns results in text format "
                     "only"};
    if (portals_.size() >= max_prepared && !portals_.count(b->portal))
      return error{sqlstate::program_limit_exceeded,
                   "too many portals (at most " + std::to_string(max_prepared) +
                       " per session)"};
    portals_[b->portal] = portal{it->second, b->params, std::nullopt};
    link_->send(wire::encoded(wire::bind_complete{}));
    return ok();
  }
  if (auto* d = std::get_if<wire::describe>(&m)) {
    if (d->kind == 'S') {
      auto it = statements_.find(d->name);
      if (it == statements_.end())
        return error{"26000",
                     "prepared statement \"" + d->name + "\" does not exist"};
      return describe_statement(it->second.sql);
    }
    auto it = portals_.find(d->name);
    if (it == portals_.end())
      return error{"34000", "portal \"" + d->name + "\" does not exist"};
    // The portal runs now; Execute sends the rows computed here.
    size_t used = 0;
    auto r = compute(it->second.text.sql, used, it->second.params);
    if (!r)
      return positioned(std::move(r).err(), it->second.text, 0);
    link_->send(r->columns.empty()
                    ? wire::encoded(wire::no_data{})
                    : wire::encoded(row_description(r->columns)));
    it->second.result = std::move(*r);
    return ok();
  }
  if (auto* e = std::get_if<wire::execute>(&m)) {
    auto it = portals_.find(e->portal);
    if (it == portals_.end())
      return error{"34000", "portal \"" + e->portal + "\" does not exist"};
    note_command(env_.activity, pid_, it->second.text.sql, unix_micros_now());
    if (!it->second.result) {
      size_t used = 0;
      auto r = compute(it->second.text.sql, used, it->second.params);
      if (!r)
        return positioned(std::move(r).err(), it->second.text, 0);
      it->second.result = std::move(*r);
    }
    if (it->second.result->tag.empty())
      link_->send(wire::encoded(wire::empty_query_response{}));
    else
      send_result(*it->second.result, false);
    it->second.result.reset();
    return ok();
  }
  if (auto* c = std::get_if<wire::close>(&m)) {
    if (c->kind == 'S')
      statements_.erase(c->name);
    else
      portals_.erase(c->name);
    link_->send(wire::encoded(wire::close_complete{}));
    return ok();
  }
  return error{sqlstate::protocol_violation,
               "unexpected message type on an SQL connection"};
}

status admin_session::describe_statement(const std::string& sql) {
  size_t at = 0;
  const std::string first = sqltext::next_word(sql, at);
  std::string out;
  if (first == "show") {
    // SHOW name: one text column named after the parameter.
    const std::string name = sqltext::next_word(sql, at);
    wire::encode(out, wire::parameter_description{{}});
    std::vector<sql_column> columns;
    if (name == "all")
      for (const char* column : {"name", "setting", "description"})
        columns.push_back({column, 25, -1});
    else
      columns.push_back({name, 25, -1});
    wire::encode(out, row_description(columns));
    link_->send(std::move(out));
    return ok();
  }
  auto ddl = subddl::parse(sql);
  const bool subscription_ddl = ddl && ddl->has_value();
  for (const char* keyword :
       {"begin", "start", "commit", "end", "rollback", "abort", "set", "reset"})
    if (first == keyword || subscription_ddl) {
      wire::encode(out, wire::parameter_description{{}});
      wire::encode(out, wire::no_data{});
      link_->send(std::move(out));
      return ok();
    }
  sql_engine* e = engine();
  if (e == nullptr)
    return error{sqlstate::internal_error, "could not open the SQL engine"};
  auto shape = e->describe(sql);
  if (!shape)
    return std::move(shape).err();
  // Parameters are taken as text.
  wire::encode(out, wire::parameter_description{std::vector<int32_t>(
                        static_cast<size_t>(shape->parameters), 25)});
  if (shape->columns.empty())
    wire::encode(out, wire::no_data{});
  else
    wire::encode(out, row_description(shape->columns));
  link_->send(std::move(out));
  return ok();
}

namespace {

// Past the blanks and empty statements (";") at the start of `rest`.
void skip_separators(std::string_view& rest) {
  size_t skip = 0;
  while (skip < rest.size() &&
         (std::isspace(static_cast<unsigned char>(rest[skip])) ||
          rest[skip] == ';'))
    ++skip;
  rest.remove_prefix(skip);
}

} // namespace

expected<size_t> admin_session::check_syntax(const statement_text& text) {
  const std::string& sql = text.sql;
  std::string_view rest(sql);
  size_t statements = 0;
  for (skip_separators(rest); !rest.empty(); skip_separators(rest)) {
    ++statements;
    const auto prefix = static_cast<size_t>(rest.data() - sql.data());
    size_t at = 0;
    const std::string first = sqltext::next_word(rest, at);
    size_t used = sqltext::statement_end(rest);
    bool engine_sql = true;
    for (const char* own : {"show", "begin", "start", "commit", "end",
                            "rollback", "abort", "set", "reset"})
      engine_sql = engine_sql && first != own;
    if (first == "create" || first == "alter" || first == "drop") {
      auto ddl = subddl::parse(rest.substr(0, used));
      if (!ddl && ddl.err().code == sqlstate::syntax_error)
        return positioned(std::move(ddl).err(), text, prefix);
      // A subscription statement's other errors come when it runs.
      engine_sql = ddl && !ddl->has_value();
    }
    if (engine_sql) {
      sql_engine* e = engine();
      if (e == nullptr)
        return statements; // the statement's run reports it
      if (auto st = e->check_syntax(rest, used); !st)
        return positioned(std::move(st).err(), text, prefix);
    }
    rest.remove_prefix(std::max<size_t>(1, std::min(used, rest.size())));
  }
  return statements;
}

void admin_session::on_query(const std::string& raw) {
  statement_text text{sqltext::for_engine(raw)};
  text.as_sent = text.sql == raw;
  auto statements = check_syntax(text);
  if (!statements) {
    send_error(statements.err());
    return;
  }
  implicit_block_ = *statements > 1;
  const std::string& sql = text.sql;
  std::string_view rest(sql);
  bool any = false;
  for (skip_separators(rest); !rest.empty(); skip_separators(rest)) {
    any = true;
    auto used = run_statement(rest, text,
                              static_cast<size_t>(rest.data() - sql.data()));
    if (!used)
      break;
    rest.remove_prefix(std::min(*used, rest.size()));
  }
  implicit_block_ = false;
  if (!any)
    link_->send(wire::encoded(wire::empty_query_response{}));
}

std::optional<size_t> admin_session::run_statement(std::string_view sql,
                                                   const statement_text& text,
                                                   size_t prefix) {
  size_t used = 0;
  auto r = compute(sql, used, {});
  if (!r) {
    send_error(positioned(std::move(r).err(), text, prefix));
    return std::nullopt;
  }
  send_result(*r);
  return used;
}

sql_engine* admin_session::engine() {
  if (!engine_) {
    auto catalog = make_node_catalog(env_, pid_, database_);
    auto opened = sql_engine::open(std::move(catalog.tables),
                                   std::move(catalog.functions));
    if (!opened)
      return nullptr;
    engine_ = std::move(*opened);
  }
  return engine_.get();
}

expected<sql_result>
admin_session::compute(std::string_view sql, size_t& consumed,
                       const std::vector<std::optional<std::string>>& params) {
  size_t at = 0;
  const std::string first = sqltext::next_word(sql, at);
  consumed = sqltext::statement_end(sql);
  sql_result done;
  if (transaction_ == 'E' && first != "rollback" && first != "abort" &&
      first != "commit" && first != "end")
    return error{"25P02", "current transaction is aborted, commands "
                          "ignored until end of transaction block"};
  if (first == "show")
    return show(sqltext::next_word(sql, at));
  if (first == "begin" || first == "start") {
    transaction_ = 'T';
    done.tag = first == "begin" ? "BEGIN" : "START TRANSACTION";
    return done;
  }
  if (first == "commit" || first == "end" || first == "rollback" ||
      first == "abort") {
    const bool failed = transaction_ == 'E';
    transaction_ = 'I';
    done.tag = failed || first == "rollback" || first == "abort" ? "ROLLBACK"
                                                                 : "COMMIT";
    return done;
  }
  if (first == "set" || first == "reset") {
    std::string name = sqltext::next_word(sql, at);
    if (name == "session" || name == "local")
      name = sqltext::next_word(sql, at);
    if (!client_side_setting(name))
      return error{"55P02", "parameter \"" + name + "\" cannot be changed now"}
          .with_hint("walmux's parameters are set in walmux.conf and take "
                     "effect on reload or restart.");
    if (first == "reset") {
      client_settings_.erase(name);
      if (name == "application_name")
        env_.activity.update(
            pid_, [](session_activity& a) { a.application_name.clear(); });
    } else {
      // SET name TO|= value [, ...]: the value as written, quotes removed.
      std::string_view rest = sql.substr(at, consumed - std::min(at, consumed));
      auto trim = [](std::string_view& v) {
        while (!v.empty() &&
               (std::isspace(static_cast<unsigned char>(v.front())) ||
                v.front() == '='))
          v.remove_prefix(1);
        while (!v.empty() &&
               (std::isspace(static_cast<unsigned char>(v.back())) ||
                v.back() == ';'))
          v.remove_suffix(1);
      };
      trim(rest);
      if (rest.size() >= 2 &&
          (rest.substr(0, 2) == "to" || rest.substr(0, 2) == "TO" ||
           rest.substr(0, 2) == "To")) {
        rest.remove_prefix(2);
        trim(rest);
      }
      std::string value(rest);
      if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'')
        value = value.substr(1, value.size() - 2);
      if (name == "application_name") // pg_stat_activity shows it
        env_.activity.update(
            pid_, [&](session_activity& a) { a.application_name = value; });
      client_settings_[name] = value;
    }
    done.tag = first == "set" ? "SET" : "RESET";
    return done;
  }
  if (first == "create" || first == "alter" || first == "drop") {
    auto ddl = subddl::parse(sql.substr(0, consumed));
    if (!ddl)
      return std::move(ddl).err();
    if (*ddl) {
      if (env_.subscriptions == nullptr)
        return error{sqlstate::feature_not_supported,
                     "this node has no apply role"};
      // A query string of several statements is an implicit transaction
      // block, as PostgreSQL runs it.
      auto tag = env_.subscriptions->execute(**ddl, transaction_ == 'T' ||
                                                        implicit_block_);
      if (!tag)
        return std::move(tag).err();
      done.tag = *tag;
      return done;
    }
  }
  sql_engine* e = engine();
  if (e == nullptr)
    return error{sqlstate::internal_error, "could not open the SQL engine"};
  return e->run_one(sql, consumed, params);
}

expected<sql_result> admin_session::show(std::string_view name) {
  auto settings = env_.settings.get();
  if (!settings)
    return error{sqlstate::internal_error, "settings are not loaded"};
  sql_result r;
  if (name == "all") {
    for (const char* column : {"name", "setting", "description"})
      r.columns.push_back({column, 25, -1});
    for (const auto& row : settings->show_all())
      r.rows.push_back({row.name, row.setting, row.description});
  } else {
    std::string lower(name);
    for (auto& ch : lower)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::optional<std::string> value;
    if (auto it = client_settings_.find(lower); it != client_settings_.end())
      value = it->second;
    else if (lower == "server_version" || lower == "server_version_num") {
      // The surface's version, as the startup's ParameterStatus reports it.
      const bool known = !env_.upstream->server_version().empty();
      value = lower == "server_version"
                  ? (known ? env_.upstream->server_version() : "15.0")
                  : std::to_string(known ? env_.upstream->server_version_num()
                                         : 150000);
    } else if (const char* d = session_default(lower))
      value = d;
    if (!value) {
      auto configured = settings->show(name);
      if (!configured)
        return std::move(configured).err();
      value = *configured;
    }
    r.columns.push_back({std::string(name), 25, -1});
    r.rows.push_back({*value});
  }
  r.tag = "SHOW";
  return r;
}

void admin_session::send_result(const sql_result& r, bool with_description) {
  std::string out;
  if (with_description && !r.columns.empty())
    wire::encode(out, row_description(r.columns));
  for (const auto& row : r.rows)
    wire::encode(out, wire::data_row{row});
  if (!r.tag.empty())
    wire::encode(out, wire::command_complete{r.tag});
  link_->send(std::move(out));
}

wire::row_description
admin_session::row_description(const std::vector<sql_column>& columns) {
  std::vector<wire::field_description> fields;
  for (const auto& c : columns)
    fields.push_back({c.name, 0, 0, c.type_oid, c.type_size, -1, 0});
  return wire::row_description{fields};
}

} // namespace walmux::actors::admin
