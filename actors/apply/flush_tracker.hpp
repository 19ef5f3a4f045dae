// flush_tracker.hpp: which upstream progress a target has made durable.
//
// After each target commit the apply records (the target's WAL insert
// position after the commit, the upstream end LSN the commit holds); when
// the target reports a flush position, every commit whose insert position
// it has reached is durable, and the last of them is the progress the
// publisher may be told (its slot then never moves past what the target
// would still have after a crash). Entries are in commit order, so both
// positions grow.
//
// Pure; not thread-safe (one apply session).
#pragma once

#include "protocol/lsn.hpp"

#include <deque>
#include <utility>

namespace walmux::actors::apply {

class flush_tracker {
 public:
  // `durable`: progress known durable at the start (the target's own).
  explicit flush_tracker(lsn durable = {})
      : confirmed_(durable) {}

  // A commit holding upstream progress `end`, whose commit record is
  // before the target's WAL position `local`.
  void committed(lsn local, lsn end) { waiting_.emplace_back(local, end); }
  // The target has flushed its WAL up to `flushed`.
  void flushed(lsn flushed) {
    while (!waiting_.empty() && waiting_.front().first <= flushed) {
      confirmed_ = waiting_.front().second;
      waiting_.pop_front();
    }
  }
  // The latest upstream progress that is durable on the target.
  lsn confirmed() const { return confirmed_; }
  // Whether commits wait for a flush report.
  bool waiting() const { return !waiting_.empty(); }

 private:
  lsn confirmed_;
  std::deque<std::pair<lsn, lsn>> waiting_; // (local insert, upstream end)
};

} // namespace walmux::actors::apply
