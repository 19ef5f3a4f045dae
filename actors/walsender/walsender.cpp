// walsender.cpp: one downstream replication session (walsender.hpp).
#include "actors/walsender/walsender.hpp"

#include "actors/common/atoms.hpp"
#include "actors/common/pq_session.hpp"
#include "actors/decoder/decoder.hpp"
#include "actors/source/source.hpp"
#include "actors/walsender/upstream_lookup.hpp"
#include "common/log.hpp"
#include "protocol/frame.hpp"
#include "protocol/messages.hpp"
#include "protocol/repl_command.hpp"
#include "protocol/stream.hpp"

#include <chrono>
#include <random>

#include <caf/all.hpp>

namespace walmux::actors {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using wire::field_description;

constexpr int32_t text_oid = 25, int4_oid = 23;
// Bytes of CopyData gathered before they are handed to the link at once.
constexpr size_t send_batch_bytes = 128 << 10;
// How long a pump step waits for new data or room before yielding to the
// mailbox (status updates, CopyDone).
constexpr auto pump_wait = 20ms;
constexpr auto keepalive_min_interval = 100ms;

error slot_invalidated(const std::string& slot) {
  return error{"55000", "can no longer get changes from replication slot \"" +
                            slot + "\""}
      .with_detail("This slot has been invalidated because it exceeded the "
                   "maximum reserved size.");
}

int64_t pg_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count() -
         stream::postgres_epoch_offset_us;
}

template <class Message>
std::string encoded(const Message& m) {
  std::string out;
  wire::encode(out, m);
  return out;
}

struct streaming_state {
  std::string slot;
  std::unique_ptr<pq_upstream_lookup> lookup;
  std::unique_ptr<decoder> dec;
  std::unique_ptr<wal_cache::reader_source> source;
  std::unique_ptr<storage::wal_reader> reader;
  std::vector<decoder::output> pending;
  size_t pending_next = 0;
  lsn processed_end; // every stored transaction ending before it is handled
  lsn idle_end;      // upstream.confirmed seen at the durable end
  lsn told_end;      // walEnd of the last keepalive sent
  lsn sent_end;      // end of the last message sent
  bool at_end = false;
  clock::time_point last_keepalive;
  clock::time_point last_reply;
  bool ping_sent = false;
};

class session {
 public:
  session(walsender_env& env, std::shared_ptr<connection_link> link)
      : env_(env)
      , link_(std::move(link))
      , frames_(wire::frame_mode::untyped, wire::max_startup_packet) {}

  ~session() {
    end_streaming();
    if (pid_ != 0)
      env_.slots->release_session(pid_);
    if (counted_)
      --env_.active_senders;
  }

  // Returns false when the session is over.
  bool on_data(const std::string& bytes);
  // One streaming step; false when the session is over.
  bool pump();
  bool streaming() const { return stream_ != nullptr; }

 private:
  bool on_frame(const wire::frame& f);
  bool on_startup(const wire::frame& f);
  bool on_query(const std::string& sql);
  bool on_copy_data(const std::string& data);
  void end_streaming();

  void send_error(const error& e, const char* severity = "ERROR") {
    link_->send(
        encoded(wire::error_response{wire::notice_from_error(e, severity)}));
  }
  bool fatal(const error& e) {
    send_error(e, "FATAL");
    link_->close();
    return false;
  }
  void ready() { link_->send(encoded(wire::ready_for_query{'I'})); }
  void
  send_rows(const std::vector<field_description>& fields,
            const std::vector<std::vector<std::optional<std::string>>>& rows,
            const std::string& tag);

  void identify_system();
  status create_slot(const repl::create_replication_slot& c);
  status start_replication(const repl::start_replication& s);
  void read_slot(const repl::read_replication_slot& r);
  void forward_sql(const std::string& sql);
  void send_keepalive(bool reply_requested);
  lsn advertisable_end() const;

  walsender_env& env_;
  std::shared_ptr<connection_link> link_;
  wire::frame_reader frames_;
  bool started_ = false;
  bool counted_ = false;
  int pid_ = 0;
  std::string database_, user_, application_name_, client_encoding_ = "UTF8",
                                                   options_;
  std::unique_ptr<pq_session> upstream_sql_;
  std::unique_ptr<streaming_state> stream_;
};

bool session::on_data(const std::string& bytes) {
  frames_.feed(bytes);
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
  if (!started_)
    return on_startup(f);
  // A client that sends commands without reading the answers waits here:
  // its answers stay within the send bound, and the listener stops reading
  // from it once this actor's mailbox holds its limit.
  const size_t bound = static_cast<size_t>(env_.send_buffer_bytes.load());
  while (link_->queued() >= bound && !link_->closed())
    link_->wait_for_room(bound, pump_wait);
  if (link_->closed())
    return false;
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
  if (std::holds_alternative<wire::ssl_request>(*m) ||
      std::holds_alternative<wire::gssenc_request>(*m)) {
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
  if (link_->peer_address() != "127.0.0.1")
    return fatal(error{sqlstate::invalid_authorization,
                       "no pg_hba.conf entry for host \"" +
                           link_->peer_address() + "\", user \"" + user_ +
                           "\", database \"" + database_ + "\""}
                     .with_detail("walmux accepts connections from 127.0.0.1 "
                                  "only (trust)."));
  if (param("replication") != "database")
    return fatal(
        error{sqlstate::feature_not_supported,
              "walmux accepts only logical replication connections"}
            .with_hint("Connect with replication=database; walmux has no "
                       "SQL interface for plain sessions yet."));
  if (!env_.logical_replication)
    return fatal(error{"55000", "logical decoding requires wal_level >= "
                                "logical"}
                     .with_hint("Set rds.logical_replication = on in "
                                "walmux.conf and restart walmux."));
  if (++env_.active_senders > env_.max_wal_senders) {
    --env_.active_senders;
    return fatal(error{"53300", "number of requested standby connections "
                                "exceeds max_wal_senders (currently " +
                                    std::to_string(env_.max_wal_senders) +
                                    ")"});
  }
  counted_ = true;
  std::string version = env_.upstream->server_version();
  if (version.empty()) {
    // The source has not reached the upstream yet: ask it directly.
    auto probe = pq_session::connect(env_.upstream_conninfo, {});
    if (!probe)
      return fatal(error{"57P03", "the upstream server is not reachable yet"}
                       .with_detail(probe.err().message));
    env_.upstream->set_server_version((*probe)->parameter("server_version"),
                                      (*probe)->server_version());
    version = env_.upstream->server_version();
  }
  pid_ = ++env_.next_pid;
  started_ = true;
  frames_ = wire::frame_reader(wire::frame_mode::typed);
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
  send_rows({{"systemid", 0, 0, text_oid, -1, -1, 0},
             {"timeline", 0, 0, int4_oid, 4, -1, 0},
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
  if (c.plugin != "pgoutput" && c.plugin != "wal2json")
    return error{"58P01", "could not access file \"" + c.plugin +
                              "\": No such file or directory"};
  if (opts->snapshot == repl::snapshot_action::use)
    return error{sqlstate::feature_not_supported,
                 "walmux cannot use a snapshot for a new slot yet"}
        .with_hint("Create the subscription with copy_data = false.");
  storage::slot_record slot;
  slot.name = c.slot;
  slot.plugin = c.plugin;
  slot.database = database_;
  slot.temporary = c.temporary;
  slot.two_phase = opts->two_phase;
  // Every transaction committing from here on is in the store or on its
  // way; none before it will be sent.
  const lsn consistent{std::max(env_.store->last_end_lsn().value,
                                env_.upstream->confirmed.load())};
  slot.confirmed_flush = consistent;
  slot.restart_lsn = consistent;
  if (auto st = env_.slots->create(slot, pid_); !st)
    return st;
  log_message(elevel::log, "created replication slot \"" + slot.name + "\" (" +
                               slot.plugin + ") at " +
                               lsn_to_string(consistent));
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

status session::start_replication(const repl::start_replication& s) {
  if (!s.logical || !s.slot)
    return error{sqlstate::feature_not_supported,
                 "walmux does not support physical replication"};
  auto slot = env_.slots->acquire(*s.slot, pid_);
  if (!slot)
    return std::move(slot).err();
  auto release = [&] { env_.slots->release(*s.slot, pid_); };
  if (slot->database != database_) {
    release();
    return error{"55000", "replication slot \"" + *s.slot +
                              "\" was not created in this database"};
  }
  if (!slot->invalidation_reason.empty()) {
    release();
    return slot_invalidated(*s.slot);
  }
  auto st = std::make_unique<streaming_state>();
  st->slot = *s.slot;
  st->lookup = std::make_unique<pq_upstream_lookup>(env_.upstream_conninfo);
  decoder_params p;
  p.plugin = slot->plugin;
  p.start_point = std::max(s.start, slot->confirmed_flush);
  p.options = s.options;
  p.max_proto_version =
      pgoutput_version_for(env_.upstream->server_version_num());
  p.upstream_publications = env_.upstream_publications;
  p.lookup = st->lookup.get();
  auto dec = decoder::create(std::move(p));
  if (!dec) {
    release();
    return std::move(dec).err();
  }
  st->dec = std::move(*dec);
  // Learn the relation definitions stored before the start point (the
  // retention snapshot, then the store from START) without counting cache
  // use, then read on through the slot's cache reader.
  std::shared_lock no_removal(*env_.store_start_lock);
  const uint64_t restart = env_.store->scan_start_for(st->dec->start_point());
  {
    auto snap = env_.catalog->read_relation_snapshot();
    if (!snap) {
      release();
      return std::move(snap).err();
    }
    if (*snap) {
      storage::transaction_view known;
      for (const auto& [at, b] : (*snap)->messages)
        known.messages.push_back({at, b});
      if (auto l = st->dec->learn(known); !l) {
        release();
        return l;
      }
    }
    storage::wal_reader prescan(*env_.store, env_.store->start_position());
    storage::transaction_view txn;
    while (prescan.position() < restart) {
      auto more = prescan.next_view(txn);
      if (!more) {
        release();
        return std::move(more).err();
      }
      if (!*more)
        break;
      if (auto l = st->dec->learn(txn); !l) {
        release();
        return l;
      }
    }
  }
  st->source = std::make_unique<wal_cache::reader_source>(
      env_.cache->reader_for(st->slot));
  st->reader = std::make_unique<storage::wal_reader>(
      *env_.store, std::max(restart, env_.store->start_position()), 256 << 10,
      st->source.get());
  st->processed_end = st->dec->start_point();
  st->sent_end = st->dec->start_point();
  st->last_reply = clock::now();
  log_message(elevel::log,
              "starting logical decoding for slot \"" + st->slot + "\"");
  log_message(elevel::debug1, "streaming transactions committing after " +
                                  lsn_to_string(st->dec->start_point()));
  stream_ = std::move(st);
  link_->send(encoded(wire::copy_response{'W', 0, {}}));
  send_keepalive(false);
  return ok();
}

void session::send_keepalive(bool reply_requested) {
  auto& st = *stream_;
  lsn end = st.sent_end;
  if (st.pending_next >= st.pending.size())
    end = std::max({end, st.processed_end, st.idle_end});
  std::string body;
  stream::encode(body, stream::keepalive{end, pg_now(), reply_requested});
  link_->send(encoded(wire::copy_data{std::move(body)}));
  st.told_end = end;
  st.last_keepalive = clock::now();
}

void session::end_streaming() {
  if (!stream_)
    return;
  for (const auto& c : env_.cache->counters())
    if (c.slot == stream_->slot)
      log_message(elevel::log,
                  "stopped logical decoding for slot \"" + c.slot +
                      "\": cache_hit " + std::to_string(c.counters.hits) +
                      ", cache_miss " + std::to_string(c.counters.misses) +
                      ", blks_read " + std::to_string(c.counters.blocks_read));
  env_.slots->release(stream_->slot, pid_);
  stream_.reset();
}

bool session::on_copy_data(const std::string& data) {
  if (!stream_)
    return true;
  auto m = stream::decode_client(data);
  if (!m) {
    send_error(m.err(), "FATAL");
    link_->close();
    return false;
  }
  if (auto* r = std::get_if<stream::status_update>(&*m)) {
    stream_->last_reply = clock::now();
    stream_->ping_sent = false;
    env_.slots->confirm(stream_->slot, r->flush);
    if (r->reply_requested)
      send_keepalive(false);
  }
  return true;
}

bool session::pump() {
  if (!stream_)
    return true;
  auto& st = *stream_;
  const auto now = clock::now();
  const auto timeout =
      std::chrono::milliseconds(env_.wal_sender_timeout_ms.load());
  if (timeout.count() > 0) {
    if (now - st.last_reply > timeout) {
      log_message(elevel::log, "terminating walsender process due to "
                               "replication timeout");
      link_->close();
      return false;
    }
    if (!st.ping_sent && now - st.last_reply > timeout / 2) {
      send_keepalive(true);
      st.ping_sent = true;
    }
  }
  if (auto v = env_.slots->get(st.slot);
      v && !v->record.invalidation_reason.empty()) {
    send_error(slot_invalidated(st.slot));
    link_->close();
    return false;
  }
  const size_t bound = static_cast<size_t>(env_.send_buffer_bytes.load());
  std::string batch;
  bool blocked = false;
  while (true) {
    // Send what is decoded, as long as the client takes it.
    while (st.pending_next < st.pending.size()) {
      if (link_->queued() + batch.size() >= bound) {
        blocked = true;
        break;
      }
      auto& o = st.pending[st.pending_next++];
      std::string body;
      stream::encode_xlog_header(body, o.data_start, o.wal_end, pg_now());
      body += o.payload;
      wire::encode(batch, wire::copy_data{std::move(body)});
      st.sent_end = std::max(st.sent_end, o.wal_end);
      if (batch.size() >= send_batch_bytes) {
        link_->send(std::move(batch));
        batch.clear();
      }
    }
    if (blocked)
      break;
    st.pending.clear();
    st.pending_next = 0;
    if (batch.size() >= send_batch_bytes)
      break;
    // Decode the next stored transaction. `confirmed` is read before the
    // store: at the durable end, everything committing before it is sent.
    const lsn confirmed{env_.upstream->confirmed.load()};
    storage::transaction_view txn;
    auto more = st.reader->next_view(txn);
    if (!more) {
      link_->send(std::move(batch));
      send_error(more.err());
      link_->close();
      return false;
    }
    if (!*more) {
      st.at_end = true;
      st.idle_end = std::max(st.idle_end, confirmed);
      break;
    }
    st.at_end = false;
    if (auto f = st.dec->feed(txn, st.pending); !f) {
      link_->send(std::move(batch));
      send_error(f.err());
      link_->close();
      return false;
    }
    st.processed_end = std::max(st.processed_end, txn.commit.end_lsn);
  }
  if (!batch.empty())
    link_->send(std::move(batch));
  // Tell the client how far the stream has gone when it is idle: tablesync
  // catch-up and pg_recvlogical --endpos wait for it.
  if (st.pending_next >= st.pending.size() &&
      std::max({st.processed_end, st.idle_end, st.sent_end}) > st.told_end &&
      now - st.last_keepalive >= keepalive_min_interval)
    send_keepalive(false);
  if (blocked)
    link_->wait_for_room(bound, pump_wait);
  else if (st.at_end)
    env_.store->wait_durable_past(st.reader->position(), pump_wait);
  return !link_->closed();
}

void session::forward_sql(const std::string& sql) {
  if (!upstream_sql_) {
    std::vector<std::pair<std::string, std::string>> extra{
        {"application_name", "walmux: " + application_name_},
        {"client_encoding", client_encoding_}};
    if (!options_.empty())
      extra.emplace_back("options", options_);
    auto s = pq_session::connect(env_.upstream_conninfo, extra);
    if (!s) {
      send_error(s.err());
      ready();
      return;
    }
    upstream_sql_ = std::move(*s);
  }
  auto r = upstream_sql_->exec(sql);
  if (!r) {
    send_error(r.err());
  } else if (r->has_rows) {
    std::vector<field_description> fields;
    for (const auto& c : r->columns)
      fields.push_back({c.name, static_cast<int32_t>(c.table_oid),
                        c.table_column, static_cast<int32_t>(c.type_oid),
                        c.type_size, c.type_modifier, 0});
    send_rows(fields, r->rows, r->command_tag);
  } else {
    link_->send(encoded(wire::command_complete{r->command_tag}));
  }
  link_->send(
      encoded(wire::ready_for_query{upstream_sql_->transaction_status()}));
}

bool session::on_query(const std::string& sql) {
  if (stream_) {
    send_error(error{sqlstate::protocol_violation,
                     "unexpected query while streaming"});
    return true;
  }
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
          result = env_.slots->drop(cmd.slot, cmd.wait, pid_);
          if (result) {
            env_.cache->forget(cmd.slot);
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

struct walsender_state {
  std::unique_ptr<session> s;
  std::shared_ptr<connection_link> link;
  bool pumping = false;
  static inline const char* name = "walsender";
};

caf::behavior walsender_actor(caf::stateful_actor<walsender_state>* self,
                              walsender_env* env,
                              std::shared_ptr<connection_link> link) {
  self->state.link = link;
  self->state.s = std::make_unique<session>(*env, std::move(link));
  auto schedule = [self] {
    if (self->state.s->streaming() && !self->state.pumping) {
      self->state.pumping = true;
      self->send(self, pump_atom::value);
    }
  };
  return {
      [=](data_atom, const std::string& bytes) {
        self->state.link->consumed(bytes.size());
        if (!self->state.s->on_data(bytes)) {
          self->quit();
          return;
        }
        schedule();
      },
      [=](pump_atom) {
        self->state.pumping = false;
        if (!self->state.s->pump()) {
          self->quit();
          return;
        }
        schedule();
      },
      [=](closed_atom) { self->quit(); },
  };
}

} // namespace

caf::actor spawn_walsender(caf::actor_system& system, walsender_env& env,
                           std::shared_ptr<connection_link> link) {
  return system.spawn<caf::detached>(walsender_actor, &env, std::move(link));
}

} // namespace walmux::actors
