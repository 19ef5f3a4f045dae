// admin_session.cpp: SQL sessions over the node's state (admin_session.hpp).
#include "actors/admin/admin_session.hpp"

#include "actors/admin/admin_catalog.hpp"
#include "protocol/messages.hpp"

#include <cctype>

namespace walmux::actors::admin {
namespace {

template <class Message>
std::string encoded(const Message& m) {
  std::string out;
  wire::encode(out, m);
  return out;
}

// The end of the statement starting at sql[0]: the first ';' outside
// literals and quoted identifiers, or the end of the text.
size_t statement_end(std::string_view sql) {
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote) {
      if (c == quote)
        quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == ';') {
      return i;
    }
  }
  return sql.size();
}

std::string lower_word(std::string_view sql, size_t& at) {
  while (at < sql.size() && std::isspace(static_cast<unsigned char>(sql[at])))
    ++at;
  std::string w;
  while (at < sql.size() &&
         (std::isalnum(static_cast<unsigned char>(sql[at])) || sql[at] == '_' ||
          sql[at] == '.'))
    w += static_cast<char>(std::tolower(static_cast<unsigned char>(sql[at++])));
  return w;
}

// Settings a client library may SET at connection time; they do not change
// what walmux answers, so SET of them succeeds and does nothing.
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

void admin_session::send_error(const error& e) {
  link_->send(
      encoded(wire::error_response{wire::notice_from_error(e, "ERROR")}));
  if (transaction_ == 'T')
    transaction_ = 'E';
}

bool admin_session::on_frame(const wire::frame& f) {
  auto m = wire::decode_frontend(f);
  if (!m) {
    link_->send(encoded(
        wire::error_response{wire::notice_from_error(m.err(), "FATAL")}));
    link_->close();
    return false;
  }
  if (auto* q = std::get_if<wire::query>(&*m)) {
    on_query(q->sql);
    link_->send(encoded(wire::ready_for_query{transaction_}));
    return true;
  }
  if (std::holds_alternative<wire::terminate>(*m)) {
    link_->close();
    return false;
  }
  if (std::holds_alternative<wire::sync>(*m)) {
    extended_failed_ = false;
    link_->send(encoded(wire::ready_for_query{transaction_}));
    return true;
  }
  if (std::holds_alternative<wire::flush>(*m))
    return true;
  if (!extended_failed_) {
    extended_failed_ = true;
    send_error(error{sqlstate::feature_not_supported,
                     "walmux's SQL surface supports the simple query "
                     "protocol only"}
                   .with_hint("Send the statement as a simple Query (psql "
                              "does; libpq's PQexec does)."));
  }
  return true;
}

void admin_session::on_query(const std::string& raw) {
  const std::string sql = strip_casts(raw);
  std::string_view rest(sql);
  bool any = false;
  while (true) {
    size_t skip = 0;
    while (skip < rest.size() &&
           (std::isspace(static_cast<unsigned char>(rest[skip])) ||
            rest[skip] == ';'))
      ++skip;
    rest.remove_prefix(skip);
    if (rest.empty())
      break;
    any = true;
    auto used = run_statement(rest);
    if (!used)
      return;
    rest.remove_prefix(std::min(*used, rest.size()));
  }
  if (!any)
    link_->send(encoded(wire::empty_query_response{}));
}

std::optional<size_t> admin_session::run_statement(std::string_view sql) {
  size_t at = 0;
  const std::string first = lower_word(sql, at);
  const size_t end = statement_end(sql);
  auto complete = [&](const std::string& tag) {
    link_->send(encoded(wire::command_complete{tag}));
    return std::optional<size_t>(end);
  };
  if (transaction_ == 'E' && first != "rollback" && first != "abort" &&
      first != "commit" && first != "end") {
    send_error(error{"25P02", "current transaction is aborted, commands "
                              "ignored until end of transaction block"});
    return std::nullopt;
  }
  if (first == "show") {
    if (!show(lower_word(sql, at)))
      return std::nullopt;
    return end;
  }
  if (first == "begin" || first == "start") {
    transaction_ = 'T';
    return complete(first == "begin" ? "BEGIN" : "START TRANSACTION");
  }
  if (first == "commit" || first == "end" || first == "rollback" ||
      first == "abort") {
    const bool failed = transaction_ == 'E';
    transaction_ = 'I';
    return complete(failed || first == "rollback" || first == "abort"
                        ? "ROLLBACK"
                        : "COMMIT");
  }
  if (first == "set" || first == "reset") {
    std::string name = lower_word(sql, at);
    if (name == "session" || name == "local")
      name = lower_word(sql, at);
    if (!client_side_setting(name)) {
      send_error(
          error{"55P02", "parameter \"" + name + "\" cannot be changed now"}
              .with_hint("walmux's parameters are set in walmux.conf "
                         "and take effect on reload or restart."));
      return std::nullopt;
    }
    return complete(first == "set" ? "SET" : "RESET");
  }
  if (!engine_) {
    auto catalog = make_node_catalog(env_, pid_, database_);
    auto opened = sql_engine::open(std::move(catalog.tables),
                                   std::move(catalog.functions));
    if (!opened) {
      send_error(opened.err());
      return std::nullopt;
    }
    engine_ = std::move(*opened);
  }
  size_t used = 0;
  auto r = engine_->run_one(sql, used);
  if (!r) {
    send_error(r.err());
    return std::nullopt;
  }
  send_result(*r);
  return used;
}

bool admin_session::show(std::string_view name) {
  auto settings = env_.settings.get();
  if (!settings) {
    send_error(error{sqlstate::internal_error, "settings are not loaded"});
    return false;
  }
  sql_result r;
  if (name == "all") {
    for (const char* column : {"name", "setting", "description"})
      r.columns.push_back({column, 25, -1});
    for (const auto& row : settings->show_all())
      r.rows.push_back({row.name, row.setting, row.description});
  } else {
    auto value = settings->show(name);
    if (!value) {
      send_error(value.err());
      return false;
    }
    r.columns.push_back({std::string(name), 25, -1});
    r.rows.push_back({*value});
  }
  r.tag = "SHOW";
  send_result(r);
  return true;
}

void admin_session::send_result(const sql_result& r) {
  std::string out;
  if (!r.columns.empty()) {
    std::vector<wire::field_description> fields;
    for (const auto& c : r.columns)
      fields.push_back({c.name, 0, 0, c.type_oid, c.type_size, -1, 0});
    wire::encode(out, wire::row_description{fields});
    for (const auto& row : r.rows)
      wire::encode(out, wire::data_row{row});
  }
  if (!r.tag.empty())
    wire::encode(out, wire::command_complete{r.tag});
  link_->send(std::move(out));
}

} // namespace walmux::actors::admin
