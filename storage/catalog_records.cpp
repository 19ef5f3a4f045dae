// catalog_records.cpp: see catalog_records.hpp.
#include "storage/catalog_records.hpp"

#include "storage/record.hpp"

namespace walmux::storage {
namespace {

constexpr uint16_t slot_version = 1;
constexpr uint16_t origin_version = 1;

void put_string(std::string& out, std::string_view s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

// Bounded reading of a payload.
struct payload_reader {
  std::string_view p;
  bool ok = true;
  bool need(size_t n) {
    ok = ok && p.size() >= n;
    return ok;
  }
  uint64_t u64() {
    if (!need(8))
      return 0;
    uint64_t v = get_u64(p.data());
    p.remove_prefix(8);
    return v;
  }
  uint32_t u32() {
    if (!need(4))
      return 0;
    uint32_t v = get_u32(p.data());
    p.remove_prefix(4);
    return v;
  }
  uint16_t u16() {
    if (!need(2))
      return 0;
    uint16_t v = get_u16(p.data());
    p.remove_prefix(2);
    return v;
  }
  uint8_t u8() {
    if (!need(1))
      return 0;
    auto v = static_cast<uint8_t>(p[0]);
    p.remove_prefix(1);
    return v;
  }
  std::string str() {
    uint32_t n = u32();
    if (!need(n))
      return {};
    std::string s(p.substr(0, n));
    p.remove_prefix(n);
    return s;
  }
};

error bad(const char* what, const std::string& detail) {
  return error{sqlstate::data_corrupted,
               std::string("invalid ") + what + " record in the catalog"}
      .with_detail(detail);
}

} // namespace

std::string slot_encode(const slot_record& s) {
  std::string p;
  put_string(p, s.name);
  put_string(p, s.plugin);
  put_string(p, s.database);
  put_u32(p, static_cast<uint32_t>(s.options.size()));
  for (const auto& [k, v] : s.options) {
    put_string(p, k);
    put_string(p, v);
  }
  p += static_cast<char>(s.temporary);
  p += static_cast<char>(s.two_phase);
  put_u64(p, s.confirmed_flush.value);
  put_u64(p, s.restart_lsn.value);
  put_u64(p, s.restart_position);
  put_string(p, s.invalidation_reason);
  return record_encode(record_kind::slot, slot_version, p);
}

expected<slot_record> slot_decode(std::string_view bytes) {
  auto rec = record_decode(bytes, "catalog slot");
  if (!rec)
    return std::move(rec).err();
  if (rec->kind != record_kind::slot || rec->version != slot_version)
    return bad("slot", "Unexpected record kind or version.");
  payload_reader r{rec->payload};
  slot_record s;
  s.name = r.str();
  s.plugin = r.str();
  s.database = r.str();
  uint32_t n = r.u32();
  if (!r.need(static_cast<size_t>(n) * 8))
    return bad("slot", "The option count exceeds the record.");
  for (uint32_t i = 0; i < n && r.ok; ++i) {
    std::string k = r.str();
    std::string v = r.str();
    s.options.emplace_back(std::move(k), std::move(v));
  }
  s.temporary = r.u8() != 0;
  s.two_phase = r.u8() != 0;
  s.confirmed_flush = lsn(r.u64());
  s.restart_lsn = lsn(r.u64());
  s.restart_position = r.u64();
  s.invalidation_reason = r.str();
  if (!r.ok || !r.p.empty())
    return bad("slot", "The payload does not match its layout.");
  return s;
}

std::string origin_encode(const origin_record& o) {
  std::string p;
  put_u16(p, o.id);
  put_string(p, o.name);
  put_u64(p, o.remote_lsn.value);
  put_u64(p, o.local_lsn.value);
  return record_encode(record_kind::origin, origin_version, p);
}

expected<origin_record> origin_decode(std::string_view bytes) {
  auto rec = record_decode(bytes, "catalog origin");
  if (!rec)
    return std::move(rec).err();
  if (rec->kind != record_kind::origin || rec->version != origin_version)
    return bad("origin", "Unexpected record kind or version.");
  payload_reader r{rec->payload};
  origin_record o;
  o.id = r.u16();
  o.name = r.str();
  o.remote_lsn = lsn(r.u64());
  o.local_lsn = lsn(r.u64());
  if (!r.ok || !r.p.empty())
    return bad("origin", "The payload does not match its layout.");
  return o;
}

// Version 2 appends target_key.
constexpr uint16_t subscription_version = 2;

std::string subscription_encode(const subscription_record& s) {
  std::string p;
  put_u32(p, s.oid);
  put_string(p, s.name);
  put_string(p, s.conninfo);
  put_u32(p, static_cast<uint32_t>(s.publications.size()));
  for (const auto& pub : s.publications)
    put_string(p, pub);
  put_u32(p, static_cast<uint32_t>(s.options.size()));
  for (const auto& [k, v] : s.options) {
    put_string(p, k);
    put_string(p, v);
  }
  p += static_cast<char>(s.enabled);
  put_u64(p, s.skip_lsn.value);
  p += static_cast<char>(s.slot_created);
  p += static_cast<char>(s.copy_done);
  put_u32(p, s.copy_attempts);
  put_u32(p, static_cast<uint32_t>(s.tables.size()));
  for (const auto& t : s.tables) {
    put_string(p, t.schema);
    put_string(p, t.name);
    p += t.state;
    put_u64(p, t.state_lsn.value);
    put_u32(p, t.target_oid);
  }
  put_string(p, s.target_key);
  return record_encode(record_kind::subscription, subscription_version, p);
}

expected<subscription_record> subscription_decode(std::string_view bytes) {
  auto rec = record_decode(bytes, "catalog subscription");
  if (!rec)
    return std::move(rec).err();
  if (rec->kind != record_kind::subscription || rec->version < 1 ||
      rec->version > subscription_version)
    return bad("subscription", "Unexpected record kind or version.");
  payload_reader r{rec->payload};
  subscription_record s;
  s.oid = r.u32();
  s.name = r.str();
  s.conninfo = r.str();
  // Every count is bounded by the bytes left (each item takes >= 4).
  uint32_t n = r.u32();
  if (!r.need(static_cast<size_t>(n) * 4))
    return bad("subscription", "The publication count exceeds the record.");
  for (uint32_t i = 0; i < n && r.ok; ++i)
    s.publications.push_back(r.str());
  n = r.u32();
  if (!r.need(static_cast<size_t>(n) * 8))
    return bad("subscription", "The option count exceeds the record.");
  for (uint32_t i = 0; i < n && r.ok; ++i) {
    std::string k = r.str();
    std::string v = r.str();
    s.options.emplace_back(std::move(k), std::move(v));
  }
  s.enabled = r.u8() != 0;
  s.skip_lsn = lsn(r.u64());
  s.slot_created = r.u8() != 0;
  s.copy_done = r.u8() != 0;
  s.copy_attempts = r.u32();
  n = r.u32();
  if (!r.need(static_cast<size_t>(n) * 21))
    return bad("subscription", "The table count exceeds the record.");
  for (uint32_t i = 0; i < n && r.ok; ++i) {
    subscription_table t;
    t.schema = r.str();
    t.name = r.str();
    t.state = static_cast<char>(r.u8());
    t.state_lsn = lsn(r.u64());
    t.target_oid = r.u32();
    s.tables.push_back(std::move(t));
  }
  s.target_key = rec->version >= 2 ? r.str() : s.name;
  if (!r.ok || !r.p.empty())
    return bad("subscription", "The payload does not match its layout.");
  return s;
}

constexpr uint16_t relation_snapshot_version = 1;

std::string relation_snapshot_encode(const relation_snapshot& r) {
  std::string p;
  put_u64(p, r.position);
  put_u32(p, static_cast<uint32_t>(r.messages.size()));
  for (const auto& [at, bytes] : r.messages) {
    put_u64(p, at.value);
    put_string(p, bytes);
  }
  return record_encode(record_kind::relation_snapshot,
                       relation_snapshot_version, p);
}

expected<relation_snapshot> relation_snapshot_decode(std::string_view bytes) {
  auto rec = record_decode(bytes, "catalog relation snapshot");
  if (!rec)
    return std::move(rec).err();
  if (rec->kind != record_kind::relation_snapshot ||
      rec->version != relation_snapshot_version)
    return bad("relation snapshot", "Unexpected record kind or version.");
  payload_reader r{rec->payload};
  relation_snapshot out;
  out.position = r.u64();
  const uint32_t n = r.u32();
  for (uint32_t i = 0; i < n && r.ok; ++i) {
    lsn at(r.u64());
    out.messages.emplace_back(at, r.str());
  }
  if (!r.ok || !r.p.empty())
    return bad("relation snapshot", "The payload does not match its layout.");
  return out;
}

constexpr uint16_t subscription_stats_version = 1;

std::string
subscription_stats_encode(const std::vector<subscription_stats_record>& stats) {
  std::string p;
  put_u32(p, static_cast<uint32_t>(stats.size()));
  for (const auto& st : stats) {
    put_string(p, st.name);
    for (int64_t v :
         {st.apply_error_count, st.sync_error_count, st.confl_insert_exists,
          st.confl_update_missing, st.confl_delete_missing, st.stats_reset})
      put_u64(p, static_cast<uint64_t>(v));
  }
  return record_encode(record_kind::subscription_stats,
                       subscription_stats_version, p);
}

expected<std::vector<subscription_stats_record>>
subscription_stats_decode(std::string_view bytes) {
  auto rec = record_decode(bytes, "catalog subscription statistics");
  if (!rec)
    return std::move(rec).err();
  if (rec->kind != record_kind::subscription_stats ||
      rec->version != subscription_stats_version)
    return bad("subscription statistics", "Unexpected record kind or version.");
  payload_reader r{rec->payload};
  std::vector<subscription_stats_record> out;
  const uint32_t n = r.u32();
  for (uint32_t i = 0; i < n && r.ok; ++i) {
    subscription_stats_record st;
    st.name = r.str();
    for (int64_t* v :
         {&st.apply_error_count, &st.sync_error_count, &st.confl_insert_exists,
          &st.confl_update_missing, &st.confl_delete_missing, &st.stats_reset})
      *v = static_cast<int64_t>(r.u64());
    out.push_back(std::move(st));
  }
  if (!r.ok || !r.p.empty())
    return bad("subscription statistics",
               "The payload does not match its layout.");
  return out;
}

} // namespace walmux::storage
