// catalog.hpp: walmux's durable catalog in RocksDB (DATADIR/catalog/).
//
// Column families:
//   meta           node metadata (key "node": system identifier, WAL segment
//                  size, upstream slot and its confirmed LSN) and the
//                  relation snapshot (key "relations", catalog_records.hpp)
//   slots          replication slots, by name        (the storage issue)
//   origins        replication origins, by name      (the storage issue)
//   subscriptions  subscriptions of the apply role   (the apply issue)
// Every value is a self-describing record (record.hpp). Writes that a
// contract depends on are synced (WriteOptions::sync); multi-key changes are
// one WriteBatch.
//
// Thread safety: a catalog may be used from several threads (RocksDB is
// thread-safe). Every call blocks on disk I/O: call it from a detached actor
// or a dedicated thread, never from a scheduler worker.
#pragma once

#include "common/expected.hpp"
#include "storage/catalog_records.hpp"
#include "storage/node_meta.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace walmux::storage {

// Changes applied together: one RocksDB WriteBatch, all or nothing.
class catalog_batch {
 public:
  void put_slot(const slot_record& s);
  void delete_slot(std::string_view name);
  void put_origin(const origin_record& o);
  void delete_origin(std::string_view name);
  void put_subscription(const subscription_record& s);
  void delete_subscription(std::string_view name);
  void put_node_meta(const node_meta& m);
  void put_relation_snapshot(const relation_snapshot& r);
  void
  put_subscription_stats(const std::vector<subscription_stats_record>& stats);
  void delete_subscription_stats();

 private:
  friend class catalog;
  struct op {
    enum class kind { put, del } k;
    std::string family;
    std::string key;
    std::string value;
  };
  std::vector<op> ops_;
};

class catalog {
 public:
  // Creates a new catalog in `dir`, which must not hold one yet.
  static expected<std::unique_ptr<catalog>> create(const std::string& dir);
  // Opens an existing catalog; error if there is none.
  static expected<std::unique_ptr<catalog>> open(const std::string& dir);

  ~catalog();
  catalog(const catalog&) = delete;
  catalog& operator=(const catalog&) = delete;

  // Error 58030 when the node record is missing, XX001 when it is corrupt.
  expected<node_meta> read_node_meta() const;
  // Synced write.
  status write_node_meta(const node_meta& meta);

  // Applies a batch atomically; `sync` waits for it to be durable (needed
  // before acknowledging confirmed_flush or origin progress).
  status apply(const catalog_batch& batch, bool sync);

  expected<std::optional<slot_record>> get_slot(std::string_view name) const;
  expected<std::vector<slot_record>> list_slots() const;
  expected<std::vector<origin_record>> list_origins() const;
  expected<std::vector<subscription_record>> list_subscriptions() const;
  // The relation snapshot, if retention has written one.
  expected<std::optional<relation_snapshot>> read_relation_snapshot() const;
  expected<std::vector<subscription_stats_record>>
  read_subscription_stats() const; // empty when none were saved

 private:
  struct impl;
  // The value of `key` in the meta column family; nullopt when absent.
  expected<std::optional<std::string>> read_meta(const char* key,
                                                 const char* what) const;
  explicit catalog(std::unique_ptr<impl> p);
  static expected<std::unique_ptr<catalog>>
  open_or_create(const std::string& dir, bool create);
  std::unique_ptr<impl> impl_;
};

} // namespace walmux::storage
