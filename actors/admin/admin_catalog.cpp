// admin_catalog.cpp: the node's state as SQL tables and functions
// (admin_catalog.hpp).
#include "actors/admin/admin_catalog.hpp"

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

sql_value text(std::string s) {
  return sql_value{std::move(s)};
}
sql_value integer(int64_t v) {
  return sql_value{v};
}
sql_value boolean(bool b) {
  return sql_value{int64_t{b ? 1 : 0}};
}
sql_value null() {
  return sql_value{std::monostate{}};
}
sql_value lsn_value(lsn at) {
  return text(lsn_to_string(at));
}

sql_value timestamp_value(int64_t unix_micros) {
  return unix_micros == 0
             ? null()
             : text(pgtext::timestamptz_utc(unix_micros -
                                            stream::postgres_epoch_offset_us));
}

// An interval as PostgreSQL prints a short one: 00:00:01.234567.
sql_value interval_value(int64_t us) {
  if (us < 0)
    return null();
  char out[48];
  const int64_t seconds = us / 1000000;
  std::snprintf(out, sizeof out, "%02lld:%02lld:%02lld",
                static_cast<long long>(seconds / 3600),
                static_cast<long long>(seconds / 60 % 60),
                static_cast<long long>(seconds % 60));
  std::string shown = out;
  if (us % 1000000 != 0) {
    std::snprintf(out, sizeof out, ".%06lld",
                  static_cast<long long>(us % 1000000));
    std::string fraction = out;
    while (fraction.back() == '0')
      fraction.pop_back();
    shown += fraction;
  }
  return text(shown);
}

std::optional<std::string> text_arg(const std::vector<sql_value>& args,
                                    size_t i) {
  if (i >= args.size())
    return std::nullopt;
  if (auto* s = std::get_if<std::string>(&args[i]))
    return *s;
  if (auto* n = std::get_if<int64_t>(&args[i]))
    return std::to_string(*n);
  return std::nullopt;
}

// PostgreSQL's boolean input: true/false, t/f, on/off, yes/no, 1/0.
expected<bool> bool_arg(const std::vector<sql_value>& args, size_t i,
                        bool absent) {
  if (i >= args.size() || std::holds_alternative<std::monostate>(args[i]))
    return absent;
  if (auto* n = std::get_if<int64_t>(&args[i]))
    return *n != 0;
  std::string s = text_arg(args, i).value_or("");
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "t" || s == "true" || s == "on" || s == "yes" || s == "1")
    return true;
  if (s == "f" || s == "false" || s == "off" || s == "no" || s == "0")
    return false;
  return error{sqlstate::invalid_text_representation,
               "invalid input syntax for type boolean: \"" + s + "\""};
}

expected<lsn> lsn_arg(const std::vector<sql_value>& args, size_t i) {
  auto s = text_arg(args, i);
  if (!s)
    return error{sqlstate::invalid_text_representation,
                 "invalid input syntax for type pg_lsn: \"\""};
  return lsn_parse(*s);
}

// PostgreSQL's oid input: an unsigned 32-bit decimal.
expected<uint32_t> oid_from_text(const std::string& s) {
  uint32_t v = 0;
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || p != end)
    return error{sqlstate::invalid_text_representation,
                 "invalid input syntax for type oid: \"" + s + "\""};
  return v;
}

error null_argument(const char* what) {
  return error{sqlstate::invalid_parameter_value,
               std::string(what) + " must not be null"};
}

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
              {text(r.name), text(r.plugin), text("logical"), null(),
               text(r.database), boolean(r.temporary),
               boolean(v.active_pid != 0),
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

expected<storage::slot_record>
create_slot_from_args(walsender_env& env, int pid, const std::string& database,
                      const std::vector<sql_value>& args) {
  auto name = text_arg(args, 0);
  auto plugin = text_arg(args, 1);
  if (!name)
    return null_argument("slot_name");
  if (!plugin)
    return null_argument("plugin");
  auto temporary = bool_arg(args, 2, false);
  if (!temporary)
    return std::move(temporary).err();
  auto two_phase = bool_arg(args, 3, false);
  if (!two_phase)
    return std::move(two_phase).err();
  return create_logical_slot(env, *name, *plugin, database, *temporary,
                             *two_phase, pid);
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
               {integer(r.oid), integer(0), lsn_value(r.skip_lsn), text(r.name),
                integer(10), boolean(r.enabled), boolean(v.options.binary),
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
          rows.push_back({null(),
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

// pg_size_pretty(bigint) as PostgreSQL 15 prints it: bytes below 10kB,
// then kB, MB, GB, TB, PB, each below 20480 of itself, rounded half away
// from zero.
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

// The hidden argument columns of the changes functions: slot_name,
// upto_lsn, upto_nchanges, then VARIADIC options as up to 16 values.
constexpr int change_option_values = 16;

std::string change_function_schema(bool binary) {
  std::string schema =
      std::string("CREATE TABLE x(lsn pg_lsn, xid xid, data ") +
      (binary ? "bytea" : "text") +
      ", arg_slot_name HIDDEN, arg_upto_lsn HIDDEN, "
      "arg_upto_nchanges HIDDEN";
  for (int i = 1; i <= change_option_values; ++i)
    schema += ", arg_option" + std::to_string(i) + " HIDDEN";
  return schema + ")";
}

// pg_logical_slot_{get,peek}[_binary]_changes (slot_decoding.hpp).
table_def change_function(walsender_env& env, int session_pid,
                          const std::string& database, bool confirm,
                          bool binary) {
  std::string name = std::string("pg_logical_slot_") +
                     (confirm ? "get" : "peek") + (binary ? "_binary" : "") +
                     "_changes";
  return {name, change_function_schema(binary), 3 + change_option_values,
          [&env, session_pid, database, confirm, binary,
           name](const std::vector<sql_value>& args)
              -> expected<std::vector<sql_row>> {
            slot_changes_request r;
            auto slot = text_arg(args, 0);
            if (!slot)
              return error{"22004", "slot name must not be null"};
            r.slot = *slot;
            if (args.size() > 1 &&
                !std::holds_alternative<std::monostate>(args[1])) {
              auto upto = lsn_arg(args, 1);
              if (!upto)
                return std::move(upto).err();
              r.upto_lsn = *upto;
            }
            if (auto n = text_arg(args, 2)) {
              int64_t v = 0;
              auto [end, ec] =
                  std::from_chars(n->data(), n->data() + n->size(), v);
              if (ec != std::errc() || end != n->data() + n->size() ||
                  v < INT32_MIN || v > INT32_MAX)
                return error{sqlstate::invalid_text_representation,
                             "invalid input syntax for type integer: \"" + *n +
                                 "\""};
              r.upto_nchanges = v;
            }
            // The options: the given values, in name/value pairs.
            std::vector<std::string> values;
            bool ended = false;
            for (size_t i = 3; i < args.size(); ++i) {
              auto v = text_arg(args, i);
              if (!v) {
                ended = true;
                continue;
              }
              if (ended)
                return error{sqlstate::feature_not_supported,
                             "array must not contain nulls"};
              values.push_back(*v);
            }
            if (values.size() % 2 != 0)
              return error{sqlstate::invalid_parameter_value,
                           "array must have even number of elements"};
            for (size_t i = 0; i < values.size(); i += 2)
              r.options.push_back(
                  {values[i], repl::option::kind::string, values[i + 1]});
            r.binary = binary;
            r.confirm = confirm;
            r.function_signature = name + "(name,pg_lsn,integer,text[])";
            auto rows = slot_changes(env, session_pid, database, r,
                                     sql_limits{}.result_bytes);
            if (!rows)
              return std::move(rows).err();
            std::vector<sql_row> out;
            out.reserve(rows->size());
            for (auto& c : *rows)
              out.push_back(
                  {lsn_value(c.at), integer(c.xid), text(std::move(c.data))});
            return out;
          }};
}

} // namespace

node_catalog make_node_catalog(walsender_env& env, int session_pid,
                               const std::string& database) {
  node_catalog c;
  c.tables.push_back(settings_table(env));
  c.tables.push_back(wal_receiver(env));
  c.tables.push_back(stat_activity(env));
  for (bool confirm : {true, false})
    for (bool binary : {false, true})
      c.tables.push_back(
          change_function(env, session_pid, database, confirm, binary));
  auto advance = [&env, session_pid, database](
                     const std::vector<sql_value>& args) -> expected<lsn> {
    auto slot = text_arg(args, 0);
    if (!slot)
      return error{"22004", "slot name must not be null"};
    auto upto = lsn_arg(args, 1);
    if (!upto)
      return std::move(upto).err();
    return advance_slot(env, session_pid, database, *slot, *upto);
  };
  c.tables.push_back(
      {"pg_replication_slot_advance",
       "CREATE TABLE x(slot_name name, end_lsn pg_lsn, arg_slot_name HIDDEN, "
       "arg_upto_lsn HIDDEN)",
       2,
       [advance](const std::vector<sql_value>& args)
           -> expected<std::vector<sql_row>> {
         auto end = advance(args);
         if (!end)
           return std::move(end).err();
         return std::vector<sql_row>{
             {text(text_arg(args, 0).value_or("")), lsn_value(*end)}};
       }});
  c.functions.push_back(
      {"pg_replication_slot_advance", 2, 2, "text",
       [advance](const std::vector<sql_value>& args) -> expected<sql_value> {
         auto end = advance(args);
         if (!end)
           return std::move(end).err();
         return text("(" + text_arg(args, 0).value_or("") + "," +
                     lsn_to_string(*end) + ")");
       }});
  c.tables.push_back(replication_slots(env));
  c.tables.push_back(stat_replication(env));
  c.tables.push_back(stat_replication_slots(env));
  c.tables.push_back(wal_cache_stats(env));
  c.tables.push_back(origin_status(env, "pg_replication_origin_status"));
  c.tables.push_back(origin_status(env, "pg_show_replication_origin_status"));
  if (env.subscriptions != nullptr)
    for (auto& t : subscription_tables(env))
      c.tables.push_back(std::move(t));
  c.tables.push_back(
      {"pg_create_logical_replication_slot",
       "CREATE TABLE x(slot_name name, lsn pg_lsn, arg_slot_name HIDDEN, "
       "arg_plugin HIDDEN, arg_temporary HIDDEN, arg_two_phase HIDDEN)",
       4,
       [&env, session_pid, database](const std::vector<sql_value>& args)
           -> expected<std::vector<sql_row>> {
         auto slot = create_slot_from_args(env, session_pid, database, args);
         if (!slot)
           return std::move(slot).err();
         return std::vector<sql_row>{
             {text(slot->name), lsn_value(slot->confirmed_flush)}};
       }});

  c.functions.push_back(
      {"pg_create_logical_replication_slot", 2, 4, "text",
       [&env, session_pid,
        database](const std::vector<sql_value>& args) -> expected<sql_value> {
         auto slot = create_slot_from_args(env, session_pid, database, args);
         if (!slot)
           return std::move(slot).err();
         return text("(" + slot->name + "," +
                     lsn_to_string(slot->confirmed_flush) + ")");
       }});
  c.functions.push_back(
      {"pg_drop_replication_slot", 1, 1, "void",
       [&env, session_pid](
           const std::vector<sql_value>& args) -> expected<sql_value> {
         auto name = text_arg(args, 0);
         if (!name)
           return null_argument("slot_name");
         if (auto st = drop_slot(env, *name, false, session_pid); !st)
           return std::move(st).err();
         return text("");
       }});
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
      {"pg_stat_reset_replication_slot", 1, 1, "void",
       [&env](const std::vector<sql_value>& args) -> expected<sql_value> {
         auto name = text_arg(args, 0);
         if (name && !env.slots->get(*name))
           return error{sqlstate::undefined_object,
                        "replication slot \"" + *name + "\" does not exist"};
         env.slot_counts.reset(name, unix_micros_now());
         return text("");
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
  auto copy = [&env, session_pid, database](const std::vector<sql_value>& args)
      -> expected<storage::slot_record> {
    auto source = text_arg(args, 0);
    if (!source)
      return null_argument("src_slot_name");
    auto name = text_arg(args, 1);
    if (!name)
      return null_argument("dst_slot_name");
    std::optional<bool> temporary;
    if (args.size() > 2 && !std::holds_alternative<std::monostate>(args[2])) {
      auto t = bool_arg(args, 2, false);
      if (!t)
        return std::move(t).err();
      temporary = *t;
    }
    return copy_logical_slot(env, *source, *name, database, temporary,
                             text_arg(args, 3), session_pid);
  };
  c.tables.push_back(
      {"pg_copy_logical_replication_slot",
       "CREATE TABLE x(slot_name name, lsn pg_lsn, arg_src_slot_name HIDDEN, "
       "arg_dst_slot_name HIDDEN, arg_temporary HIDDEN, arg_plugin HIDDEN)",
       4,
       [copy](const std::vector<sql_value>& args)
           -> expected<std::vector<sql_row>> {
         auto slot = copy(args);
         if (!slot)
           return std::move(slot).err();
         return std::vector<sql_row>{
             {text(slot->name), lsn_value(slot->confirmed_flush)}};
       }});
  c.functions.push_back(
      {"pg_copy_logical_replication_slot", 2, 4, "text",
       [copy](const std::vector<sql_value>& args) -> expected<sql_value> {
         auto slot = copy(args);
         if (!slot)
           return std::move(slot).err();
         return text("(" + slot->name + "," +
                     lsn_to_string(slot->confirmed_flush) + ")");
       }});
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
         int64_t number = 0;
         auto [end, ec] =
             std::from_chars(pid->data(), pid->data() + pid->size(), number);
         if (ec != std::errc() || end != pid->data() + pid->size())
           return error{sqlstate::invalid_text_representation,
                        "invalid input syntax for type integer: \"" + *pid +
                            "\""};
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
           auto t = text_arg(args, 0).value_or("");
           auto [end, ec] =
               std::from_chars(t.data(), t.data() + t.size(), bytes);
           if (ec != std::errc() || end != t.data() + t.size())
             return error{sqlstate::invalid_text_representation,
                          "invalid input syntax for type bigint: \"" + t +
                              "\""};
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
  return c;
}

} // namespace walmux::actors::admin
