// wal_cache.hpp: the write-through WAL cache and the storage reader behind
// it: Aurora's logical replication WAL cache.
//
// The source's WAL store writes every synced run of bytes through into the
// block cache (write_through, the store's on_write hook). Decoders read the
// stored stream through a reader_source, which looks each 8kB block up in
// the cache, counting per slot cache_hit, cache_miss and blks_read (every
// block read request); a miss is served from the segment files with one
// pread covering the rest of the request (sequential read-ahead) and the
// blocks read are inserted into the cache. Those reads run on the
// decoder's reader's read-ahead thread (storage/read_ahead.hpp) or on the
// decoder's own thread, never on a scheduler thread. Blocks read ahead
// count when they are read, so a slot that stops reading may have counted
// up to 2MB it never used.
//
// Thread safety: all members may be called from any thread; the cache is
// guarded by one mutex held only for lookups and copies, never during I/O.
#pragma once

#include "storage/block_cache.hpp"
#include "storage/wal_store.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace walmux::actors {

class wal_cache {
 public:
  // REQUIRES: `store` outlives the cache.
  wal_cache(const storage::wal_store& store, uint64_t capacity_bytes);

  void write_through(uint64_t position, std::string_view bytes);

  // A byte_source counting for one slot.
  class reader_source : public storage::byte_source {
   public:
    reader_source(wal_cache& cache, size_t reader)
        : cache_(cache)
        , reader_(reader) {}
    expected<size_t> read(uint64_t position, char* dst,
                          size_t n) const override {
      return cache_.read(reader_, position, dst, n);
    }

   private:
    wal_cache& cache_;
    size_t reader_;
  };
  // The counting reader of slot `slot` (created on first use; its
  // counters start at zero with last_reset_timestamp = now).
  reader_source reader_for(const std::string& slot);
  void forget(const std::string& slot); // the slot was dropped

  struct slot_counters {
    std::string slot;
    storage::cache_counters counters;
  };
  std::vector<slot_counters> counters() const;
  // Resets one slot's counters, or every slot's when `slot` is empty;
  // false when the slot is unknown.
  bool reset(const std::optional<std::string>& slot);
  uint64_t capacity_bytes() const;

 private:
  expected<size_t> read(size_t reader, uint64_t position, char* dst,
                        size_t n) const;
  size_t reader_index(const std::string& slot);

  const storage::wal_store& store_;
  mutable std::mutex mu_;
  mutable storage::block_cache cache_;
  std::map<std::string, size_t> readers_; // slot -> counter index
  std::vector<size_t> free_readers_;
};

} // namespace walmux::actors
