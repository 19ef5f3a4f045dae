// retention.hpp: removes the WAL store's segments that no slot needs any
// more, applying max_slot_wal_keep_size (storage/retention.hpp decides;
// this carries it out).
//
// A slot needs the store from the start of the first transaction whose
// commit is at or after its confirmed_flush_lsn. Before segments go, the
// Relation and Type messages they hold are folded into the catalog's
// relation snapshot (synced), because a decoder learns table definitions
// from the snapshot and then from the store's START on; the snapshot is
// written first, so a crash between the two steps only leaves a snapshot
// newer than START, which the same learning order handles.
//
// Removal and a walsender's learning scan exclude each other through
// `store_start_lock` (exclusive here, shared there), so no scan reads a
// segment while it is removed.
#pragma once

#include "actors/slots/slot_manager.hpp"
#include "storage/catalog.hpp"
#include "storage/wal_store.hpp"

#include <atomic>
#include <shared_mutex>

namespace walmux::actors {

struct retention_env {
  slot_manager* slots = nullptr;
  storage::wal_store* store = nullptr;
  storage::catalog* catalog = nullptr;
  std::shared_mutex* store_start_lock = nullptr;
  std::atomic<int64_t> max_slot_wal_keep_size_mb{-1}; // reloadable
};

// One retention pass: invalidates slots beyond max_slot_wal_keep_size,
// then removes whole segments below what the remaining slots need. Returns
// the number of segments removed. Blocks on file and catalog I/O.
expected<uint64_t> run_retention(retention_env& env);

} // namespace walmux::actors
