// clock.hpp: the wall clock as the roles need it: microseconds since the
// Unix epoch (the cache counters' reset time) and since PostgreSQL's epoch,
// 2000-01-01 UTC (sendTime and clientTime of the streaming protocol).
#pragma once

#include "protocol/stream.hpp"

#include <chrono>
#include <cstdint>

namespace walmux::actors {

inline int64_t unix_micros_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline int64_t pg_micros_now() {
  return unix_micros_now() - stream::postgres_epoch_offset_us;
}

} // namespace walmux::actors
