// catalog_records.hpp: the catalog's slot and replication origin records,
// each a self-describing record (record.hpp), payload version 1.
//
// Slot payload: strings are u32 length + bytes; integers little-endian:
//   name, plugin, database, option count u32 + (name, value) pairs,
//   temporary u8, two_phase u8, confirmed_flush u64, restart_lsn u64,
//   restart_position u64, invalidation_reason
// Origin payload: id u16, name, remote_lsn u64, local_lsn u64.
// Subscription payload: oid u32, name, conninfo, publication count u32 +
//   names, option count u32 + (name, value) pairs, enabled u8, skip_lsn
//   u64, slot_created u8, copy_done u8, copy_attempts u32, table count u32
//   + (schema, name, state u8, lsn u64, target oid u32).
// Pure: no I/O.
#pragma once

#include "common/expected.hpp"
#include "protocol/lsn.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace walmux::storage {

struct slot_record {
  std::string name;
  std::string plugin; // pgoutput, wal2json
  std::string database;
  std::vector<std::pair<std::string, std::string>> options;
  bool temporary = false;
  bool two_phase = false;
  lsn confirmed_flush; // upstream LSN the consumer confirmed
  lsn restart_lsn;     // upstream LSN of the oldest transaction still needed
  uint64_t restart_position = 0;   // that transaction's store position
  std::string invalidation_reason; // empty, or "wal_removed"
};

struct origin_record {
  uint16_t id = 0;
  std::string name;
  lsn remote_lsn;
  lsn local_lsn;
};

// A table of a subscription and its state, as pg_subscription_rel shows
// it: 'i' init, 'd' data being copied, 's' copied, 'r' ready (streaming).
struct subscription_table {
  std::string schema;
  std::string name;
  char state = 'i';
  lsn state_lsn;           // the copy's consistent point once copied
  uint32_t target_oid = 0; // the target table's OID, once known
  bool operator==(const subscription_table&) const = default;
};

// A subscription of the apply role. `options` hold the canonical option
// values (subscription_ddl.hpp's names) as text.
struct subscription_record {
  uint32_t oid = 0;
  std::string name;
  std::string conninfo;
  std::vector<std::string> publications;
  std::vector<std::pair<std::string, std::string>> options;
  bool enabled = true;
  lsn skip_lsn;              // SKIP (lsn = ...); 0/0 when none
  bool slot_created = false; // the source slot exists (created or given)
  bool copy_done = false;    // the initial copy finished: streaming apply
  uint32_t copy_attempts = 0;
  std::vector<subscription_table> tables;
  // The name the target database knows the subscription by: its origin
  // there is walmux_<target_key>, its row in walmux_apply_progress has
  // subname = target_key and its prepared transactions are named
  // walmux_<target_key>_<xid>. Set at CREATE, kept by RENAME (the target's
  // progress must not be lost with the old name). Version-1 records, from
  // before RENAME existed, read it as the name.
  std::string target_key;
  bool operator==(const subscription_record&) const = default;
};

// The Relation and Type messages of the stream as they stood at `position`:
// what decoders learn before reading the store from START, written before
// retention removes the segments that held them. Payload: position u64,
// count u32, then per message data_start u64 and the bytes (u32 length).
struct relation_snapshot {
  uint64_t position = 0;
  std::vector<std::pair<lsn, std::string>> messages; // data_start, bytes
};

// One subscription's pg_stat_subscription_stats as they stood at a clean
// shutdown (catalog meta/subscription_stats, all subscriptions in one
// record). Read once at start and removed, so that after a crash the
// counters start from zero, as PostgreSQL's do. Payload: count u32, then
// per subscription its name and six i64 (the five counters, stats_reset in
// unix micros, 0 for never).
struct subscription_stats_record {
  std::string name;
  int64_t apply_error_count = 0;
  int64_t sync_error_count = 0;
  int64_t confl_insert_exists = 0;
  int64_t confl_update_missing = 0;
  int64_t confl_delete_missing = 0;
  int64_t stats_reset = 0;
  bool operator==(const subscription_stats_record&) const = default;
};

std::string slot_encode(const slot_record& s);
expected<slot_record> slot_decode(std::string_view bytes);
std::string origin_encode(const origin_record& o);
expected<origin_record> origin_decode(std::string_view bytes);
std::string subscription_encode(const subscription_record& s);
expected<subscription_record> subscription_decode(std::string_view bytes);
std::string
subscription_stats_encode(const std::vector<subscription_stats_record>& stats);
expected<std::vector<subscription_stats_record>>
subscription_stats_decode(std::string_view bytes);
std::string relation_snapshot_encode(const relation_snapshot& r);
expected<relation_snapshot> relation_snapshot_decode(std::string_view bytes);

} // namespace walmux::storage
