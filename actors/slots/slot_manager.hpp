// slot_manager.hpp: the node's replication slots: the in-memory truth that
// walsenders acquire, advance and release, persisted in the catalog.
//
// Contracts, as PostgreSQL's slot.c keeps them:
// - create() and drop() of a permanent slot are synced to the catalog before
//   they return; temporary slots live only in memory, owned by the session
//   that created them, and vanish when it releases them.
// - A slot is used by at most one session: acquire() fails with 55006
//   "replication slot "x" is active for PID n".
// - confirm() only moves confirmed_flush forward. It changes memory; the
//   checkpointer calls persist() (synced) periodically and at shutdown, so a
//   crash loses at most the last interval of progress, which a subscriber
//   re-sends from its own origin position, never data.
//
// Thread safety: every member may be called from any thread; catalog writes
// block, so callers are detached actors (walsenders, checkpointer).
#pragma once

#include "common/expected.hpp"
#include "storage/catalog.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace walmux::actors {

struct slot_view {
  storage::slot_record record;
  int active_pid = 0; // 0: not in use
};

class slot_manager {
 public:
  // REQUIRES: `cat` outlives the manager.
  slot_manager(storage::catalog& cat, int max_slots);

  // Loads the permanent slots from the catalog.
  status load();

  // 42602 bad name, 42710 exists, 53400 all in use. A temporary slot is
  // created active for `pid`.
  status create(const storage::slot_record& slot, int pid);
  // 42704 unknown, 55006 in use by another session (unless `wait`, which
  // waits for it to be released).
  status drop(const std::string& name, bool wait, int pid);

  // Marks the slot in use by `pid`; returns its state.
  expected<storage::slot_record> acquire(const std::string& name, int pid);
  // Ends `pid`'s use; a temporary slot is dropped.
  void release(const std::string& name, int pid);
  // Drops every temporary slot `pid` created (its session ended).
  void release_session(int pid);

  void confirm(const std::string& name, lsn flush);
  // Moves a new slot's start (confirmed_flush and restart_lsn) forward to
  // the consistent point it learnt after creation (a slot created for an
  // initial copy is created first, at a point that holds retention, and
  // gets its snapshot's point afterwards). Synced before it returns.
  status set_consistent_point(const std::string& name, lsn point);
  // Marks a slot unusable (PostgreSQL's invalidation, e.g. "wal_removed");
  // persisted with the next persist().
  void invalidate(const std::string& name, const std::string& reason);
  // Writes every slot whose progress changed since the last persist().
  status persist(bool sync);

  // Whether the slot was invalidated (cheap: no copy of the record).
  bool invalidated(const std::string& name) const;

  std::vector<slot_view> list() const;
  std::optional<slot_view> get(const std::string& name) const;

 private:
  struct entry {
    storage::slot_record record;
    int active_pid = 0;
    int owner_pid = 0; // temporary slots: the creating session
    bool dirty = false;
  };

  storage::catalog& catalog_;
  const int max_slots_;
  mutable std::mutex mu_;
  std::map<std::string, entry> slots_;
};

// PostgreSQL's slot name rule (ReplicationSlotValidateName): 1..63
// characters from [a-z0-9_]; 42602 otherwise.
status validate_slot_name(const std::string& name);

} // namespace walmux::actors
