// node_meta.hpp: the node metadata record of the catalog (key meta/node):
// what identifies this walmux node and where its upstream stream stands.
//
// Payload version 1 (little-endian, inside a record envelope, record.hpp):
//   system_identifier u64, wal_segment_size u64, upstream_confirmed u64,
//   upstream_slot length u32, upstream_slot bytes.
// Pure: no I/O.
#pragma once

#include "common/expected.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace walmux::storage {

struct node_meta {
  uint64_t system_identifier = 0;
  uint64_t wal_segment_size = 0;
  std::string upstream_slot;       // empty until the source creates it
  uint64_t upstream_confirmed = 0; // upstream LSN made durable and confirmed
};

// Payload codec for node_meta (version 1), exposed for golden-byte tests.
std::string node_meta_encode(const node_meta& meta);
expected<node_meta> node_meta_decode(std::string_view record_bytes);

} // namespace walmux::storage
