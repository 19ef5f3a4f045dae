// slot_stats.hpp: per-slot decoding statistics for pg_stat_replication_slots
// (total_txns, total_bytes, the spill columns, stats_reset). walmux decodes
// from its own store, so nothing is spilled in PostgreSQL's sense; the
// spill columns count what comes closest: transactions larger than a
// quarter of logical_decoding_work_mem, which a walsender reads again
// from the store piece by piece (spill_txns; spill_count: their pieces;
// spill_bytes: their messages' bytes). The stream columns stay 0.
//
// Like PostgreSQL's cumulative statistics the counters live in memory; they
// start at zero when walmux starts (PostgreSQL keeps them over a clean
// restart; walmux does not yet).
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace walmux::actors {

struct slot_counts {
  uint64_t total_txns = 0;
  uint64_t total_bytes = 0;
  uint64_t spill_txns = 0;
  uint64_t spill_count = 0;
  uint64_t spill_bytes = 0;
  int64_t stats_reset = 0; // unix microseconds; 0: never reset
};

class slot_stats {
 public:
  // Adds `more`'s counters (not its stats_reset) to the slot's.
  void add(const std::string& slot, const slot_counts& more) {
    std::lock_guard g(mu_);
    auto& c = counts_[slot];
    c.total_txns += more.total_txns;
    c.total_bytes += more.total_bytes;
    c.spill_txns += more.spill_txns;
    c.spill_count += more.spill_count;
    c.spill_bytes += more.spill_bytes;
  }
  slot_counts get(const std::string& slot) const {
    std::lock_guard g(mu_);
    auto it = counts_.find(slot);
    return it == counts_.end() ? slot_counts{} : it->second;
  }
  // Resets one slot's counters, or all when `slot` is empty.
  void reset(const std::optional<std::string>& slot, int64_t now) {
    std::lock_guard g(mu_);
    if (slot) {
      counts_[*slot] = slot_counts{.stats_reset = now};
      return;
    }
    for (auto& [name, c] : counts_)
      c = slot_counts{.stats_reset = now};
  }
  void forget(const std::string& slot) {
    std::lock_guard g(mu_);
    counts_.erase(slot);
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, slot_counts> counts_;
};

} // namespace walmux::actors
