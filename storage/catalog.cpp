// catalog.cpp: RocksDB-backed catalog (see catalog.hpp).
#include "storage/catalog.hpp"

#include "storage/record.hpp"

#include <algorithm>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/options.h>

namespace walmux::storage {
namespace {

const std::vector<std::string> column_families = {
    rocksdb::kDefaultColumnFamilyName, "meta", "slots", "origins",
    "subscriptions"};

constexpr const char* node_key = "node";

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

} // namespace walmux::storage
