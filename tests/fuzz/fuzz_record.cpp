// fuzz_record.cpp: every decoder of durable bytes on hostile input: the
// record envelope, node metadata, slot and origin records, WAL record
// headers, commit records and segment index files. None may crash; what
// decodes re-encodes to the same bytes.
#include "storage/catalog_records.hpp"
#include "storage/node_meta.hpp"
#include "storage/record.hpp"
#include "storage/wal_format.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace walmux::storage;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto rec = record_decode(bytes, "fuzz");
  if (rec) {
    if (record_encode(rec->kind, rec->version, rec->payload) != bytes)
      std::abort();
  }
  auto meta = node_meta_decode(bytes);
  if (meta && node_meta_encode(*meta) != bytes)
    std::abort();
  auto slot = slot_decode(bytes);
  if (slot && slot_encode(*slot) != bytes)
    std::abort();
  auto origin = origin_decode(bytes);
  if (origin && origin_encode(*origin) != bytes)
    std::abort();
  auto index = wal_decode_segment_index(bytes, 8192);
  if (index && wal_encode_segment_index(*index) != bytes)
    std::abort();
  // An older version re-encodes as the current one: what must hold is
  // that the re-encoded record reads back as the same subscription.
  auto subscription = subscription_decode(bytes);
  if (subscription) {
    auto again = subscription_decode(subscription_encode(*subscription));
    if (!again || !(*again == *subscription))
      std::abort();
  }
  auto stats = subscription_stats_decode(bytes);
  if (stats && subscription_stats_encode(*stats) != bytes)
    std::abort();
  if (bytes.size() >= wal_header_size) {
    auto h = wal_parse_header(bytes.substr(0, wal_header_size));
    if (h && bytes.size() - wal_header_size >= h->length) {
      auto payload = bytes.substr(wal_header_size, h->length);
      if (wal_crc_matches(*h, payload) && h->type == record_type::commit) {
        auto c = wal_decode_commit(payload);
        if (!c)
          std::abort(); // a valid header and CRC make a decodable commit
        std::string again;
        wal_append_commit(again, *c);
        if (again != bytes.substr(0, wal_header_size + h->length))
          std::abort();
      }
    }
  }
  return 0;
}
