// block_cache.cpp: see block_cache.hpp.
#include "storage/block_cache.hpp"

#include <algorithm>
#include <cstring>

namespace walmux::storage {

block_cache::block_cache(uint64_t capacity_bytes) {
  // Aurora: any positive value under 32kB counts as 32kB.
  size_t blocks = std::max<size_t>(4, capacity_bytes / cache_block_size);
  data_.resize(blocks * cache_block_size);
  slots_.resize(blocks);
  index_.reserve(blocks * 2);
}

size_t block_cache::take_slot(uint64_t block) {
  while (true) {
    slot& s = slots_[hand_];
    size_t chosen = hand_;
    hand_ = (hand_ + 1) % slots_.size();
    if (s.block != UINT64_MAX && s.referenced) {
      s.referenced = false; // second chance
      continue;
    }
    if (s.block != UINT64_MAX)
      index_.erase(s.block);
    s.block = block;
    s.valid = 0;
    s.referenced = true;
    index_[block] = chosen;
    return chosen;
  }
}

void block_cache::write_through(uint64_t position, std::string_view data) {
  while (!data.empty()) {
    const uint64_t block = position / cache_block_size;
    const auto offset = static_cast<uint32_t>(position % cache_block_size);
    const size_t take =
        std::min<size_t>(data.size(), cache_block_size - offset);
    auto it = index_.find(block);
    size_t idx;
    if (it != index_.end()) {
      idx = it->second;
    } else if (offset == 0) {
      idx = take_slot(block);
    } else {
      // The block's start is not here: it cannot be cached whole.
      position += take;
      data.remove_prefix(take);
      continue;
    }
    slot& s = slots_[idx];
    if (s.valid == offset) {
      std::memcpy(&data_[idx * cache_block_size + offset], data.data(), take);
      s.valid = offset + static_cast<uint32_t>(take);
    }
    position += take;
    data.remove_prefix(take);
  }
}

std::string_view block_cache::read(uint64_t block, size_t need, size_t r) {
  cache_counters& c = reader(r);
  ++c.blocks_read;
  auto it = index_.find(block);
  if (it == index_.end() || slots_[it->second].valid < need) {
    ++c.misses;
    return {};
  }
  slot& s = slots_[it->second];
  s.referenced = true;
  ++c.hits;
  return std::string_view(&data_[it->second * cache_block_size], s.valid);
}

void block_cache::insert(uint64_t block, std::string_view bytes) {
  auto it = index_.find(block);
  size_t idx = it != index_.end() ? it->second : take_slot(block);
  size_t n = std::min<size_t>(bytes.size(), cache_block_size);
  std::memcpy(&data_[idx * cache_block_size], bytes.data(), n);
  slots_[idx].valid = static_cast<uint32_t>(n);
}

cache_counters& block_cache::reader(size_t r) {
  if (r >= readers_.size())
    readers_.resize(r + 1); // grows with the number of slots, not per read
  return readers_[r];
}

const cache_counters& block_cache::counters(size_t r) {
  return reader(r);
}

void block_cache::reset_counters(size_t r, int64_t now) {
  reader(r) = cache_counters{0, 0, 0, now};
}

} // namespace walmux::storage
