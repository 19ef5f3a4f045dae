// apply_session.hpp: the state and steps of one subscription's apply
// worker (apply_worker.hpp has the life and the contracts); internal to
// actors/apply. apply_session.cpp streams and applies transactions,
// apply_tables.cpp copies tables and tracks their states.
#pragma once

#include "actors/apply/apply_worker.hpp"
#include "actors/apply/stream_spool.hpp"
#include "actors/apply/target_session.hpp"
#include "actors/common/pq_session.hpp"
#include "protocol/pgoutput.hpp"
#include "protocol/stream.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace walmux::actors::apply {

using steady = std::chrono::steady_clock;

class apply_session {
 public:
  apply_session(subscription_manager& m, std::string name,
                std::shared_ptr<worker_control> control)
      : manager_(m)
      , name_(std::move(name))
      , control_(std::move(control)) {}

  // Copies if needed, connects both sides and starts streaming.
  status start();
  // One step: waits up to `timeout` for data and applies it; the bytes
  // taken from the publisher.
  expected<size_t> step(std::chrono::milliseconds timeout);
  void close() {
    source_.reset();
    target_.reset();
  }
  // Counts and logs a failure; true when the subscription is disabled.
  bool failed(const error& e);
  const std::string& name() const { return name_; }
  // Whether this connection has committed anything: only then does a
  // later failure start the backoff again from its shortest wait.
  bool advanced() const { return target_ && target_->progress() > started_at_; }

 private:
  enum class skip_reason { none, applied, origin, skip_lsn };

  status copy_phase(const subscription_view& v);
  // Records a table's copy state (and its target OID when known).
  void set_table_state(const std::string& schema, const std::string& table,
                       char state, uint32_t target_oid);
  // Copies the tables REFRESH PUBLICATION added ('i', or 'd' when a copy
  // was interrupted) in the snapshot of a temporary slot at point P; they
  // become 's' at P: their changes apply from transactions committing at or
  // after P, and they are 'r' once the target has flushed progress at or
  // past P (promote_synced).
  status sync_phase(const subscription_view& v);
  // Marks 's' tables whose point is at or before `flushed` 'r'. Only
  // progress the target has flushed counts: were the state ahead of the
  // target's progress after a target crash, transactions before P would
  // apply again on top of the copy.
  status promote_synced(lsn flushed);
  // Reads the target's flush position again (at most every
  // flush_check_interval, between groups) and promotes what it allows;
  // after every group and every step, so that a busy stream does not hold
  // it back.
  status check_flushed();
  // On a quiet publisher, moves the target's progress to what the stream
  // has passed (idle_end_) when a copied table waits for it, as
  // PostgreSQL's apply worker promotes tables on the last received
  // position.
  status advance_idle_progress();
  void load_table_states(const storage::subscription_record& r);
  // Whether a change of the relation applies in the current transaction
  // (PostgreSQL's should_apply_changes_for_rel).
  bool applies_to(uint32_t oid) const;
  status handle(const stream::xlog_data& x);
  // A transaction's first message: whether and why it is skipped.
  void begin_transaction(uint32_t xid, lsn final_lsn);
  // A message inside a transaction (received or replayed from the spool).
  status apply_change(const pgoutput::any_message& m);
  // streaming = on: Stream Start/Stop/Abort/Commit; false if `m` is none
  // of those.
  expected<bool> handle_streamed(const pgoutput::any_message& m);
  // streaming = on, inside a block: a change goes to the spool undecoded;
  // false for what the decoder must see (Stream Stop and the rest).
  expected<bool> spool_change(std::string_view bytes);
  // A transaction's last message (end: its end LSN): true when it was
  // applied before a restart and nothing is left to do.
  bool leave_transaction(lsn end);
  status end_transaction(const pgoutput::commit& c);
  // two_phase = true (apply_prepared.cpp): Begin Prepare, Prepare (also
  // Stream Prepare after the spool's replay), Commit/Rollback Prepared.
  // A prepared transaction is a target transaction of its own, named by
  // prepared_gid.
  status begin_prepared(const pgoutput::begin_prepare& b);
  status end_prepared(const pgoutput::prepare& p);
  status finish_prepared(uint32_t xid, bool commit, lsn final_lsn, lsn end,
                         int64_t time);
  std::string prepared_gid(uint32_t xid) const {
    return target_origin_name(target_key_) + "_" + std::to_string(xid);
  }
  // Whether START_REPLICATION may ask for two_phase: every table is ready
  // (PostgreSQL's two_phase state 'e'); until then it is 'p' and prepared
  // transactions arrive as they commit.
  bool two_phase_ready() const;
  status close_group();
  // What follows the commit of a group: progress, counters, the flush
  // check and a SKIP LSN the progress has passed.
  status group_committed();
  status send_status(bool force);
  error with_context(error e) const;
  change_context context(char kind, const std::string& relation) const {
    return {kind, relation, xid_, final_lsn_, {}};
  }
  std::string relation_name(uint32_t oid) const {
    auto it = relation_names_.find(oid);
    return it == relation_names_.end() ? std::to_string(oid) : it->second;
  }

  subscription_manager& manager_;
  std::string name_;
  std::string target_key_; // the record's, read at start()
  std::shared_ptr<worker_control> control_;
  subddl::subscription_options options_;
  lsn skip_lsn_;
  std::unique_ptr<pq_session> source_;
  std::unique_ptr<target_session> target_;
  pgoutput::stream_decoder decoder_;
  std::unique_ptr<stream_spool> spool_; // streaming = on
  std::map<uint32_t, std::string> relation_names_;
  // schema.table -> (state, state LSN) of the subscription's tables.
  std::map<std::string, std::pair<char, lsn>> table_states_;
  bool any_synced_ = false; // a table is in state 's'
  // two_phase = true and the stream was started without it (a table was
  // not ready): the worker starts the stream again once they all are.
  bool two_phase_pending_ = false;

  bool in_txn_ = false;
  skip_reason skip_ = skip_reason::none;
  uint32_t xid_ = 0;
  lsn final_lsn_;
  bool copying_ = false;
  // After a failure, transactions up to the failing one commit one by
  // one, so that those before it are not held back with it.
  lsn solo_until_;
  lsn started_at_;
  // Everything up to here is handled when nothing waits for the target.
  lsn idle_end_;
  lsn received_;
  int64_t last_send_time_ = 0;
  steady::time_point group_started_;
  steady::time_point last_status_{}; // long ago: the first status goes at once
  steady::time_point last_flush_check_ = steady::now();
  lsn reported_flush_;
  bool reply_requested_ = false;
};

} // namespace walmux::actors::apply
