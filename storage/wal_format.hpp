// wal_format.hpp: the record format of walmux's WAL store (DATADIR/wal/).
//
// The store is one byte space, position 0 upwards, cut into segment files of
// wal_segment_size bytes (segment n holds [n * size, (n + 1) * size)); a
// record may span segments. A record is an 11-byte header then its payload:
//   magic   u16  0x574D
//   type    u8   record_type (persisted: append only, never renumber)
//   length  u32  payload bytes, at most max_wal_payload
//   crc     u32  CRC-32C of type, length (little-endian) and payload
// A stored transaction is its message records followed by one commit
// record; the commit record makes the transaction complete. A large one
// is written in parts over several syncs; when its source stops before
// the commit (the upstream connection broke and the upstream will send
// the transaction again from its start), an abort record voids the
// message records written since the last commit or abort record.
//
// Pure: no I/O.
#pragma once

#include "common/expected.hpp"
#include "protocol/lsn.hpp"
#include "storage/record.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace walmux::storage {

inline constexpr uint16_t wal_record_magic = 0x574D;
inline constexpr size_t wal_header_size = 11;
inline constexpr uint32_t max_wal_payload = 1u << 30;
inline constexpr uint64_t wal_block_size = 8192;

// Persisted: append only.
enum class record_type : uint8_t {
  message = 1, // data_start u64, then one pgoutput message
  commit = 2,  // see commit_record
  abort = 3,   // start u64: where the voided records begin
};
inline constexpr size_t abort_payload_size = 8;

// Flags of a commit record.
inline constexpr uint8_t commit_flag_non_transactional = 1;

struct commit_record {
  uint32_t xid = 0;
  uint8_t flags = 0;
  lsn commit_lsn;
  lsn end_lsn;
  int64_t commit_time = 0;
  uint32_t message_count = 0;
  uint64_t start_position = 0; // of the transaction's first record
  // The durable position when the sync that wrote this record began: all
  // bytes before it were synced before this record was written. Recovery
  // uses it to tell corruption of durable data from a torn tail.
  uint64_t batch_start = 0;
};
inline constexpr size_t commit_payload_size = 49;

struct record_header {
  record_type type = record_type::message;
  uint32_t length = 0;
  uint32_t crc = 0;
};

// Appends a complete record.
void wal_append_message(std::string& out, lsn data_start,
                        std::string_view message);
void wal_append_commit(std::string& out, const commit_record& c);
void wal_append_abort(std::string& out, uint64_t voided_start);

// Decodes a header (REQUIRES: wal_header_size bytes at p); false for a bad
// magic, type or length. Builds no error: the hot path of every reader.
inline bool wal_decode_header(const char* p, record_header& h) {
  const auto type = static_cast<uint8_t>(p[2]);
  h.length = get_u32(p + 3);
  h.crc = get_u32(p + 7);
  if (get_u16(p) != wal_record_magic)
    return false;
  if (type == static_cast<uint8_t>(record_type::message)) {
    h.type = record_type::message;
    return h.length >= 8 && h.length <= max_wal_payload;
  }
  if (type == static_cast<uint8_t>(record_type::commit)) {
    h.type = record_type::commit;
    return h.length == commit_payload_size;
  }
  h.type = record_type::abort;
  return type == static_cast<uint8_t>(record_type::abort) &&
         h.length == abort_payload_size;
}

// The same with an error that says what is wrong.
expected<record_header> wal_parse_header(std::string_view bytes);
// Checks the CRC of a header and its payload.
bool wal_crc_matches(const record_header& h, std::string_view payload);

expected<commit_record> wal_decode_commit(std::string_view payload);
// The start of the records an abort record voids.
expected<uint64_t> wal_decode_abort(std::string_view payload);

// The summary of one complete, durable segment, kept beside it in
// "<segment>.index" (a record envelope, kind wal_segment_index), so that
// recovery scans only the segments after the last summarised one.
struct segment_index {
  uint64_t segment = 0;
  // The end of the last transaction whose commit record ends in this
  // segment, or, if none does, the same figure of an earlier segment:
  // always a transaction boundary, at most the segment's end.
  uint64_t boundary = 0;
  uint64_t transactions = 0; // complete transactions ending in the segment
  lsn last_commit;           // of the last transaction before `boundary`
  lsn last_end;              // the highest end LSN before `boundary`
  // Sparse index entries (commit LSN, transaction start) of the
  // transactions ending in the segment, in order.
  std::vector<std::pair<lsn, uint64_t>> entries;
};

std::string wal_encode_segment_index(const segment_index& index);
// An error for anything but a well-formed summary of a segment whose
// boundary lies at most at its end for `segment_size`.
expected<segment_index> wal_decode_segment_index(std::string_view bytes,
                                                 uint64_t segment_size);

} // namespace walmux::storage
