// block_cache.hpp: the fixed-capacity block cache behind the wal_cache
// actor: Aurora's logical replication write-through cache.
//
// The WAL store's byte space is cut into 8kB blocks (block n holds
// [n * 8192, (n + 1) * 8192)). Appended bytes are written through into the
// cache as they are stored; a reader asking for a block counts a hit when it
// is there and a miss otherwise (the storage_reader then reads it from the
// segment files and insert()s it). Per reader (one per slot) the cache keeps
// Aurora's counters: cache_hit, cache_miss, blks_read (every read request),
// and the time they were last reset.
//
// Capacity is rds.logical_wal_cache (at least 4 blocks); eviction is CLOCK.
// Memory is allocated once: a lookup that hits allocates nothing.
// Thread safety: none; the cache belongs to one actor.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace walmux::storage {

inline constexpr uint64_t cache_block_size = 8192;

struct cache_counters {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t blocks_read = 0;    // every read request, hit or miss
  int64_t last_reset_time = 0; // caller's clock (microseconds)
};

class block_cache {
 public:
  explicit block_cache(uint64_t capacity_bytes);

  size_t capacity_blocks() const { return slots_.size(); }

  // Write-through: copies appended bytes at `position` into their blocks.
  // Appends are sequential; a block is cached from its first byte on.
  void write_through(uint64_t position, std::string_view data);

  // The first `need` bytes of block `block` if cached, counting a hit or a
  // miss for `reader`. The view is valid until the next write or insert.
  std::string_view read(uint64_t block, size_t need, size_t reader);

  // Caches a block read from disk after a miss (`bytes` from its start).
  void insert(uint64_t block, std::string_view bytes);
  // Whether `block` is cached; counts nothing. A reader inserting a block
  // read from disk checks it first: write-through may have added the block,
  // with more bytes, while the read ran.
  bool contains(uint64_t block) const { return index_.count(block) != 0; }

  // Readers are numbered 0..n-1 by the owner (a slot index).
  const cache_counters& counters(size_t reader);
  void reset_counters(size_t reader, int64_t now);

 private:
  struct slot {
    uint64_t block = UINT64_MAX; // UINT64_MAX: free
    uint32_t valid = 0;          // bytes valid from the block's start
    bool referenced = false;     // CLOCK bit
  };
  size_t take_slot(uint64_t block); // evicts with CLOCK
  cache_counters& reader(size_t r);

  std::vector<char> data_;
  std::vector<slot> slots_;
  std::unordered_map<uint64_t, size_t> index_; // block -> slot
  size_t hand_ = 0;
  std::vector<cache_counters> readers_;
};

} // namespace walmux::storage
