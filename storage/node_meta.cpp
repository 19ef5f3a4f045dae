// node_meta.cpp: node metadata payload codec (see node_meta.hpp).
#include "storage/node_meta.hpp"

#include "storage/record.hpp"

namespace walmux::storage {
namespace {

constexpr uint16_t node_meta_version = 1;
// Fixed part of the payload: three u64 and the slot name length.
constexpr size_t fixed_payload = 28;

} // namespace

std::string node_meta_encode(const node_meta& meta) {
  std::string payload;
  put_u64(payload, meta.system_identifier);
  put_u64(payload, meta.wal_segment_size);
  put_u64(payload, meta.upstream_confirmed);
  put_u32(payload, static_cast<uint32_t>(meta.upstream_slot.size()));
  payload += meta.upstream_slot;
  return record_encode(record_kind::node_meta, node_meta_version, payload);
}

expected<node_meta> node_meta_decode(std::string_view record_bytes) {
  auto rec = record_decode(record_bytes, "catalog key meta/node");
  if (!rec)
    return std::move(rec).err();
  auto corrupt = [](const std::string& detail) {
    return error{sqlstate::data_corrupted,
                 "invalid record in catalog key meta/node"}
        .with_detail(detail);
  };
  if (rec->kind != record_kind::node_meta)
    return corrupt("The record is not node metadata.");
  if (rec->version != node_meta_version)
    return corrupt("Unsupported node metadata version " +
                   std::to_string(rec->version) + ".");
  auto p = rec->payload;
  if (p.size() < fixed_payload)
    return corrupt("The node metadata is truncated.");
  node_meta meta;
  meta.system_identifier = get_u64(p.data());
  meta.wal_segment_size = get_u64(p.data() + 8);
  meta.upstream_confirmed = get_u64(p.data() + 16);
  uint32_t slot_len = get_u32(p.data() + 24);
  if (slot_len != p.size() - fixed_payload)
    return corrupt("The node metadata's slot name length is inconsistent.");
  meta.upstream_slot = std::string(p.substr(fixed_payload));
  return meta;
}

} // namespace walmux::storage
