// retention.cpp: see retention.hpp.
#include "storage/retention.hpp"

#include <algorithm>

namespace walmux::storage {
namespace {

// The oldest position a slot may need and still be kept; 0 without limit.
uint64_t keep_floor(uint64_t written, int64_t max_keep_mb) {
  if (max_keep_mb < 0)
    return 0;
  const uint64_t keep = static_cast<uint64_t>(max_keep_mb) << 20;
  return written > keep ? written - keep : 0;
}

} // namespace

retention_plan plan_retention(std::span<const slot_retention> slots,
                              uint64_t start_position,
                              uint64_t written_position,
                              int64_t max_slot_wal_keep_size_mb) {
  retention_plan plan;
  const uint64_t floor =
      keep_floor(written_position, max_slot_wal_keep_size_mb);
  uint64_t needed = written_position;
  for (const auto& s : slots) {
    if (s.invalidated)
      continue;
    if (max_slot_wal_keep_size_mb >= 0 && s.restart_position < floor) {
      plan.invalidate.push_back(s.name);
      continue;
    }
    needed = std::min(needed, s.restart_position);
  }
  plan.remove_before = std::max(needed, start_position);
  return plan;
}

std::string_view wal_status(const slot_retention& slot,
                            uint64_t written_position,
                            int64_t max_slot_wal_keep_size_mb) {
  if (slot.invalidated)
    return "lost";
  if (max_slot_wal_keep_size_mb < 0 ||
      slot.restart_position >=
          keep_floor(written_position, max_slot_wal_keep_size_mb))
    return "reserved";
  return "unreserved";
}

std::optional<int64_t> safe_wal_size(const slot_retention& slot,
                                     uint64_t written_position,
                                     int64_t max_slot_wal_keep_size_mb) {
  if (slot.invalidated || max_slot_wal_keep_size_mb < 0)
    return std::nullopt;
  const int64_t keep = max_slot_wal_keep_size_mb << 20;
  return static_cast<int64_t>(slot.restart_position) + keep -
         static_cast<int64_t>(written_position);
}

} // namespace walmux::storage
