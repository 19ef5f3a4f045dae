// record.hpp: the self-describing envelope of every durable catalog value.
//
// Layout (little-endian), 16-byte header then the payload:
//   magic   u32  0x5857584D ("MXWX" on disk), never changes
//   kind    u16  what the payload is (record_kind); values are persisted:
//                never renumber, only append
//   version u16  the payload's format version for that kind
//   length  u32  payload bytes, at most max_record_payload
//   crc     u32  CRC-32C of the payload
// A reader checks all four before trusting the payload, so a torn, foreign or
// corrupt value is an error naming what is wrong, never a silent default.
//
// Pure: no I/O.
#pragma once

#include "common/expected.hpp"

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace walmux::storage {

inline constexpr uint32_t record_magic = 0x5857584D;
inline constexpr size_t record_header_size = 16;
inline constexpr uint32_t max_record_payload = 16u << 20;

// Persisted: append only.
enum class record_kind : uint16_t {
  node_meta = 1,
  wal_start = 2, // DATADIR/wal/START: the first retained position
  slot = 3,
  origin = 4,
  relation_snapshot = 5, // catalog meta/relations
  subscription = 6,
  wal_segment_index = 7,  // DATADIR/wal/<segment>.index
  subscription_stats = 8, // catalog meta/subscription_stats
};

struct record_view {
  record_kind kind;
  uint16_t version;
  std::string_view payload; // points into the decoded buffer
};

std::string record_encode(record_kind kind, uint16_t version,
                          std::string_view payload);

// Checks magic, length and CRC. `what` names the value in error messages
// (e.g. "catalog key meta/node").
expected<record_view> record_decode(std::string_view bytes,
                                    std::string_view what);

// Little-endian field helpers shared by payload codecs; inline, as the WAL
// store's append and read paths call them for every record.

// Stores `v` at `p`; returns the byte after it.
template <class T>
inline char* store_le(char* p, T v) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &v, sizeof(T));
  } else {
    for (size_t i = 0; i < sizeof(T); ++i)
      p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
  return p + sizeof(T);
}

template <class T>
inline void put_le(std::string& out, T v) {
  char buf[sizeof(T)];
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(buf, &v, sizeof(T));
  } else {
    for (size_t i = 0; i < sizeof(T); ++i)
      buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
  out.append(buf, sizeof(T));
}

template <class T>
inline T get_le(const char* p) {
  T v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, p, sizeof(T));
  } else {
    auto u = reinterpret_cast<const unsigned char*>(p);
    for (size_t i = sizeof(T); i-- > 0;)
      v = static_cast<T>((v << 8) | u[i]);
  }
  return v;
}

inline void put_u16(std::string& out, uint16_t v) {
  put_le(out, v);
}
inline void put_u32(std::string& out, uint32_t v) {
  put_le(out, v);
}
inline void put_u64(std::string& out, uint64_t v) {
  put_le(out, v);
}
inline uint16_t get_u16(const char* p) {
  return get_le<uint16_t>(p);
}
inline uint32_t get_u32(const char* p) {
  return get_le<uint32_t>(p);
}
inline uint64_t get_u64(const char* p) {
  return get_le<uint64_t>(p);
}

} // namespace walmux::storage
