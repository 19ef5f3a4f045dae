// initial_copy.hpp: a subscription's initial copy: its slot is created on
// the source, and every published table is copied into the target as it
// stood at the slot's consistent point, so that streaming from that point
// on completes it (PostgreSQL's rule: the slot streams exactly the
// transactions committing at or after its consistent point).
//
// One snapshot for all tables. A source that exports it (PostgreSQL:
// CREATE_REPLICATION_SLOT ... (SNAPSHOT 'export')) is read over up to
// `workers` connections in parallel, each importing the snapshot (SET
// TRANSACTION SNAPSHOT); a source that does not (a walmux node) is read
// over the slot's own connection, whose transaction uses the snapshot
// (SNAPSHOT 'use'), one table after another. Every query sent to the
// source is one that PostgreSQL's own subscribers send, so a walmux
// node's strict proxy forwards them.
//
// Rows stream from COPY ... TO STDOUT on the source into COPY ... FROM
// STDIN on the target, one row at a time through libpq's buffers: no table
// is held in memory. Each table's copy is one target transaction; with
// `truncate_first` (a copy redone after an interruption) it empties the
// table first, in the same transaction.
//
// Blocking libpq: use from a detached actor's thread only.
#pragma once

#include "common/expected.hpp"
#include "protocol/lsn.hpp"

#include <atomic>
#include <functional>
#include <string>
#include <vector>

namespace walmux::actors::apply {

struct copy_plan {
  std::string subscription;
  std::string source_conninfo;
  std::string target_conninfo;
  std::string slot_name;
  std::vector<std::string> publications;
  bool copy_data = true;
  bool truncate_first = false;
  // A table sync (tables added by REFRESH PUBLICATION): the slot is a
  // temporary one that only gives the snapshot, and only these tables are
  // copied (the publication's list is not read).
  bool temporary_slot = false;
  std::vector<std::pair<std::string, std::string>> only_tables;
  // Tables emptied before their copy (besides all with truncate_first):
  // those whose copy may have committed before an interruption.
  std::vector<std::pair<std::string, std::string>> truncate_tables;
  int workers = 2;
  const std::atomic<bool>* stop = nullptr; // abandon the copy when set
};

struct copy_hooks {
  // The published tables, before any copy starts.
  std::function<status(const std::vector<std::pair<std::string, std::string>>&)>
      tables;
  // The slot exists on the source from here on.
  std::function<status(lsn consistent_point)> slot_created;
  // A table's state changed ('d' copying, 's' copied).
  std::function<void(const std::string& schema, const std::string& name,
                     char state, uint32_t target_oid)>
      table_state;
};

// Creates the slot and copies; returns the consistent point. Without
// copy_data only the slot is created (tables go straight to streaming).
expected<lsn> run_initial_copy(const copy_plan& plan, const copy_hooks& hooks);

// The publication table list query PostgreSQL 15 subscribers send.
std::string publication_tables_query(const std::vector<std::string>& pubs);

} // namespace walmux::actors::apply
