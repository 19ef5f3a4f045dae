// retention.hpp: which WAL the store may remove, and which slots lose their
// WAL instead of keeping it forever: PostgreSQL's max_slot_wal_keep_size
// rules applied to walmux's store.
//
// A slot needs the store from its restart position (the start of the oldest
// transaction it may still have to send). With max_slot_wal_keep_size = -1
// every slot keeps what it needs. Otherwise a slot whose restart position is
// more than that many MB behind the written position is invalidated
// (wal_status 'lost', invalidation reason 'wal_removed') and no longer holds
// WAL back. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace walmux::storage {

struct slot_retention {
  std::string name;
  uint64_t restart_position = 0;
  bool invalidated = false;
};

struct retention_plan {
  uint64_t remove_before = 0;          // pass to wal_store::remove_before
  std::vector<std::string> invalidate; // slots to mark 'wal_removed'
};

retention_plan plan_retention(std::span<const slot_retention> slots,
                              uint64_t start_position,
                              uint64_t written_position,
                              int64_t max_slot_wal_keep_size_mb);

// pg_replication_slots.wal_status for a slot: "reserved", "unreserved"
// (beyond the limit, to be invalidated) or "lost".
std::string_view wal_status(const slot_retention& slot,
                            uint64_t written_position,
                            int64_t max_slot_wal_keep_size_mb);

// pg_replication_slots.safe_wal_size: bytes that can still be written
// before the slot is lost; nullopt when there is no limit or it is lost.
std::optional<int64_t> safe_wal_size(const slot_retention& slot,
                                     uint64_t written_position,
                                     int64_t max_slot_wal_keep_size_mb);

} // namespace walmux::storage
