// block_cache_retention_test.cpp: the write-through block cache and its
// Aurora counters; retention planning with max_slot_wal_keep_size.
#include "storage/block_cache.hpp"
#include "storage/retention.hpp"

#include <gtest/gtest.h>

namespace walmux::storage {
namespace {

TEST(block_cache, write_through_then_hits_without_disk) {
  block_cache cache(64 * 1024); // 8 blocks
  EXPECT_EQ(cache.capacity_blocks(), 8u);
  std::string data(20000, 'x');
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>('a' + i % 26);
  cache.write_through(0, data.substr(0, 5000));
  cache.write_through(5000, data.substr(5000));
  auto b0 = cache.read(0, 8192, 0);
  ASSERT_EQ(b0.size(), 8192u);
  EXPECT_EQ(b0, std::string_view(data).substr(0, 8192));
  auto b2 = cache.read(2, 20000 - 16384, 0);
  EXPECT_EQ(b2, std::string_view(data).substr(16384));
  // The tail block is not full yet: asking for more than is there misses.
  EXPECT_TRUE(cache.read(2, 8192, 0).empty());
  const auto& c = cache.counters(0);
  EXPECT_EQ(c.hits, 2u);
  EXPECT_EQ(c.misses, 1u);
  EXPECT_EQ(c.blocks_read, 3u);
}

TEST(block_cache, misses_are_inserted_and_counted_per_reader) {
  block_cache cache(32 * 1024); // 4 blocks, the minimum
  EXPECT_TRUE(cache.read(100, 10, 1).empty());
  cache.insert(100, std::string(8192, 'z'));
  EXPECT_EQ(cache.read(100, 8192, 1).size(), 8192u);
  EXPECT_EQ(cache.counters(1).misses, 1u);
  EXPECT_EQ(cache.counters(1).hits, 1u);
  EXPECT_EQ(cache.counters(0).blocks_read, 0u); // another reader
  cache.reset_counters(1, 12345);
  EXPECT_EQ(cache.counters(1).hits, 0u);
  EXPECT_EQ(cache.counters(1).last_reset_time, 12345);
}

TEST(block_cache, clock_eviction_keeps_the_capacity_and_recent_blocks) {
  block_cache cache(10); // under 32kB counts as 32kB: 4 blocks
  EXPECT_EQ(cache.capacity_blocks(), 4u);
  for (uint64_t b = 0; b < 4; ++b)
    cache.insert(b, std::string(8192, static_cast<char>('0' + b)));
  // Touch block 0 and 1 so they get a second chance.
  cache.read(0, 1, 0);
  cache.read(1, 1, 0);
  cache.insert(10, std::string(8192, 'n'));
  cache.insert(11, std::string(8192, 'm'));
  int cached = 0;
  for (uint64_t b : {0, 1, 2, 3, 10, 11})
    cached += !cache.read(b, 1, 5).empty();
  EXPECT_EQ(cached, 4);
  EXPECT_FALSE(cache.read(10, 1, 5).empty());
  EXPECT_FALSE(cache.read(11, 1, 5).empty());
}

TEST(block_cache, writes_not_starting_a_block_are_not_cached) {
  block_cache cache(64 * 1024);
  cache.write_through(100, "mid-block");
  EXPECT_TRUE(cache.read(0, 1, 0).empty());
  cache.write_through(8192, "next block");
  EXPECT_EQ(cache.read(1, 10, 0), "next block");
}

TEST(retention, unlimited_keeps_what_the_oldest_slot_needs) {
  std::vector<slot_retention> slots = {{"a", 5000, false}, {"b", 9000, false}};
  auto plan = plan_retention(slots, 0, 100000, -1);
  EXPECT_EQ(plan.remove_before, 5000u);
  EXPECT_TRUE(plan.invalidate.empty());
  EXPECT_EQ(wal_status(slots[0], 100000, -1), "reserved");
  EXPECT_FALSE(safe_wal_size(slots[0], 100000, -1).has_value());
  // No slots: nothing is needed.
  EXPECT_EQ(plan_retention({}, 0, 100000, -1).remove_before, 100000u);
}

TEST(retention, slots_beyond_max_slot_wal_keep_size_are_invalidated) {
  const uint64_t mb = 1 << 20;
  std::vector<slot_retention> slots = {{"lagging", 1 * mb, false},
                                       {"current", 95 * mb, false},
                                       {"dead", 0, true}};
  auto plan = plan_retention(slots, 0, 100 * mb, 10); // keep 10MB
  EXPECT_EQ(plan.invalidate, std::vector<std::string>{"lagging"});
  EXPECT_EQ(plan.remove_before, 95 * mb);
  EXPECT_EQ(wal_status(slots[0], 100 * mb, 10), "unreserved");
  EXPECT_EQ(wal_status(slots[1], 100 * mb, 10), "reserved");
  EXPECT_EQ(wal_status(slots[2], 100 * mb, 10), "lost");
  EXPECT_EQ(*safe_wal_size(slots[1], 100 * mb, 10),
            static_cast<int64_t>(5 * mb));
  EXPECT_LT(*safe_wal_size(slots[0], 100 * mb, 10), 0);
  // Never before the store's start.
  EXPECT_EQ(plan_retention(slots, 97 * mb, 100 * mb, 10).remove_before,
            97 * mb);
}

} // namespace
} // namespace walmux::storage
