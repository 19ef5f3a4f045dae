// slot_decoding.hpp: decoding a slot's stored transactions from its start
// point, shared by START_REPLICATION and the SQL interface to slots:
// pg_logical_slot_get_changes, pg_logical_slot_peek_changes, their
// _binary_ forms, and pg_replication_slot_advance, with PostgreSQL 15's
// rules and error texts.
//
// The SQL functions decode what the node has stored, as PostgreSQL's decode
// the WAL written so far: whole transactions, from the slot's
// confirmed_flush_lsn, stopping before the first transaction that commits
// at or after upto_lsn and after the one that brings the rows to
// upto_nchanges. The get_ forms then confirm the slot to the end of the
// last transaction they read (PostgreSQL confirms to the end of the last
// record it read, so a later call starts after it either way) and save it
// to the catalog, synced, before they return, as advancing does.
//
// Blocking (upstream catalog queries, store reads): callers run on
// detached actors.
#pragma once

#include "actors/decoder/decoder.hpp"
#include "actors/walsender/walsender.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace walmux::actors {

error slot_invalidated(const std::string& slot);

// A decoder for `slot` with the client's `options`, sending transactions
// that commit at or after `start_point`, having learned the relation
// definitions stored before it; `restart` is set to the store position to
// read on from. REQUIRES: the slot is acquired and the caller holds
// env.store_start_lock shared until it has a reader at `restart`.
expected<std::unique_ptr<decoder>>
open_slot_decoder(walsender_env& env, const storage::slot_record& slot,
                  lsn start_point, const std::vector<repl::option>& options,
                  upstream_lookup* lookup, uint64_t& restart);

struct slot_changes_request {
  std::string slot;
  std::optional<lsn> upto_lsn;
  int64_t upto_nchanges = 0; // 0: no limit
  std::vector<repl::option> options;
  bool binary = false;  // the _binary_ forms (bytea data)
  bool confirm = false; // get_ (consumes) rather than peek_
  // PostgreSQL's name of the function, for its error texts.
  std::string function_signature;
};

struct slot_change {
  lsn at;
  uint32_t xid = 0;
  std::string data;
};

// The rows of one call; 54000 once they pass `max_bytes` (PostgreSQL keeps
// them in a tuplestore on disk; the node answers from memory).
expected<std::vector<slot_change>>
slot_changes(walsender_env& env, int pid, const std::string& database,
             const slot_changes_request& request, size_t max_bytes);

// pg_replication_slot_advance: moves the slot's confirmed_flush_lsn to
// `upto` (at most the node's current end); returns the new position.
expected<lsn> advance_slot(walsender_env& env, int pid,
                           const std::string& database, const std::string& slot,
                           lsn upto);

} // namespace walmux::actors
