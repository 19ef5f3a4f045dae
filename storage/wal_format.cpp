// wal_format.cpp: see wal_format.hpp.
#include "storage/wal_format.hpp"

#include "storage/crc32c.hpp"
#include "storage/record.hpp"

#include <cstring>

namespace walmux::storage {
namespace {

uint32_t record_crc(record_type type, uint32_t length,
                    std::string_view payload) {
  char head[5];
  head[0] = static_cast<char>(type);
  for (int i = 0; i < 4; ++i)
    head[1 + i] = static_cast<char>((length >> (8 * i)) & 0xff);
  uint32_t crc = crc32c_extend(0, head, sizeof head);
  return crc32c_extend(crc, payload.data(), payload.size());
}

// Appends one record: its header, then `fixed` and `tail` as its payload.
// The CRC (over type and length, then the payload) is computed from the
// pieces before they are copied, and each piece is copied once: the store
// appends two records per transaction on its writer thread.
void append_record(std::string& out, record_type type, std::string_view fixed,
                   std::string_view tail = {}) {
  char head[wal_header_size];
  char* p = store_le(head, wal_record_magic);
  *p++ = static_cast<char>(type);
  p = store_le(p, static_cast<uint32_t>(fixed.size() + tail.size()));
  uint32_t crc = crc32c_extend(0, head + 2, 5);
  crc = crc32c_extend(crc, fixed.data(), fixed.size());
  if (!tail.empty())
    crc = crc32c_extend(crc, tail.data(), tail.size());
  store_le(p, crc);
  out.append(head, sizeof head);
  out.append(fixed);
  out.append(tail);
}

} // namespace

void wal_append_message(std::string& out, lsn data_start,
                        std::string_view message) {
  char start[8];
  store_le(start, data_start.value);
  append_record(out, record_type::message, {start, sizeof start}, message);
}

void wal_append_commit(std::string& out, const commit_record& c) {
  char payload[commit_payload_size];
  char* p = store_le(payload, c.xid);
  *p++ = static_cast<char>(c.flags);
  p = store_le(p, c.commit_lsn.value);
  p = store_le(p, c.end_lsn.value);
  p = store_le(p, static_cast<uint64_t>(c.commit_time));
  p = store_le(p, c.message_count);
  p = store_le(p, c.start_position);
  store_le(p, c.batch_start);
  append_record(out, record_type::commit, {payload, sizeof payload});
}

void wal_append_abort(std::string& out, uint64_t voided_start) {
  char payload[abort_payload_size];
  store_le(payload, voided_start);
  append_record(out, record_type::abort, {payload, sizeof payload});
}

expected<record_header> wal_parse_header(std::string_view bytes) {
  record_header h;
  if (wal_decode_header(bytes.data(), h))
    return h;
  auto bad = [](const std::string& why) {
    return error{sqlstate::data_corrupted, "invalid WAL record header"}
        .with_detail(why);
  };
  if (get_u16(bytes.data()) != wal_record_magic)
    return bad("The record has the wrong magic number.");
  const auto type = static_cast<uint8_t>(bytes[2]);
  if (type != static_cast<uint8_t>(record_type::message) &&
      type != static_cast<uint8_t>(record_type::commit) &&
      type != static_cast<uint8_t>(record_type::abort))
    return bad("Unknown record type " + std::to_string(type) + ".");
  return bad("Record length " + std::to_string(h.length) +
             " is invalid for its type.");
}

bool wal_crc_matches(const record_header& h, std::string_view payload) {
  return record_crc(h.type, h.length, payload) == h.crc;
}

expected<commit_record> wal_decode_commit(std::string_view p) {
  if (p.size() != commit_payload_size)
    return error{sqlstate::data_corrupted, "invalid WAL commit record"};
  commit_record c;
  c.xid = get_u32(p.data());
  c.flags = static_cast<uint8_t>(p[4]);
  c.commit_lsn = lsn(get_u64(p.data() + 5));
  c.end_lsn = lsn(get_u64(p.data() + 13));
  c.commit_time = static_cast<int64_t>(get_u64(p.data() + 21));
  c.message_count = get_u32(p.data() + 29);
  c.start_position = get_u64(p.data() + 33);
  c.batch_start = get_u64(p.data() + 41);
  return c;
}

expected<uint64_t> wal_decode_abort(std::string_view p) {
  if (p.size() != abort_payload_size)
    return error{sqlstate::data_corrupted, "invalid WAL abort record"};
  return get_u64(p.data());
}

namespace {
constexpr uint16_t segment_index_version = 1;
constexpr size_t segment_index_fixed = 8 * 5 + 4;
constexpr size_t segment_index_entry = 16;
} // namespace

std::string wal_encode_segment_index(const segment_index& x) {
  std::string p;
  p.reserve(segment_index_fixed + x.entries.size() * segment_index_entry);
  put_u64(p, x.segment);
  put_u64(p, x.boundary);
  put_u64(p, x.transactions);
  put_u64(p, x.last_commit.value);
  put_u64(p, x.last_end.value);
  put_u32(p, static_cast<uint32_t>(x.entries.size()));
  for (const auto& [commit, start] : x.entries) {
    put_u64(p, commit.value);
    put_u64(p, start);
  }
  return record_encode(record_kind::wal_segment_index, segment_index_version,
                       p);
}

expected<segment_index> wal_decode_segment_index(std::string_view bytes,
                                                 uint64_t segment_size) {
  auto rec = record_decode(bytes, "WAL segment index");
  if (!rec)
    return std::move(rec).err();
  auto bad = [](const std::string& why) {
    return error{sqlstate::data_corrupted, "invalid WAL segment index"}
        .with_detail(why);
  };
  if (rec->kind != record_kind::wal_segment_index ||
      rec->version != segment_index_version)
    return bad("Wrong record kind or version.");
  std::string_view p = rec->payload;
  if (p.size() < segment_index_fixed)
    return bad("The summary is truncated.");
  segment_index x;
  x.segment = get_u64(p.data());
  x.boundary = get_u64(p.data() + 8);
  x.transactions = get_u64(p.data() + 16);
  x.last_commit = lsn(get_u64(p.data() + 24));
  x.last_end = lsn(get_u64(p.data() + 32));
  const uint32_t count = get_u32(p.data() + 40);
  if (p.size() - segment_index_fixed !=
      static_cast<uint64_t>(count) * segment_index_entry)
    return bad("The entry count does not match the size.");
  if (segment_size == 0 || x.segment >= UINT64_MAX / segment_size ||
      x.boundary > (x.segment + 1) * segment_size)
    return bad("The boundary lies beyond the segment.");
  x.entries.reserve(count);
  const char* e = p.data() + segment_index_fixed;
  for (uint32_t i = 0; i < count; ++i, e += segment_index_entry) {
    const uint64_t start = get_u64(e + 8);
    if (start >= x.boundary ||
        (!x.entries.empty() && start <= x.entries.back().second))
      return bad("The entries are out of order.");
    x.entries.emplace_back(lsn(get_u64(e)), start);
  }
  return x;
}

} // namespace walmux::storage
