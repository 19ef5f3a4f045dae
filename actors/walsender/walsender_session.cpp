// walsender_session.cpp: a walsender session's startup and replication
// commands (walsender_session.hpp).
#include "actors/walsender/walsender_session.hpp"

#include "actors/common/pq_session.hpp"
#include "actors/source/source.hpp"
#include "actors/walsender/slot_commands.hpp"
#include "common/log.hpp"

#include <cctype>
#include <random>

namespace walmux::actors::walsender_detail {

bool session::on_data(const std::string& bytes) {
  if (link_->encrypted()) {
    auto plain = link_->tls_receive(bytes);
    if (!plain) {
      // As PostgreSQL: logged; the client gets no protocol message.
      log_error(elevel::log, plain.err());
      link_->close();
      return false;
    }
    frames_.feed(*plain);
  } else {
    frames_.feed(bytes);
  }
  while (true) {
    auto f = frames_.next();
    if (!f)
      return fatal(f.err());
    if (!*f)
      return true;
    if (!on_frame(**f))
      return false;
  }
}

bool session::on_frame(const wire::frame& f) {
  if (!started_) {
    if (!auth_)
      return on_startup(f);
    std::string out;
    const auto o = auth_->on_frame(f, out);
    return after_auth_step(o, out);
  }
  // A client that sends commands without reading the answers waits here
  // (walsender and SQL sessions alike): its answers stay within the send
  // bound, and the listener stops reading from it once this actor's
  // mailbox holds its limit.
  const size_t bound = static_cast<size_t>(env_.send_buffer_bytes.load());
  while (link_->queued() >= bound && !link_->closed())
    link_->wait_for_room(bound, pump_wait);
  if (link_->closed())
    return false;
  if (admin_)
    return admin_->on_frame(f);
  auto m = wire::decode_frontend(f);
  if (!m)
    return fatal(m.err());
  if (auto* q = std::get_if<wire::query>(&*m))
    return on_query(q->sql);
  if (auto* d = std::get_if<wire::copy_data>(&*m))
    return on_copy_data(d->data);
  if (std::holds_alternative<wire::copy_done>(*m)) {
    if (stream_) {
      end_streaming();
      link_->send(encoded(wire::copy_done{}));
      link_->send(encoded(wire::command_complete{"COPY 0"}));
      link_->send(encoded(wire::command_complete{"START_REPLICATION"}));
      ready();
    }
    return true;
  }
  if (std::holds_alternative<wire::terminate>(*m)) {
    link_->close();
    return false;
  }
  if (std::holds_alternative<wire::copy_fail>(*m))
    return true;
  return fatal(error{sqlstate::protocol_violation,
                     "extended query protocol not supported in a replication "
                     "connection"});
}

bool session::on_startup(const wire::frame& f) {
  auto m = wire::decode_initial(f);
  if (!m)
    return fatal(m.err());
  if (std::holds_alternative<wire::ssl_request>(*m)) {
    if (link_->encrypted())
      return fatal(error{sqlstate::protocol_violation,
                         "unsupported frontend protocol 1234.5679: server "
                         "supports 3.0 to 3.0"});
    auto config = env_.auth.get();
    if (!config || !config->tls) {
      link_->send("N");
      return true;
    }
    link_->send("S");
    link_->start_tls(config->tls);
    return true;
  }
  if (std::holds_alternative<wire::gssenc_request>(*m)) {
    link_->send("N");
    return true;
  }
  if (std::holds_alternative<wire::cancel_request>(*m)) {
    link_->close();
    return false;
  }
  const auto& s = std::get<wire::startup_message>(*m);
  auto param = [&](std::string_view n) -> std::string {
    const std::string* v = s.get(n);
    return v ? *v : "";
  };
  user_ = param("user");
  database_ = param("database").empty() ? user_ : param("database");
  application_name_ = param("application_name");
  options_ = param("options");
  if (!param("client_encoding").empty())
    client_encoding_ = param("client_encoding");
  replication_ = param("replication");
  // Password messages are typed frames, bounded as PostgreSQL bounds them
  // (PG_MAX_AUTH_TOKEN_LENGTH) while the client is unknown.
  frames_ = wire::frame_reader(wire::frame_mode::typed, 65535);
  auto peer = hba::parse_address(link_->peer_address());
  if (!peer)
    return fatal(
        error{sqlstate::invalid_authorization,
              "unrecognized client address \"" + link_->peer_address() + "\""});
  auth_ = std::make_unique<client_auth>(
      env_.auth.get(),
      hba::connection{*peer, user_, database_, link_->encrypted()},
      link_->peer_address(), link_->tls_state());
  std::string out;
  const auto decided = auth_->begin(out);
  return after_auth_step(decided, out);
}

bool session::after_auth_step(client_auth::outcome o, const std::string& out) {
  if (!out.empty())
    link_->send(out);
  if (o == client_auth::outcome::waiting)
    return true;
  if (o == client_auth::outcome::refused) {
    error logged = auth_->refusal();
    if (!auth_->log_detail().empty())
      logged.detail = auth_->log_detail();
    if (auth_->rule_line() > 0)
      logged.detail += std::string(logged.detail.empty() ? "" : "\n") +
                       "Connection matched pg_hba.conf line " +
                       std::to_string(auth_->rule_line()) + ".";
    log_error(elevel::fatal, logged);
    return fatal(auth_->refusal());
  }
  auth_.reset();
  // Logged in: messages as large as PostgreSQL takes them. The client
  // sends nothing before ReadyForQuery, so no buffered byte is dropped.
  frames_ = wire::frame_reader(wire::frame_mode::typed);
  return finish_startup();
}

bool session::finish_startup() {
  std::string replication = replication_;
  for (auto& ch : replication)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const bool admin = replication.empty() || replication == "false" ||
                     replication == "off" || replication == "no" ||
                     replication == "0";
  if (!admin && replication != "database")
    return fatal(error{sqlstate::feature_not_supported,
                       "walmux does not support physical replication"}
                     .with_hint("Connect with replication=database for "
                                "logical replication, or without it for "
                                "walmux's SQL surface."));
  if (admin) {
    // Each SQL session holds an SQL engine: their number is bounded as
    // PostgreSQL bounds its backends.
    if (++env_.admin_sessions > env_.max_connections) {
      --env_.admin_sessions;
      return fatal(error{"53300", "sorry, too many clients already"});
    }
    pid_ = ++env_.next_pid;
    admin_ =
        std::make_unique<admin::admin_session>(env_, link_, pid_, database_);
  } else if (!env_.logical_replication)
    return fatal(error{"55000", "logical decoding requires wal_level >= "
                                "logical"}
                     .with_hint("Set rds.logical_replication = on in "
                                "walmux.conf and restart walmux."));
  if (!admin && ++env_.active_senders > env_.max_wal_senders) {
    --env_.active_senders;
    return fatal(error{"53300", "number of requested standby connections "
                                "exceeds max_wal_senders (currently " +
                                    std::to_string(env_.max_wal_senders) +
                                    ")"});
  }
  counted_ = !admin;
  std::string version = env_.upstream->server_version();
  if (version.empty()) {
    // The source has not reached the upstream yet: ask it directly.
    auto probe = pq_session::connect(env_.upstream_conninfo, {});
    if (!probe && admin) {
      // The SQL surface works without the upstream; clients need some
      // server_version, and walmux's surface is PostgreSQL 15's.
      version = "15.0";
    } else if (!probe)
      return fatal(error{"57P03", "the upstream server is not reachable yet"}
                       .with_detail(probe.err().message));
    if (probe) {
      env_.upstream->set_server_version((*probe)->parameter("server_version"),
                                        (*probe)->server_version());
      version = env_.upstream->server_version();
    }
  }
  if (!admin) {
    pid_ = ++env_.next_pid;
    sender_status status;
    status.pid = pid_;
    status.user = user_;
    status.application_name = application_name_;
    status.client_addr = link_->peer_address();
    status.client_port = link_->peer_port();
    status.backend_start = unix_micros_now();
    env_.senders.put(std::move(status));
  }
  {
    session_activity a;
    a.pid = pid_;
    a.backend_type = admin ? "client backend" : "walsender";
    a.user = user_;
    a.database = database_;
    a.application_name = application_name_;
    a.client_addr = link_->peer_address();
    a.client_port = link_->peer_port();
    a.backend_start = a.state_change = unix_micros_now();
    a.link = link_;
    env_.activity.put(std::move(a));
  }
  started_ = true;
  started_at_ = clock::now();
  log_message(elevel::log,
              "connection authorized: user=" + user_ +
                  " database=" + database_ +
                  (application_name_.empty()
                       ? ""
                       : " application_name=" + application_name_) +
                  (admin ? "" : " replication=database") +
                  " host=" + link_->peer_address() +
                  " port=" + std::to_string(link_->peer_port()) +
                  " pid=" + std::to_string(pid_));
  std::string out;
  wire::encode(out, wire::authentication{});
  const std::pair<const char*, std::string> params[] = {
      {"application_name", application_name_},
      {"client_encoding", client_encoding_},
      {"DateStyle", "ISO, MDY"},
      {"default_transaction_read_only", "off"},
      {"in_hot_standby", "off"},
      {"integer_datetimes", "on"},
      {"IntervalStyle", "postgres"},
      {"is_superuser", "on"},
      {"server_encoding", "UTF8"},
      {"server_version", version},
      {"session_authorization", user_},
      {"standard_conforming_strings", "on"},
      {"TimeZone", "Etc/UTC"},
  };
  for (const auto& [name, value] : params)
    wire::encode(out, wire::parameter_status{name, value});
  static thread_local std::mt19937 rng{std::random_device{}()};
  wire::encode(out, wire::backend_key_data{pid_, static_cast<int32_t>(rng())});
  wire::encode(out, wire::ready_for_query{'I'});
  link_->send(std::move(out));
  return true;
}

void session::log_disconnection() const {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      clock::now() - started_at_)
                      .count();
  char took[64];
  std::snprintf(took, sizeof took, "%lld:%02lld:%02lld.%03lld",
                static_cast<long long>(ms / 3600000),
                static_cast<long long>(ms / 60000 % 60),
                static_cast<long long>(ms / 1000 % 60),
                static_cast<long long>(ms % 1000));
  log_message(elevel::log, std::string("disconnection: session time: ") + took +
                               " user=" + user_ + " database=" + database_ +
                               " host=" + link_->peer_address() +
                               " port=" + std::to_string(link_->peer_port()) +
                               " pid=" + std::to_string(pid_));
}

void session::send_rows(
    const std::vector<field_description>& fields,
    const std::vector<std::vector<std::optional<std::string>>>& rows,
    const std::string& tag) {
  std::string out;
  wire::encode(out, wire::row_description{fields});
  for (const auto& r : rows)
    wire::encode(out, wire::data_row{r});
  wire::encode(out, wire::command_complete{tag});
  link_->send(std::move(out));
}

lsn session::advertisable_end() const {
  lsn end{std::max({env_.store->last_end_lsn().value,
                    env_.upstream->confirmed.load(),
                    env_.upstream->wal_end.load()})};
  return end;
}

void session::identify_system() {
  // The timeline column is int4 up to PostgreSQL 15 and int8 from 16 on;
  // walmux answers as the version it reports (the upstream's).
  const bool int8_timeline = env_.upstream->server_version_num() >= 160000;
  send_rows({{"systemid", 0, 0, text_oid, -1, -1, 0},
             {"timeline", 0, 0, int8_timeline ? 20 : int4_oid,
              static_cast<int16_t>(int8_timeline ? 8 : 4), -1, 0},
             {"xlogpos", 0, 0, text_oid, -1, -1, 0},
             {"dbname", 0, 0, text_oid, -1, -1, 0}},
            {{std::to_string(env_.system_identifier), "1",
              lsn_to_string(advertisable_end()), database_}},
            "IDENTIFY_SYSTEM");
}

status session::create_slot(const repl::create_replication_slot& c) {
  if (!c.logical)
    return error{sqlstate::feature_not_supported,
                 "walmux does not support physical replication slots"};
  auto opts = repl::interpret_create_slot_options(c);
  if (!opts)
    return std::move(opts).err();
  const bool use_snapshot = opts->snapshot == repl::snapshot_action::use;
  if (use_snapshot &&
      (!upstream_sql_ || upstream_sql_->transaction_status() != 'T'))
    return error{sqlstate::internal_error,
                 "CREATE_REPLICATION_SLOT ... (SNAPSHOT 'use') must be "
                 "called inside a transaction"};
  auto created = create_logical_slot(env_, c.slot, c.plugin, database_,
                                     c.temporary, opts->two_phase, pid_);
  if (!created)
    return std::move(created).err();
  const storage::slot_record& slot = *created;
  lsn consistent = slot.confirmed_flush;
  if (use_snapshot) {
    // The slot, created above, holds retention from a point before the
    // snapshot's; it is in use by this session until it has the latter.
    if (auto held = env_.slots->acquire(slot.name, pid_); !held)
      return std::move(held).err();
    auto point = upstream_snapshot_point();
    status moved = point ? env_.slots->set_consistent_point(slot.name, *point)
                         : status(std::move(point).err());
    env_.slots->release(slot.name, pid_);
    if (!moved) {
      (void)drop_slot(env_, slot.name, false, pid_);
      return moved;
    }
    consistent = *point;
    log_message(elevel::log,
                "replication slot \"" + slot.name + "\" starts at " +
                    lsn_to_string(consistent) +
                    ", the consistent point of the snapshot its session's "
                    "transaction uses");
  }
  send_rows({{"slot_name", 0, 0, text_oid, -1, -1, 0},
             {"consistent_point", 0, 0, text_oid, -1, -1, 0},
             {"snapshot_name", 0, 0, text_oid, -1, -1, 0},
             {"output_plugin", 0, 0, text_oid, -1, -1, 0}},
            {{slot.name, lsn_to_string(consistent), std::nullopt, slot.plugin}},
            "CREATE_REPLICATION_SLOT");
  return ok();
}

void session::read_slot(const repl::read_replication_slot& r) {
  std::vector<std::optional<std::string>> row{std::nullopt, std::nullopt,
                                              std::nullopt};
  if (auto s = env_.slots->get(r.slot)) {
    send_error(error{sqlstate::feature_not_supported,
                     "cannot use READ_REPLICATION_SLOT with a logical "
                     "replication slot"});
    return;
  }
  send_rows({{"slot_type", 0, 0, text_oid, -1, -1, 0},
             {"restart_lsn", 0, 0, text_oid, -1, -1, 0},
             {"restart_tli", 0, 0, 20, 8, -1, 0}},
            {row}, "READ_REPLICATION_SLOT");
}

bool session::on_query(const std::string& sql) {
  if (stream_) {
    send_error(error{sqlstate::protocol_violation,
                     "unexpected query while streaming"});
    return true;
  }
  note_command(env_.activity, pid_, sql, unix_micros_now());
  auto parsed = repl::parse_command(sql);
  if (!parsed) {
    send_error(parsed.err());
    ready();
    return true;
  }
  if (!*parsed) {
    std::string_view text(sql);
    while (!text.empty() &&
           (text.back() == ';' || text.back() == ' ' || text.back() == '\n'))
      text.remove_suffix(1);
    if (text == "SELECT pg_catalog.set_config('search_path', '', false)") {
      empty_search_path_ = true;
      send_rows({{"set_config", 0, 0, text_oid, -1, -1, 0}}, {{""}},
                "SELECT 1");
      ready();
      return true;
    }
    forward_sql(sql);
    return true;
  }
  status result = ok();
  std::visit(
      [&](auto& cmd) {
        using T = std::decay_t<decltype(cmd)>;
        if constexpr (std::is_same_v<T, repl::identify_system>) {
          identify_system();
        } else if constexpr (std::is_same_v<T, repl::show>) {
          if (cmd.name == "data_directory_mode")
            send_rows({{"data_directory_mode", 0, 0, text_oid, -1, -1, 0}},
                      {{"0700"}}, "SHOW");
          else
            result = error{sqlstate::undefined_object,
                           "unrecognized configuration parameter \"" +
                               cmd.name + "\""};
        } else if constexpr (std::is_same_v<T, repl::create_replication_slot>) {
          result = create_slot(cmd);
        } else if constexpr (std::is_same_v<T, repl::drop_replication_slot>) {
          result = drop_slot(env_, cmd.slot, cmd.wait, pid_);
          if (result) {
            link_->send(
                encoded(wire::command_complete{"DROP_REPLICATION_SLOT"}));
          }
        } else if constexpr (std::is_same_v<T, repl::read_replication_slot>) {
          read_slot(cmd);
        } else if constexpr (std::is_same_v<T, repl::start_replication>) {
          result = start_replication(cmd);
        } else if constexpr (std::is_same_v<T, repl::alter_replication_slot>) {
          result = error{sqlstate::feature_not_supported,
                         "walmux does not support ALTER_REPLICATION_SLOT"};
        } else {
          result = error{sqlstate::feature_not_supported,
                         "walmux does not support physical replication "
                         "commands"};
        }
      },
      **parsed);
  if (!result) {
    send_error(result.err());
    ready();
    return true;
  }
  if (!stream_)
    ready();
  return true;
}

} // namespace walmux::actors::walsender_detail
