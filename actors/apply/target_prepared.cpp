// target_prepared.cpp: prepared transactions on the target (two_phase =
// true), part of target_session (target_session.hpp).
//
// Progress of a prepared transaction, as PostgreSQL's apply worker keeps
// it: PREPARE TRANSACTION moves the origin to the prepare's end (the
// origin's position is part of the prepare record, so it survives a crash
// with the prepared transaction), COMMIT PREPARED and ROLLBACK PREPARED
// move it to their own end. COMMIT/ROLLBACK PREPARED cannot run inside a
// transaction block, so the origin is set up by a statement of its own
// before them (the session keeps it for the next commit record).
//
// With the progress table instead, the progress row is written by a
// transaction of its own right after each of the three: written inside the
// prepared transaction, the row would stay locked until COMMIT PREPARED
// and every later group would wait for it. The windows between the two
// are closed by looking at pg_prepared_xacts: a prepare sent again finds
// its transaction already prepared (apply_session skips it), and a COMMIT
// PREPARED sent again finds it gone.
#include "actors/apply/target_session.hpp"
#include "protocol/pg_text.hpp"

namespace walmux::actors::apply {

status target_session::prepare_group(const std::string& gid, lsn end,
                                     int64_t prepare_time) {
  // One prepared before the slot's two_phase_at arrives behind the
  // progress, which never moves back (nor does an origin).
  const lsn at = std::max(end, progress_);
  if (auto st = open_group(); !st)
    return st;
  transaction_done(at, prepare_time);
  if (auto st = end_group("PREPARE TRANSACTION " + pq_quote_literal(gid),
                          use_origin_);
      !st)
    return st;
  if (use_origin_)
    return ok();
  return set_progress(at, prepare_time);
}

expected<bool> target_session::is_prepared(const std::string& gid) {
  auto r = query_now("SELECT 1 FROM pg_catalog.pg_prepared_xacts WHERE gid = " +
                     pq_quote_literal(gid));
  if (!r)
    return std::move(r).err();
  return !r->rows.empty();
}

expected<bool> target_session::finish_prepared(const std::string& gid,
                                               bool commit, lsn end,
                                               int64_t time) {
  auto there = is_prepared(gid);
  if (!there)
    return std::move(there).err();
  if (!*there) {
    if (!commit)
      return false; // never prepared here (PostgreSQL skips it too)
    if (use_origin_)
      return error{sqlstate::undefined_object,
                   "prepared transaction with identifier \"" + gid +
                       "\" does not exist"};
    // Committed before a crash took the progress row written after it.
    if (auto st = set_progress(end, time); !st)
      return std::move(st).err();
    return false;
  }
  if (use_origin_) {
    auto setup =
        query_now("SELECT pg_catalog.pg_replication_origin_xact_setup(" +
                  pq_quote_literal(lsn_to_string(end)) + ", " +
                  pq_quote_literal(pgtext::timestamptz_utc(time)) + ")");
    if (!setup)
      return std::move(setup).err();
  }
  auto done = query_now(std::string(commit ? "COMMIT" : "ROLLBACK") +
                        " PREPARED " + pq_quote_literal(gid));
  if (!done)
    return std::move(done).err();
  if (!use_origin_) {
    if (auto st = set_progress(end, time); !st)
      return std::move(st).err();
    return true;
  }
  progress_ = end;
  if (auto st = record_commit(end); !st)
    return std::move(st).err();
  return true;
}

} // namespace walmux::actors::apply
