// catalog.cpp: RocksDB-backed catalog (see catalog.hpp).
#include "storage/catalog.hpp"

#include "storage/record.hpp"

#include <algorithm>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

namespace walmux::storage {
namespace {

const std::vector<std::string> column_families = {
    rocksdb::kDefaultColumnFamilyName, "meta", "slots", "origins",
    "subscriptions"};

constexpr const char* node_key = "node";
constexpr const char* relations_key = "relations";
constexpr const char* subscription_stats_key = "subscription_stats";

error rocks_error(const std::string& what, const rocksdb::Status& s) {
  return error{sqlstate::io_error, what + ": " + s.ToString()};
}

} // namespace

struct catalog::impl {
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;

  rocksdb::ColumnFamilyHandle* cf(const std::string& name) const {
    auto it = std::find(column_families.begin(), column_families.end(), name);
    return handles[static_cast<size_t>(it - column_families.begin())];
  }

  ~impl() {
    if (db == nullptr)
      return;
    for (auto* h : handles)
      (void)db->DestroyColumnFamilyHandle(h); // only fails for null handles
    (void)db->Close(); // close errors leave nothing to recover here
    delete db;
  }
};

catalog::catalog(std::unique_ptr<impl> p)
    : impl_(std::move(p)) {}
catalog::~catalog() = default;

// Opens (create = false) or creates (create = true) the database with all
// column families.
expected<std::unique_ptr<catalog>>
catalog::open_or_create(const std::string& dir, bool create) {
  auto p = std::make_unique<impl>();
  rocksdb::Options options;
  options.create_if_missing = create;
  options.error_if_exists = create;
  // A catalog from an older walmux may lack newer families: add them.
  options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : column_families)
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  auto s = rocksdb::DB::Open(options, dir, descriptors, &p->handles, &p->db);
  if (!s.ok())
    return rocks_error(
        std::string(create ? "could not create" : "could not open") +
            " catalog \"" + dir + "\"",
        s);
  return std::unique_ptr<catalog>(new catalog(std::move(p)));
}

expected<std::unique_ptr<catalog>> catalog::create(const std::string& dir) {
  return open_or_create(dir, true);
}

expected<std::unique_ptr<catalog>> catalog::open(const std::string& dir) {
  return open_or_create(dir, false);
}

expected<node_meta> catalog::read_node_meta() const {
  std::string value;
  auto s = impl_->db->Get(rocksdb::ReadOptions(), impl_->cf("meta"), node_key,
                          &value);
  if (s.IsNotFound())
    return error{sqlstate::io_error, "catalog has no node metadata"}.with_hint(
        "The data directory was not initialized completely; run walmux init "
        "again in an empty directory.");
  if (!s.ok())
    return rocks_error("could not read node metadata", s);
  return node_meta_decode(value);
}

status catalog::write_node_meta(const node_meta& meta) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  auto s =
      impl_->db->Put(wo, impl_->cf("meta"), node_key, node_meta_encode(meta));
  if (!s.ok())
    return rocks_error("could not write node metadata", s);
  return ok();
}

void catalog_batch::put_slot(const slot_record& s) {
  ops_.push_back({op::kind::put, "slots", s.name, slot_encode(s)});
}
void catalog_batch::delete_slot(std::string_view name) {
  ops_.push_back({op::kind::del, "slots", std::string(name), {}});
}
void catalog_batch::put_origin(const origin_record& o) {
  ops_.push_back({op::kind::put, "origins", o.name, origin_encode(o)});
}
void catalog_batch::delete_origin(std::string_view name) {
  ops_.push_back({op::kind::del, "origins", std::string(name), {}});
}
void catalog_batch::put_subscription(const subscription_record& s) {
  ops_.push_back(
      {op::kind::put, "subscriptions", s.name, subscription_encode(s)});
}
void catalog_batch::delete_subscription(std::string_view name) {
  ops_.push_back({op::kind::del, "subscriptions", std::string(name), {}});
}
void catalog_batch::put_node_meta(const node_meta& m) {
  ops_.push_back({op::kind::put, "meta", node_key, node_meta_encode(m)});
}

void catalog_batch::put_relation_snapshot(const relation_snapshot& r) {
  ops_.push_back(
      {op::kind::put, "meta", relations_key, relation_snapshot_encode(r)});
}

void catalog_batch::put_subscription_stats(
    const std::vector<subscription_stats_record>& stats) {
  ops_.push_back({op::kind::put, "meta", subscription_stats_key,
                  subscription_stats_encode(stats)});
}
void catalog_batch::delete_subscription_stats() {
  ops_.push_back({op::kind::del, "meta", subscription_stats_key, {}});
}

expected<std::optional<std::string>>
catalog::read_meta(const char* key, const char* what) const {
  std::string value;
  auto s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->cf("meta"), key, &value);
  if (s.IsNotFound())
    return std::optional<std::string>();
  if (!s.ok())
    return rocks_error(std::string("could not read the ") + what, s);
  return std::optional<std::string>(std::move(value));
}

expected<std::vector<subscription_stats_record>>
catalog::read_subscription_stats() const {
  auto value = read_meta(subscription_stats_key, "subscription statistics");
  if (!value)
    return std::move(value).err();
  if (!*value)
    return std::vector<subscription_stats_record>();
  return subscription_stats_decode(**value);
}

expected<std::optional<relation_snapshot>>
catalog::read_relation_snapshot() const {
  auto value = read_meta(relations_key, "relation snapshot");
  if (!value)
    return std::move(value).err();
  if (!*value)
    return std::optional<relation_snapshot>();
  auto r = relation_snapshot_decode(**value);
  if (!r)
    return std::move(r).err();
  return std::optional<relation_snapshot>(std::move(*r));
}

status catalog::apply(const catalog_batch& batch, bool sync) {
  rocksdb::WriteBatch wb;
  for (const auto& o : batch.ops_) {
    auto* cf = impl_->cf(o.family);
    auto s = o.k == catalog_batch::op::kind::put ? wb.Put(cf, o.key, o.value)
                                                 : wb.Delete(cf, o.key);
    if (!s.ok())
      return rocks_error("could not prepare catalog batch", s);
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  auto s = impl_->db->Write(wo, &wb);
  if (!s.ok())
    return rocks_error("could not write catalog batch", s);
  return ok();
}

expected<std::optional<slot_record>>
catalog::get_slot(std::string_view name) const {
  std::string value;
  auto s = impl_->db->Get(rocksdb::ReadOptions(), impl_->cf("slots"),
                          rocksdb::Slice(name.data(), name.size()), &value);
  if (s.IsNotFound())
    return std::optional<slot_record>();
  if (!s.ok())
    return rocks_error("could not read slot", s);
  auto rec = slot_decode(value);
  if (!rec)
    return std::move(rec).err();
  return std::optional<slot_record>(std::move(*rec));
}

namespace {

template <class Record, class Decode>
expected<std::vector<Record>>
list_family(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, Decode decode) {
  std::vector<Record> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db->NewIterator(rocksdb::ReadOptions(), cf));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto rec = decode(std::string_view(it->value().data(), it->value().size()));
    if (!rec)
      return std::move(rec).err();
    out.push_back(std::move(*rec));
  }
  if (!it->status().ok())
    return rocks_error("could not list catalog", it->status());
  return out;
}

} // namespace

expected<std::vector<slot_record>> catalog::list_slots() const {
  return list_family<slot_record>(impl_->db, impl_->cf("slots"), slot_decode);
}

expected<std::vector<origin_record>> catalog::list_origins() const {
  return list_family<origin_record>(impl_->db, impl_->cf("origins"),
                                    origin_decode);
}

expected<std::vector<subscription_record>> catalog::list_subscriptions() const {
  return list_family<subscription_record>(impl_->db, impl_->cf("subscriptions"),
                                          subscription_decode);
}

} // namespace walmux::storage
