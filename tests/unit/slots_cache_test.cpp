// slots_cache_test.cpp: the slot manager's contracts (PostgreSQL's texts,
// one user per slot, temporary slots, progress persisted and reloaded) and
// the write-through cache's counting in front of a real WAL store.
#include "actors/slots/slot_manager.hpp"
#include "actors/source/store_writer.hpp"
#include "actors/wal_cache/wal_cache.hpp"
#include "storage/catalog.hpp"
#include "storage/wal_reader.hpp"
#include "tests/support/process.hpp"

#include <gtest/gtest.h>

namespace walmux::actors {
namespace {

storage::slot_record slot(const std::string& name, bool temporary = false) {
  storage::slot_record s;
  s.name = name;
  s.plugin = "pgoutput";
  s.database = "postgres";
  s.temporary = temporary;
  s.confirmed_flush = lsn{100};
  return s;
}

TEST(slot_manager, limits_activity_and_persistence) {
  testing::temp_dir tmp;
  const std::string path = tmp.path() + "/catalog";
  {
    auto cat = storage::catalog::create(path);
    ASSERT_TRUE(cat);
    slot_manager slots(**cat, 2);
    ASSERT_TRUE(slots.load());
    ASSERT_TRUE(slots.create(slot("a"), 1));
    auto dup = slots.create(slot("a"), 1);
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.err().code, "42710");
    auto bad = slots.create(slot("Bad-Name"), 1);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.err().code, "42602");
    ASSERT_TRUE(slots.create(slot("tmp", true), 7));
    auto full = slots.create(slot("c"), 1);
    ASSERT_FALSE(full);
    EXPECT_EQ(full.err().message, "all replication slots are in use");

    ASSERT_TRUE(slots.acquire("a", 5));
    auto busy = slots.acquire("a", 6);
    ASSERT_FALSE(busy);
    EXPECT_EQ(busy.err().code, "55006");
    EXPECT_EQ(busy.err().message, "replication slot \"a\" is active for PID 5");
    auto drop_busy = slots.drop("a", false, 6);
    ASSERT_FALSE(drop_busy);
    EXPECT_EQ(drop_busy.err().code, "55006");
    auto missing = slots.acquire("zz", 5);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.err().message, "replication slot \"zz\" does not exist");

    slots.confirm("a", lsn{500});
    slots.confirm("a", lsn{400}); // never backwards
    slots.release("a", 5);
    ASSERT_TRUE(slots.acquire("a", 6));
    slots.release_session(7); // the temporary slot's session ends
    EXPECT_FALSE(slots.get("tmp"));
    ASSERT_TRUE(slots.persist(true));
  }
  auto cat = storage::catalog::open(path);
  ASSERT_TRUE(cat);
  slot_manager again(**cat, 2);
  ASSERT_TRUE(again.load());
  auto a = again.get("a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->record.confirmed_flush, lsn{500});
  EXPECT_EQ(a->active_pid, 0);
  EXPECT_EQ(again.list().size(), 1u);
  ASSERT_TRUE(again.drop("a", false, 1));
  EXPECT_FALSE(again.get("a"));
}

TEST(wal_cache, counts_hits_after_write_through_and_misses_from_disk) {
  testing::temp_dir tmp;
  wal_cache* hook = nullptr;
  storage::wal_store::options opts;
  opts.dir = tmp.path();
  opts.segment_size = 1 << 20;
  opts.on_write = [&hook](uint64_t at, std::string_view b) {
    if (hook)
      hook->write_through(at, b);
  };
  auto store = storage::wal_store::open(opts);
  ASSERT_TRUE(store);
  wal_cache cache(**store, 32 * 1024); // 4 blocks
  hook = &cache;
  // 10 transactions of about 8kB each: more than the cache holds.
  std::vector<storage::stored_message> msgs{{lsn{1}, std::string(8000, 'x')}};
  for (uint64_t i = 1; i <= 10; ++i) {
    storage::commit_record c;
    c.commit_lsn = lsn{i * 100};
    c.end_lsn = lsn{i * 100 + 8};
    ASSERT_TRUE((*store)->append(c, msgs));
  }
  ASSERT_TRUE((*store)->sync());
  auto reader_source = cache.reader_for("late");
  storage::wal_reader reader(**store, 0, 64 << 10, &reader_source);
  storage::transaction_view txn;
  int n = 0;
  while (true) {
    auto more = reader.next_view(txn);
    ASSERT_TRUE(more);
    if (!*more)
      break;
    ASSERT_EQ(txn.messages.size(), 1u);
    EXPECT_EQ(txn.messages[0].bytes, msgs[0].bytes);
    ++n;
  }
  EXPECT_EQ(n, 10);
  auto counters = cache.counters();
  ASSERT_EQ(counters.size(), 1u);
  const auto& c = counters[0].counters;
  EXPECT_GT(c.misses, 0u); // the early blocks were evicted
  EXPECT_GT(c.hits, 0u);   // the newest blocks were written through
  EXPECT_GE(c.blocks_read, c.hits + c.misses);
  EXPECT_TRUE(cache.reset(std::string("late")));
  EXPECT_EQ(cache.counters()[0].counters.blocks_read, 0u);
  EXPECT_FALSE(cache.reset(std::string("nope")));
}

} // namespace
} // namespace walmux::actors

namespace walmux::actors {
namespace {

TEST(store_writer, stores_in_order_and_publishes_marks_once_durable) {
  testing::temp_dir tmp;
  storage::wal_store::options opts;
  opts.dir = tmp.path();
  opts.segment_size = 1 << 20;
  auto store = storage::wal_store::open(opts);
  ASSERT_TRUE(store);
  upstream_state state;
  {
    store_writer writer(**store, state, 4096); // small: push must wait
    for (uint64_t i = 1; i <= 50; ++i) {
      storage::commit_record c;
      c.commit_lsn = lsn{i * 100};
      c.end_lsn = lsn{i * 100 + 8};
      ASSERT_TRUE(writer.push(
          c, {{lsn{i * 100 - 50}, std::string(1000, static_cast<char>(i))}}));
      if (i == 25)
        writer.mark(lsn{2550}); // a keepalive between two transactions
    }
    ASSERT_TRUE(writer.drain(std::chrono::seconds(30)));
    // Everything durable: the newest end LSN (5008) beats the mark.
    EXPECT_EQ(state.confirmed.load(), 5008u);
    EXPECT_EQ((*store)->durable_position(), (*store)->written_position());
    writer.mark(lsn{9000});
  } // the destructor writes what is queued
  EXPECT_EQ(state.confirmed.load(), 9000u);
  storage::wal_reader reader(**store, 0);
  storage::transaction_view txn;
  uint64_t expect = 1;
  while (true) {
    auto more = reader.next_view(txn);
    ASSERT_TRUE(more);
    if (!*more)
      break;
    EXPECT_EQ(txn.commit.commit_lsn, lsn{expect * 100});
    EXPECT_EQ(txn.messages.at(0).bytes[0], static_cast<char>(expect));
    ++expect;
  }
  EXPECT_EQ(expect, 51u);
}

} // namespace
} // namespace walmux::actors
