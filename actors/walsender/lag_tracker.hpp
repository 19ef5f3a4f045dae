// lag_tracker.hpp: pg_stat_replication's write_lag, flush_lag and
// replay_lag for one walsender, as PostgreSQL's LagTracker measures them:
// the time from sending a position to the client's report that it has
// written / flushed / applied it.
//
// sent() records (position, time) when the stream passes a new position
// (one sample per send step; at most `capacity` are kept, the oldest
// dropped); replied() takes the client's three positions, and for each
// finds the newest sample at or below it: the lag is now minus that
// sample's time. A lag stays as last measured until a newer one replaces it
// (PostgreSQL shows the last measurement too); it is unknown (-1) before
// the first.
//
// Pure: no I/O; one thread at a time.
#pragma once

#include "protocol/lsn.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>

namespace walmux::actors {

class lag_tracker {
 public:
  enum kind { write_lag, flush_lag, replay_lag };
  static constexpr size_t capacity = 4096;

  void sent(lsn position, int64_t now_us) {
    if (!samples_.empty() && samples_.back().position >= position)
      return;
    if (samples_.size() == capacity) {
      samples_.pop_front();
      for (auto& h : heads_)
        h = h > 0 ? h - 1 : 0;
    }
    samples_.push_back({position, now_us});
  }

  void replied(lsn write, lsn flush, lsn apply, int64_t now_us) {
    const lsn reported[3] = {write, flush, apply};
    for (int k = 0; k < 3; ++k) {
      size_t& h = heads_[static_cast<size_t>(k)];
      int64_t matched = -1;
      while (h < samples_.size() && samples_[h].position <= reported[k])
        matched = samples_[h++].time_us;
      if (matched >= 0)
        lag_us_[static_cast<size_t>(k)] = now_us - matched;
    }
    // Samples every head has passed are no longer needed.
    const size_t done = std::min({heads_[0], heads_[1], heads_[2]});
    samples_.erase(samples_.begin(),
                   samples_.begin() + static_cast<std::ptrdiff_t>(done));
    for (auto& h : heads_)
      h -= done;
  }

  // Microseconds, or -1 when not measured yet.
  int64_t lag_us(kind k) const { return lag_us_[static_cast<size_t>(k)]; }

 private:
  struct sample {
    lsn position;
    int64_t time_us;
  };
  std::deque<sample> samples_;
  std::array<size_t, 3> heads_{0, 0, 0};
  std::array<int64_t, 3> lag_us_{-1, -1, -1};
};

} // namespace walmux::actors
