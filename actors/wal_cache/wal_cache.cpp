// wal_cache.cpp: the write-through cache and its miss path (wal_cache.hpp).
#include "actors/wal_cache/wal_cache.hpp"

#include "actors/common/clock.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace walmux::actors {

using storage::cache_block_size;

wal_cache::wal_cache(const storage::wal_store& store, uint64_t capacity_bytes)
    : store_(store)
    , cache_(capacity_bytes) {}

void wal_cache::write_through(uint64_t position, std::string_view bytes) {
  std::lock_guard g(mu_);
  cache_.write_through(position, bytes);
}

size_t wal_cache::reader_index(const std::string& slot) {
  std::lock_guard g(mu_);
  auto it = readers_.find(slot);
  if (it != readers_.end())
    return it->second;
  size_t index = readers_.size();
  if (!free_readers_.empty()) {
    index = free_readers_.back();
    free_readers_.pop_back();
  }
  readers_.emplace(slot, index);
  cache_.reset_counters(index, unix_micros_now());
  return index;
}

wal_cache::reader_source wal_cache::reader_for(const std::string& slot) {
  return reader_source(*this, reader_index(slot));
}

void wal_cache::forget(const std::string& slot) {
  std::lock_guard g(mu_);
  auto it = readers_.find(slot);
  if (it == readers_.end())
    return;
  free_readers_.push_back(it->second);
  readers_.erase(it);
}

std::vector<wal_cache::slot_counters> wal_cache::counters() const {
  std::lock_guard g(mu_);
  std::vector<slot_counters> out;
  for (const auto& [slot, index] : readers_)
    out.push_back({slot, cache_.counters(index)});
  return out;
}

bool wal_cache::reset(const std::optional<std::string>& slot) {
  std::lock_guard g(mu_);
  const int64_t now = unix_micros_now();
  if (!slot) {
    for (const auto& [name, index] : readers_)
      cache_.reset_counters(index, now);
    return true;
  }
  auto it = readers_.find(*slot);
  if (it == readers_.end())
    return false;
  cache_.reset_counters(it->second, now);
  return true;
}

uint64_t wal_cache::capacity_bytes() const {
  std::lock_guard g(mu_);
  return cache_.capacity_blocks() * cache_block_size;
}

expected<size_t> wal_cache::read(size_t reader, uint64_t position, char* dst,
                                 size_t n) const {
  const uint64_t limit = store_.durable_position();
  if (position >= limit)
    return size_t{0};
  const uint64_t end = std::min<uint64_t>(limit, position + n);
  std::string disk;        // read-ahead from the segment files
  uint64_t disk_start = 0; // its position
  for (uint64_t block = position / cache_block_size;
       block * cache_block_size < end; ++block) {
    const uint64_t block_start = block * cache_block_size;
    const uint64_t from = std::max(position, block_start);
    const uint64_t to = std::min(end, block_start + cache_block_size);
    char* out = dst + (from - position);
    // Bytes of the block needed, from its start (the cache's unit).
    const size_t need = static_cast<size_t>(to - block_start);
    bool hit = false;
    {
      std::lock_guard g(mu_);
      auto cached = cache_.read(block, need, reader);
      if (cached.size() >= need) {
        std::memcpy(out, cached.data() + (from - block_start),
                    static_cast<size_t>(to - from));
        hit = true;
      }
    }
    if (hit)
      continue;
    if (disk.empty() || block_start + need > disk_start + disk.size()) {
      // storage_reader: one pread from this block to the request's end.
      disk_start = block_start;
      if (auto st = store_.read_at(disk_start,
                                   static_cast<size_t>(end - disk_start), disk);
          !st)
        return std::move(st).err();
      if (disk.size() < need)
        return error{sqlstate::io_error,
                     "could not read WAL store block at position " +
                         std::to_string(block_start)};
      std::lock_guard g(mu_);
      for (uint64_t at = 0; at < disk.size(); at += cache_block_size)
        if (!cache_.contains((disk_start + at) / cache_block_size))
          cache_.insert(
              (disk_start + at) / cache_block_size,
              std::string_view(disk).substr(
                  static_cast<size_t>(at),
                  std::min<size_t>(cache_block_size,
                                   disk.size() - static_cast<size_t>(at))));
    }
    std::memcpy(out, disk.data() + (from - disk_start),
                static_cast<size_t>(to - from));
  }
  return static_cast<size_t>(end - position);
}

} // namespace walmux::actors
