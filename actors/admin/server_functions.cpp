// server_functions.cpp: see server_functions.hpp.
#include "actors/admin/server_functions.hpp"

#include "actors/admin/sql_values.hpp"
#include "actors/apply/subscription_manager.hpp"
#include "actors/walsender/listener.hpp"
#include "actors/walsender/slot_commands.hpp"
#include "common/log.hpp"
#include "protocol/messages.hpp"

#include <climits>
#include <csignal>
#include <unistd.h>

namespace walmux::actors::admin {

// Bytes below 10kB, then kB, MB, GB, TB, PB, each below 20480 of itself,
// rounded half away from zero.
std::string size_pretty(int64_t size) {
  struct unit {
    const char* name;
    int64_t limit;
    bool round;
    int bits;
  };
  static constexpr unit units[] = {
      {"bytes", 10 * 1024, false, 0},  {"kB", 20 * 1024 - 1, true, 10},
      {"MB", 20 * 1024 - 1, true, 20}, {"GB", 20 * 1024 - 1, true, 30},
      {"TB", 20 * 1024 - 1, true, 40}, {"PB", 20 * 1024 - 1, true, 50},
  };
  constexpr size_t count = sizeof units / sizeof units[0];
  for (size_t i = 0;; ++i) {
    const unit& u = units[i];
    const int64_t magnitude = size < 0 ? -size : size;
    if (i + 1 == count || magnitude < u.limit) {
      if (u.round)
        size = (size + (size < 0 ? -1 : 1)) / 2;
      return std::to_string(size) + " " + u.name;
    }
    const unit& next = units[i + 1];
    const int bits =
        next.bits - u.bits - (next.round ? 1 : 0) + (u.round ? 1 : 0);
    size /= int64_t{1} << bits;
  }
}

void add_server_functions(node_catalog& c, walsender_env& env, int session_pid,
                          const std::string& database) {
  // pg_terminate_backend: the session gets PostgreSQL's FATAL and its
  // connection closes; its walsender or SQL session then ends as on any
  // disconnection (its slot released). An apply worker is restarted, as
  // PostgreSQL's launcher restarts one. false for any other pid.
  c.functions.push_back(
      {"pg_terminate_backend", 1, 2, "bool",
       [&env](const std::vector<sql_value>& args) -> expected<sql_value> {
         auto pid = text_arg(args, 0);
         if (!pid)
           return null();
         auto parsed = integer_from_text(*pid, "integer", INT64_MIN, INT64_MAX);
         if (!parsed)
           return std::move(parsed).err();
         const int64_t number = *parsed;
         if (env.subscriptions != nullptr &&
             env.subscriptions->restart_worker(static_cast<int>(number)))
           return boolean(true);
         for (const auto& a : env.activity.list()) {
           if (a.pid != number)
             continue;
           auto link = a.link.lock();
           if (!link || link->closed())
             return boolean(false);
           link->send(
               wire::encoded(wire::error_response{wire::notice_from_error(
                   error{"57P01", "terminating connection due to "
                                  "administrator command"},
                   "FATAL")}));
           link->close();
           log_message(elevel::log, "terminating walmux session " + *pid +
                                        " at an administrator's request");
           return boolean(true);
         }
         return boolean(false);
       }});
  // pg_reload_conf: the same as SIGHUP (walmux.conf re-read; the log says
  // which values changed).
  c.functions.push_back(
      {"pg_reload_conf", 0, 0, "bool",
       [](const std::vector<sql_value>&) -> expected<sql_value> {
         return boolean(::kill(::getpid(), SIGHUP) == 0);
       }});
  c.functions.push_back(
      {"pg_backend_pid", 0, 0, "int4",
       [session_pid](const std::vector<sql_value>&) -> expected<sql_value> {
         return integer(session_pid);
       }});
  c.functions.push_back(
      {"pg_current_wal_lsn", 0, 0, "pg_lsn",
       [&env](const std::vector<sql_value>&) -> expected<sql_value> {
         return lsn_value(creation_point(env));
       }});
  // What monitoring tools ask first. The node's flush and insert positions
  // are its current one (it writes nothing of its own).
  for (const char* same :
       {"pg_current_wal_flush_lsn", "pg_current_wal_insert_lsn"})
    c.functions.push_back(
        {same, 0, 0, "pg_lsn",
         [&env](const std::vector<sql_value>&) -> expected<sql_value> {
           return lsn_value(creation_point(env));
         }});
  c.functions.push_back(
      {"pg_postmaster_start_time", 0, 0, "timestamptz",
       [&env](const std::vector<sql_value>&) -> expected<sql_value> {
         return timestamp_value(env.started_at_unix_us);
       }});
  for (const char* now : {"now", "statement_timestamp", "clock_timestamp"})
    c.functions.push_back(
        {now, 0, 0, "timestamptz",
         [](const std::vector<sql_value>&) -> expected<sql_value> {
           return timestamp_value(unix_micros_now());
         }});
  c.functions.push_back(
      {"pg_size_pretty", 1, 1, "text",
       [](const std::vector<sql_value>& args) -> expected<sql_value> {
         if (args.empty() || std::holds_alternative<std::monostate>(args[0]))
           return null();
         int64_t bytes = 0;
         if (auto* n = std::get_if<int64_t>(&args[0]))
           bytes = *n;
         else if (auto* d = std::get_if<double>(&args[0]))
           bytes = static_cast<int64_t>(*d);
         else {
           auto parsed = integer_from_text(text_arg(args, 0).value_or(""),
                                           "bigint", INT64_MIN, INT64_MAX);
           if (!parsed)
             return std::move(parsed).err();
           bytes = *parsed;
         }
         return text(size_pretty(bytes));
       }});
  // SQL's niladic functions (the session rewrites current_user and the
  // like as calls): the session's user; the schema is public.
  auto session_user = [&env, session_pid]() {
    for (const auto& a : env.activity.list())
      if (a.pid == session_pid)
        return a.user;
    return std::string("postgres");
  };
  for (const char* who :
       {"current_user", "session_user", "user", "current_role"})
    c.functions.push_back(
        {who, 0, 0, "name",
         [session_user](const std::vector<sql_value>&) -> expected<sql_value> {
           return text(session_user());
         }});
  c.functions.push_back(
      {"current_schema", 0, 0, "name",
       [](const std::vector<sql_value>&) -> expected<sql_value> {
         return text("public");
       }});
  c.functions.push_back(
      {"current_catalog", 0, 0, "name",
       [database](const std::vector<sql_value>&) -> expected<sql_value> {
         return text(database);
       }});
  c.functions.push_back(
      {"pg_is_in_recovery", 0, 0, "bool",
       [](const std::vector<sql_value>&) -> expected<sql_value> {
         return boolean(false);
       }});
  c.functions.push_back(
      {"current_database", 0, 0, "name",
       [database](const std::vector<sql_value>&) -> expected<sql_value> {
         return text(database);
       }});
  c.functions.push_back(
      {"current_setting", 1, 2, "text",
       [&env](const std::vector<sql_value>& args) -> expected<sql_value> {
         auto name = text_arg(args, 0);
         if (!name)
           return null();
         auto missing_ok = bool_arg(args, 1, false);
         if (!missing_ok)
           return std::move(missing_ok).err();
         auto settings = env.settings.get();
         if (!settings)
           return error{sqlstate::internal_error, "settings are not loaded"};
         auto shown = settings->show(*name);
         if (!shown && *missing_ok)
           return null();
         if (!shown)
           return std::move(shown).err();
         return text(*shown);
       }});
  c.functions.push_back(
      {"pg_wal_lsn_diff", 2, 2, "numeric",
       [](const std::vector<sql_value>& args) -> expected<sql_value> {
         auto a = lsn_arg(args, 0);
         if (!a)
           return std::move(a).err();
         auto b = lsn_arg(args, 1);
         if (!b)
           return std::move(b).err();
         return integer(static_cast<int64_t>(a->value) -
                        static_cast<int64_t>(b->value));
       }});
  c.functions.push_back(
      {"version", 0, 0, "text",
       [&env](const std::vector<sql_value>&) -> expected<sql_value> {
         return text(
             "walmux " WALMUX_VERSION " (logical replication for PostgreSQL " +
             env.upstream->server_version() + ") on x86_64-pc-linux-gnu");
       }});
}

} // namespace walmux::actors::admin
