// apply_prepared.cpp: two_phase = true in the apply session
// (apply_session.hpp): a transaction prepared upstream is prepared on the
// target when its PREPARE arrives, as a target transaction of its own, and
// committed or rolled back when its COMMIT PREPARED or ROLLBACK PREPARED
// arrives later in the stream.
//
// Which prepare was already applied is decided by the target, not by the
// progress: a transaction prepared before the slot enabled two_phase (its
// two_phase_at) arrives whole with its COMMIT PREPARED, after the
// progress; and a prepare sent again after a restart finds its
// transaction prepared on the target already.
#include "actors/apply/apply_session.hpp"
#include "common/log.hpp"

namespace walmux::actors::apply {

bool apply_session::two_phase_ready() const {
  auto v = manager_.get(name_);
  return v && subscription_two_phase_state(v->record, v->options) == 'e';
}

status apply_session::begin_prepared(const pgoutput::begin_prepare& b) {
  if (auto st = close_group(); !st)
    return st;
  begin_transaction(b.xid, b.prepare_lsn);
  if (skip_ == skip_reason::applied)
    skip_ = skip_reason::none; // its position does not decide (above)
  auto there = target_->is_prepared(prepared_gid(b.xid));
  if (!there)
    return std::move(there).err();
  if (*there)
    skip_ = skip_reason::applied;
  return ok();
}

status apply_session::end_prepared(const pgoutput::prepare& p) {
  if (leave_transaction(p.end_lsn))
    return ok();
  // Prepared even when nothing of it applies (skipped, another origin),
  // as PostgreSQL does: its COMMIT PREPARED then always finds it.
  if (auto st = target_->prepare_group(prepared_gid(p.xid), p.end_lsn,
                                       p.prepare_time);
      !st)
    return st;
  return group_committed();
}

status apply_session::finish_prepared(uint32_t xid, bool commit, lsn final_lsn,
                                      lsn end, int64_t time) {
  if (end <= target_->progress()) {
    idle_end_ = std::max(idle_end_, end);
    return ok(); // applied before a restart
  }
  if (auto st = close_group(); !st)
    return st;
  xid_ = xid; // the error context
  final_lsn_ = final_lsn;
  const std::string gid = prepared_gid(xid);
  auto done = target_->finish_prepared(gid, commit, end, time);
  if (!done)
    return std::move(done).err();
  if (!*done && commit)
    log_message(elevel::log, "subscription \"" + name_ +
                                 "\": prepared transaction \"" + gid +
                                 "\" was committed before a restart");
  idle_end_ = std::max(idle_end_, end);
  return group_committed();
}

} // namespace walmux::actors::apply
