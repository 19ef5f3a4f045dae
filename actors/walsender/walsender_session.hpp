// walsender_session.hpp: the state and steps of one walsender session,
// shared by walsender_session.cpp (startup, commands), walsender_proxy.cpp
// (SQL run on the upstream, the snapshot of a table copy),
// walsender_stream.cpp (START_REPLICATION and the streaming pump) and
// walsender.cpp (the actor that drives them). Internal to the walsender
// role; see walsender.hpp for the contracts.
#pragma once

#include "actors/admin/admin_session.hpp"
#include "actors/common/clock.hpp"
#include "actors/common/pq_session.hpp"
#include "actors/decoder/decoder.hpp"
#include "actors/walsender/client_auth.hpp"
#include "actors/walsender/lag_tracker.hpp"
#include "actors/walsender/slot_decoding.hpp"
#include "actors/walsender/upstream_lookup.hpp"
#include "actors/walsender/walsender.hpp"
#include "protocol/frame.hpp"
#include "protocol/messages.hpp"
#include "protocol/proxy_sql.hpp"
#include "protocol/repl_command.hpp"
#include "protocol/stream.hpp"
#include "storage/wal_reader.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace walmux::actors::walsender_detail {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using wire::field_description;

inline constexpr int32_t text_oid = 25, int4_oid = 23;
// Bytes of CopyData gathered before they are handed to the link at once.
inline constexpr size_t send_batch_bytes = 128 << 10;
// A run of small stored transactions whose rows the node checks against a
// client's row filter together (decoder::check_rows_ahead).
inline constexpr size_t max_run_transactions = 1000;
inline constexpr size_t max_run_bytes = 4 << 20;
// How long a pump step waits for new data or room before yielding to the
// mailbox (status updates, CopyDone).
inline constexpr auto pump_wait = 20ms;
inline constexpr auto keepalive_min_interval = 100ms;

using wire::encoded;

struct streaming_state {
  std::string slot;
  std::unique_ptr<pq_upstream_lookup> lookup;
  std::unique_ptr<decoder> dec;
  std::unique_ptr<wal_cache::reader_source> source;
  std::unique_ptr<storage::wal_reader> reader;
  std::vector<decoder::output> pending;
  size_t pending_next = 0;
  uint64_t txn_bytes = 0; // sent of the transaction being decoded so far
  uint64_t txn_pieces = 0, txn_piece_bytes = 0; // of one read in pieces
  lsn processed_end; // every stored transaction ending before it is handled
  lsn idle_end;      // upstream.confirmed seen at the durable end
  lsn told_end;      // walEnd of the last keepalive sent
  lsn sent_end;      // end of the last message sent
  bool at_end = false;
  clock::time_point last_keepalive;
  clock::time_point last_reply;
  bool ping_sent = false;
  lag_tracker lags;
};

class session {
 public:
  session(walsender_env& env, std::shared_ptr<connection_link> link)
      : env_(env)
      , link_(std::move(link))
      , frames_(wire::frame_mode::untyped, wire::max_startup_packet) {}

  ~session() {
    end_streaming();
    if (admin_) {
      admin_.reset();
      --env_.admin_sessions;
    }
    if (started_)
      log_disconnection();
    if (pid_ != 0) {
      env_.slots->release_session(pid_);
      env_.senders.remove(pid_);
      env_.activity.remove(pid_);
    }
    if (counted_)
      --env_.active_senders;
  }

  // Returns false when the session is over.
  bool on_data(const std::string& bytes);
  // One streaming step; false when the session is over.
  bool pump();
  bool streaming() const { return stream_ != nullptr; }
  bool logged_in() const { return started_; }
  // authentication_timeout passed before the client logged in.
  void authentication_timed_out() {
    fatal(error{"57014", "canceling authentication due to timeout"});
  }

 private:
  bool on_frame(const wire::frame& f);
  bool on_startup(const wire::frame& f);
  // Sends what authentication produced; refuses, waits, or finishes.
  bool after_auth_step(client_auth::outcome o, const std::string& out);
  // After authentication: the session's kind, limits, and ReadyForQuery.
  bool finish_startup();
  void log_disconnection() const;
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
  // ReadyForQuery with the transaction state of the upstream session, which
  // holds the client's transaction.
  void ready() {
    const char status = transaction_status();
    note_ready(env_.activity, pid_, status, unix_micros_now());
    link_->send(encoded(wire::ready_for_query{status}));
  }
  char transaction_status() const;
  void
  send_rows(const std::vector<field_description>& fields,
            const std::vector<std::vector<std::optional<std::string>>>& rows,
            const std::string& tag);

  void identify_system();
  status create_slot(const repl::create_replication_slot& c);
  status start_replication(const repl::start_replication& s);
  void read_slot(const repl::read_replication_slot& r);
  // walsender_proxy.cpp
  void forward_sql(const std::string& sql);
  expected<pq_session*> upstream_session();
  void close_upstream_session();
  // After each upstream statement: drops a broken session, and the
  // temporary snapshot slot once the client's transaction has ended.
  void upstream_statement_done(const error* failed);
  status check_published(const std::string& schema, const std::string& table);
  // A COPY's WHERE clause must be the OR of row filters that the node's
  // publications put on the table (42501 otherwise).
  status check_row_filter(const proxy::statement& statement);
  void relay_copy(const std::string& sql, const proxy::statement& statement);
  // Creates the temporary upstream slot whose snapshot the client's open
  // transaction takes; returns its consistent point.
  expected<lsn> upstream_snapshot_point();
  void send_keepalive(bool reply_requested);
  lsn advertisable_end() const;

  walsender_env& env_;
  std::shared_ptr<connection_link> link_;
  wire::frame_reader frames_;
  bool started_ = false;
  std::unique_ptr<client_auth> auth_; // while authenticating
  std::string replication_;           // the startup packet's value
  clock::time_point started_at_;
  bool counted_ = false;
  int pid_ = 0;
  std::string database_, user_, application_name_, client_encoding_ = "UTF8",
                                                   options_;
  // The client set search_path to '' as PostgreSQL's own clients do (the
  // upstream's catalog texts, format_type() for wal2json, follow it).
  bool empty_search_path_ = false;
  std::unique_ptr<pq_session> upstream_sql_;
  std::string upstream_temp_slot_; // quoted-free name, while it exists
  std::unique_ptr<streaming_state> stream_;
  // A connection without replication=database: served by the admin role.
  std::unique_ptr<admin::admin_session> admin_;
};

} // namespace walmux::actors::walsender_detail
