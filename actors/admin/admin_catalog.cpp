// admin_catalog.cpp: the node's state as SQL tables and functions
// (admin_catalog.hpp).
#include "actors/admin/admin_catalog.hpp"

#include "actors/admin/connection_views.hpp"
#include "actors/admin/psql_catalog.hpp"
#include "actors/admin/server_functions.hpp"
#include "actors/admin/slot_functions.hpp"
#include "actors/admin/sql_values.hpp"
#include "actors/admin/upstream_catalog.hpp"
#include "actors/apply/subscription_manager.hpp"
#include "actors/common/clock.hpp"
#include "actors/walsender/listener.hpp"
#include "actors/walsender/slot_commands.hpp"
#include "actors/walsender/slot_decoding.hpp"
#include "common/log.hpp"
#include "config/parameters.hpp"
#include "config/units.hpp"
#include "protocol/messages.hpp"
#include "protocol/pg_text.hpp"
#include "protocol/stream.hpp"
#include "storage/retention.hpp"

#include <charconv>
#include <climits>
#include <csignal>
#include <cstdio>
#include <map>
#include <unistd.h>

#include <libpq-fe.h>

namespace walmux::actors::admin {
namespace {

// pg_replication_slots, PostgreSQL 15's columns (and, hidden, 16+'s
// invalidation reason).
table_def replication_slots(walsender_env& env) {
  return {
      "pg_replication_slots",
      "CREATE TABLE x(slot_name name, plugin name, slot_type text, "
      "datoid oid, database name, temporary bool, active bool, "
      "active_pid int4, xmin xid, catalog_xmin xid, restart_lsn pg_lsn, "
      "confirmed_flush_lsn pg_lsn, wal_status text, safe_wal_size int8, "
      "two_phase bool, invalidation_reason text HIDDEN)",
      0,
      [&env](const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
        auto settings = env.settings.get();
        const int64_t keep_mb =
            settings ? settings->get_int("max_slot_wal_keep_size") : -1;
        const uint64_t written = env.store->written_position();
        std::vector<sql_row> rows;
        for (const auto& v : env.slots->list()) {
          const auto& r = v.record;
          storage::slot_retention need{
              r.name, env.store->scan_start_for(r.confirmed_flush),
              !r.invalidation_reason.empty()};
          auto safe = storage::safe_wal_size(need, written, keep_mb);
          rows.push_back(
              {text(r.name), text(r.plugin), text("logical"),
               integer(node_database_oid), text(r.database),
               boolean(r.temporary), boolean(v.active_pid != 0),
               v.active_pid ? integer(v.active_pid) : null(), null(), null(),
               lsn_value(r.restart_lsn), lsn_value(r.confirmed_flush),
               text(std::string(storage::wal_status(need, written, keep_mb))),
               safe ? integer(*safe) : null(), boolean(r.two_phase),
               r.invalidation_reason.empty() ? null()
                                             : text(r.invalidation_reason)});
        }
        return rows;
      }};
}

// aurora_stat_logical_wal_cache(): one row per slot; wal_cache_blks_hit is
// a hidden alias of cache_hit (the reference's example query uses it).
table_def wal_cache_stats(walsender_env& env) {
  return {
      "aurora_stat_logical_wal_cache",
      "CREATE TABLE x(name text, active_pid int4, cache_hit int8, "
      "cache_miss int8, blks_read int8, hit_rate text, "
      "last_reset_timestamp timestamptz, wal_cache_blks_hit int8 HIDDEN)",
      0,
      [&env](const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
        std::map<std::string, storage::cache_counters> counters;
        for (auto& c : env.cache->counters())
          counters[c.slot] = c.counters;
        std::vector<sql_row> rows;
        for (const auto& v : env.slots->list()) {
          auto it = counters.find(v.record.name);
          const storage::cache_counters c =
              it == counters.end() ? storage::cache_counters{} : it->second;
          char rate[32];
          std::snprintf(rate, sizeof rate, "%.2f%%",
                        c.blocks_read == 0
                            ? 0.0
                            : 100.0 * static_cast<double>(c.hits) /
                                  static_cast<double>(c.blocks_read));
          rows.push_back({text(v.record.name),
                          v.active_pid ? integer(v.active_pid) : null(),
                          integer(static_cast<int64_t>(c.hits)),
                          integer(static_cast<int64_t>(c.misses)),
                          integer(static_cast<int64_t>(c.blocks_read)),
                          text(rate), timestamp_value(c.last_reset_time),
                          integer(static_cast<int64_t>(c.hits))});
        }
        return rows;
      }};
}

table_def origin_status(walsender_env& env, const char* name) {
  return {
      name,
      "CREATE TABLE x(local_id oid, external_id text, remote_lsn pg_lsn, "
      "local_lsn pg_lsn)",
      0,
      [&env](const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
        auto origins = env.catalog->list_origins();
        if (!origins)
          return std::move(origins).err();
        std::vector<sql_row> rows;
        for (const auto& o : *origins)
          rows.push_back({integer(o.id), text(o.name), lsn_value(o.remote_lsn),
                          lsn_value(o.local_lsn)});
        return rows;
      }};
}

// pg_stat_replication, PostgreSQL 15's columns; the lags as
// lag_tracker.hpp measures them (NULL before the first reply).
table_def stat_replication(walsender_env& env) {
  return {
      "pg_stat_replication",
      "CREATE TABLE x(pid int4, usesysid oid, usename name, "
      "application_name text, client_addr text, client_hostname text, "
      "client_port int4, backend_start timestamptz, backend_xmin xid, "
      "state text, sent_lsn pg_lsn, write_lsn pg_lsn, flush_lsn pg_lsn, "
      "replay_lsn pg_lsn, write_lag interval, flush_lag interval, "
      "replay_lag interval, sync_priority int4, sync_state text, reply_time "
      "timestamptz, slot_name name HIDDEN)",
      0,
      [&env](const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
        std::vector<sql_row> rows;
        for (const auto& s : env.senders.list()) {
          const bool streaming = s.state != "startup";
          rows.push_back({integer(s.pid),
                          integer(10),
                          text(s.user),
                          text(s.application_name),
                          text(s.client_addr),
                          null(),
                          integer(s.client_port),
                          timestamp_value(s.backend_start),
                          null(),
                          text(s.state),
                          streaming ? lsn_value(s.sent) : null(),
                          streaming ? lsn_value(s.write) : null(),
                          streaming ? lsn_value(s.flush) : null(),
                          streaming ? lsn_value(s.replay) : null(),
                          interval_value(s.lag_us[0]),
                          interval_value(s.lag_us[1]),
                          interval_value(s.lag_us[2]),
                          integer(0),
                          text("async"),
                          timestamp_value(s.reply_time),
                          s.slot.empty() ? null() : text(s.slot)});
        }
        return rows;
      }};
}

// pg_stat_replication_slots, PostgreSQL 15's columns.
table_def stat_replication_slots(walsender_env& env) {
  return {
      "pg_stat_replication_slots",
      "CREATE TABLE x(slot_name text, spill_txns int8, spill_count int8, "
      "spill_bytes int8, stream_txns int8, stream_count int8, "
      "stream_bytes int8, total_txns int8, total_bytes int8, "
      "stats_reset timestamptz)",
      0,
      [&env](const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
        std::vector<sql_row> rows;
        for (const auto& v : env.slots->list()) {
          const slot_counts c = env.slot_counts.get(v.record.name);
          rows.push_back({text(v.record.name),
                          integer(static_cast<int64_t>(c.spill_txns)),
                          integer(static_cast<int64_t>(c.spill_count)),
                          integer(static_cast<int64_t>(c.spill_bytes)),
                          integer(0), integer(0), integer(0),
                          integer(static_cast<int64_t>(c.total_txns)),
                          integer(static_cast<int64_t>(c.total_bytes)),
                          timestamp_value(c.stats_reset)});
        }
        return rows;
      }};
}

// The subscriptions of the apply role: PostgreSQL 15's pg_subscription
// (with 16's suborigin, and walmux's subtarget), pg_subscription_rel
// (srrelid is the target table's OID; hidden srrelname names it),
// pg_stat_subscription (one row per running worker) and
// pg_stat_subscription_stats (with PostgreSQL 18's conflict counts that
// walmux keeps).
std::vector<table_def> subscription_tables(walsender_env& env) {
  auto* subs = env.subscriptions;
  std::vector<table_def> out;
  out.push_back(
      {"pg_subscription",
       "CREATE TABLE x(oid oid, subdbid oid, subskiplsn pg_lsn, subname name, "
       "subowner oid, subenabled bool, subbinary bool, substream text, "
       "subtwophasestate text, subdisableonerr bool, subconninfo text, "
       "subslotname name, subsynccommit text, subpublications text, "
       "suborigin text, subtarget text)",
       0,
       [subs](const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
         std::vector<sql_row> rows;
         for (const auto& v : subs->list()) {
           const auto& r = v.record;
           std::string pubs = "{";
           for (size_t i = 0; i < r.publications.size(); ++i)
             pubs += (i ? "," : "") + r.publications[i];
           pubs += "}";
           rows.push_back(
               {integer(r.oid), integer(node_database_oid),
                lsn_value(r.skip_lsn), text(r.name), integer(10),
                boolean(r.enabled), boolean(v.options.binary),
                text(v.options.streaming == "on" ? "t" : "f"),
                text(std::string(
                    1, apply::subscription_two_phase_state(r, v.options))),
                boolean(v.options.disable_on_error), text(r.conninfo),
                v.options.slot_name_none
                    ? null()
                    : text(v.options.slot_name.value_or(r.name)),
                text(v.options.synchronous_commit), text(pubs),
                text(v.options.origin), text(v.options.target)});
         }
         return rows;
       }});
  out.push_back(
      {"pg_subscription_rel",
       "CREATE TABLE x(srsubid oid, srrelid oid, srsubstate text, srsublsn "
       "pg_lsn, srrelname text HIDDEN)",
       0,
       [subs](const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
         std::vector<sql_row> rows;
         for (const auto& v : subs->list())
           for (const auto& t : v.record.tables)
             rows.push_back(
                 {integer(v.record.oid), integer(t.target_oid),
                  text(std::string(1, t.state)),
                  t.state_lsn.valid() ? lsn_value(t.state_lsn) : null(),
                  text(t.schema + "." + t.name)});
         return rows;
       }});
  out.push_back(
      {"pg_stat_subscription",
       "CREATE TABLE x(subid oid, subname name, pid int4, relid oid, "
       "received_lsn pg_lsn, last_msg_send_time timestamptz, "
       "last_msg_receipt_time timestamptz, latest_end_lsn pg_lsn, "
       "latest_end_time timestamptz)",
       0,
       [subs](const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
         auto pg_time = [](int64_t pg_micros) {
           return pg_micros == 0 ? null()
                                 : text(pgtext::timestamptz_utc(pg_micros));
         };
         std::vector<sql_row> rows;
         for (const auto& v : subs->list()) {
           const auto& a = v.activity;
           rows.push_back(
               {integer(v.record.oid), text(v.record.name),
                a.pid ? integer(a.pid) : null(), null(),
                a.received_lsn.valid() ? lsn_value(a.received_lsn) : null(),
                pg_time(a.last_msg_send_time), pg_time(a.last_msg_receipt_time),
                a.latest_end_lsn.valid() ? lsn_value(a.latest_end_lsn) : null(),
                pg_time(a.latest_end_time)});
         }
         return rows;
       }});
  out.push_back(
      {"pg_stat_subscription_stats",
       "CREATE TABLE x(subid oid, subname name, apply_error_count int8, "
       "sync_error_count int8, confl_insert_exists int8, "
       "confl_update_missing int8, confl_delete_missing int8, stats_reset "
       "timestamptz)",
       0,
       [subs](const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
         std::vector<sql_row> rows;
         for (const auto& v : subs->list()) {
           const auto c = v.activity.view_counts();
           rows.push_back(
               {integer(v.record.oid), text(v.record.name),
                integer(c.apply_error_count), integer(c.sync_error_count),
                integer(c.confl_insert_exists), integer(c.confl_update_missing),
                integer(c.confl_delete_missing),
                timestamp_value(v.activity.stats_reset)});
         }
         return rows;
       }});
  return out;
}

// pg_stat_activity: PostgreSQL 15's columns, one row per session (SQL
// sessions are "client backend", replication sessions "walsender") and per
// running apply worker ("logical replication worker", no client). What
// walmux does not have (transaction ids, wait events, query ids) is NULL.
table_def stat_activity(walsender_env& env) {
  return {
      "pg_stat_activity",
      "CREATE TABLE x(datid oid, datname name, pid int4, leader_pid int4, "
      "usesysid oid, usename name, application_name text, client_addr text, "
      "client_hostname text, client_port int4, backend_start timestamptz, "
      "xact_start timestamptz, query_start timestamptz, state_change "
      "timestamptz, wait_event_type text, wait_event text, state text, "
      "backend_xid xid, backend_xmin xid, query_id int8, query text, "
      "backend_type text)",
      0,
      [&env](const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
        std::vector<sql_row> rows;
        for (const auto& a : env.activity.list())
          rows.push_back({integer(node_database_oid),
                          text(a.database),
                          integer(a.pid),
                          null(),
                          null(),
                          text(a.user),
                          text(a.application_name),
                          text(a.client_addr),
                          null(),
                          integer(a.client_port),
                          timestamp_value(a.backend_start),
                          timestamp_value(a.xact_start),
                          timestamp_value(a.query_start),
                          timestamp_value(a.state_change),
                          null(),
                          null(),
                          text(a.state),
                          null(),
                          null(),
                          null(),
                          text(a.query),
                          text(a.backend_type)});
        if (env.subscriptions != nullptr)
          for (const auto& v : env.subscriptions->list())
            if (v.activity.pid != 0)
              rows.push_back({null(),
                              null(),
                              integer(v.activity.pid),
                              null(),
                              null(),
                              null(),
                              text(""),
                              null(),
                              null(),
                              null(),
                              null(),
                              null(),
                              null(),
                              null(),
                              null(),
                              null(),
                              null(),
                              null(),
                              null(),
                              null(),
                              text(""),
                              text("logical replication worker")});
        return rows;
      }};
}

// The upstream conninfo as pg_stat_wal_receiver shows one: every option
// set, the password hidden.
std::string shown_conninfo(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    PQfreemem(err);
    return "";
  }
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr)
      continue;
    std::string v = std::string(o->keyword) == "password" ? "********" : o->val;
    if (v.empty() || v.find_first_of(" '\\") != std::string::npos) {
      std::string quoted = "'";
      for (char ch : v)
        quoted += (ch == '\'' || ch == '\\') ? std::string("\\") + ch
                                             : std::string(1, ch);
      v = quoted + "'";
    }
    out += (out.empty() ? "" : " ") + std::string(o->keyword) + "=" + v;
  }
  PQconninfoFree(opts);
  return out;
}

// pg_stat_wal_receiver: the node's stream from its upstream, as a standby
// shows its WAL receiver: written_lsn the newest message received,
// flushed_lsn what is durable in the store, latest_end_lsn the upstream's
// newest reported end. No row on a node without an upstream. pid and the
// timelines are NULL (the stream is logical; walmux runs no process), and
// receive_start_lsn while the node streams from its upstream slot's own
// position (a new node asks for 0/0).
table_def wal_receiver(walsender_env& env) {
  return {
      "pg_stat_wal_receiver",
      "CREATE TABLE x(pid int4, status text, receive_start_lsn pg_lsn, "
      "receive_start_tli int4, written_lsn pg_lsn, flushed_lsn pg_lsn, "
      "received_tli int4, last_msg_send_time timestamptz, "
      "last_msg_receipt_time timestamptz, latest_end_lsn pg_lsn, "
      "latest_end_time timestamptz, slot_name text, sender_host text, "
      "sender_port int4, conninfo text)",
      0,
      [&env](const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
        std::vector<sql_row> rows;
        if (env.upstream_conninfo.empty())
          return rows;
        const auto& u = *env.upstream;
        auto pg_time = [](int64_t pg_micros) {
          return pg_micros == 0
                     ? null()
                     : timestamp_value(pg_micros +
                                       stream::postgres_epoch_offset_us);
        };
        auto lsn_or_null = [](uint64_t v) {
          return v == 0 ? null() : lsn_value(lsn{v});
        };
        const std::string host = u.host();
        rows.push_back(
            {null(), text(u.streaming.load() ? "streaming" : "starting"),
             lsn_or_null(u.start_lsn.load()), null(),
             lsn_or_null(u.received.load()), lsn_or_null(u.confirmed.load()),
             null(), pg_time(u.last_send_time.load()),
             timestamp_value(u.last_receipt_time.load()),
             lsn_or_null(u.wal_end.load()), pg_time(u.wal_end_time.load()),
             u.slot().empty() ? null() : text(u.slot()),
             host.empty() ? null() : text(host),
             u.port() == 0 ? null() : integer(u.port()),
             text(shown_conninfo(env.upstream_conninfo))});
        return rows;
      }};
}

// pg_settings: PostgreSQL's columns over walmux's parameters, as loaded (a
// reload shows here at once). `setting` is in the parameter's base unit as
// PostgreSQL shows it; read-only parameters show their derived value.
table_def settings_table(walsender_env& env) {
  return {
      "pg_settings",
      "CREATE TABLE x(name text, setting text, unit text, category text, "
      "short_desc text, extra_desc text, context text, vartype text, source "
      "text, min_val text, max_val text, enumvals text, boot_val text, "
      "reset_val text, sourcefile text, sourceline int4, pending_restart "
      "bool)",
      0,
      [&env](const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
        auto settings = env.settings.get();
        if (!settings)
          return error{sqlstate::internal_error, "settings are not loaded"};
        std::vector<sql_row> rows;
        for (const auto& p : config::parameter_table()) {
          const std::string name(p.name);
          std::string setting, boot;
          sql_value min = null(), max = null(), enums = null();
          switch (p.type) {
          case config::param_type::boolean:
            setting = settings->get_bool(name) ? "on" : "off";
            boot = p.default_bool ? "on" : "off";
            break;
          case config::param_type::integer:
            setting = std::to_string(settings->get_int(name));
            boot = std::to_string(p.dynamic_default != nullptr
                                      ? p.dynamic_default(settings->facts())
                                      : p.default_int);
            min = text(std::to_string(p.min));
            max = text(std::to_string(p.max));
            break;
          case config::param_type::enumeration: {
            std::string list = "{";
            for (const auto& v : p.enum_values)
              list += (list.size() > 1 ? "," : "") + std::string(v);
            enums = text(list + "}");
            [[fallthrough]];
          }
          case config::param_type::string:
            setting = settings->get_string(name);
            boot = std::string(p.default_string);
            break;
          }
          if (p.context == config::param_context::internal) {
            auto shown = settings->show(name);
            if (shown)
              setting = *shown;
          }
          const char* context =
              p.context == config::param_context::internal     ? "internal"
              : p.context == config::param_context::postmaster ? "postmaster"
                                                               : "sighup";
          const char* vartype =
              p.type == config::param_type::boolean   ? "bool"
              : p.type == config::param_type::integer ? "integer"
              : p.type == config::param_type::string  ? "string"
                                                      : "enum";
          const auto source = settings->source_of(name);
          const char* source_text =
              source == config::value_source::file ? "configuration file"
              : source == config::value_source::command_line ? "command line"
                                                             : "default";
          const std::string unit(config::unit_name(p.base_unit));
          rows.push_back(
              {text(name), text(setting), unit.empty() ? null() : text(unit),
               text(std::string(p.group)), text(std::string(p.description)),
               null(), text(context), text(vartype), text(source_text), min,
               max, enums, text(boot), text(setting), null(), null(),
               boolean(false)});
        }
        return rows;
      }};
}

} // namespace

node_catalog make_node_catalog(walsender_env& env, int session_pid,
                               const std::string& database) {
  node_catalog c;
  c.tables.push_back(settings_table(env));
  c.tables.push_back(wal_receiver(env));
  c.tables.push_back(hba_file_rules_table(env));
  c.tables.push_back(stat_ssl_table(env));
  c.tables.push_back(ident_file_mappings_table(env));
  c.tables.push_back(stat_activity(env));
  add_slot_functions(c, env, session_pid, database);
  add_server_functions(c, env, session_pid, database);
  add_psql_catalog(c, database);
  add_upstream_catalog(c, env);
  c.tables.push_back(replication_slots(env));
  c.tables.push_back(stat_replication(env));
  c.tables.push_back(stat_replication_slots(env));
  c.tables.push_back(wal_cache_stats(env));
  c.tables.push_back(origin_status(env, "pg_replication_origin_status"));
  c.tables.push_back(origin_status(env, "pg_show_replication_origin_status"));
  if (env.subscriptions != nullptr)
    for (auto& t : subscription_tables(env))
      c.tables.push_back(std::move(t));
  c.functions.push_back(
      {"aurora_stat_reset_wal_cache", 1, 1, "text",
       [&env](const std::vector<sql_value>& args) -> expected<sql_value> {
         auto name = text_arg(args, 0);
         if (name && !env.slots->get(*name))
           return text("Replication slot not found. Please try again.");
         env.cache->reset(name);
         return text("Reset the logical wal cache counter.");
       }});
  c.functions.push_back(
      {"pg_stat_reset_subscription_stats", 1, 1, "void",
       [&env](const std::vector<sql_value>& args) -> expected<sql_value> {
         // Not strict: NULL resets every subscription's counters.
         std::optional<uint32_t> subid;
         if (auto text_oid = text_arg(args, 0)) {
           auto oid = oid_from_text(*text_oid);
           if (!oid)
             return std::move(oid).err();
           if (*oid == 0)
             return error{sqlstate::invalid_parameter_value,
                          "invalid subscription OID 0"};
           subid = *oid;
         }
         if (env.subscriptions != nullptr)
           env.subscriptions->reset_stats(subid, unix_micros_now());
         return text("");
       }});
  return c;
}

} // namespace walmux::actors::admin
