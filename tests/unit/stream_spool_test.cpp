// stream_spool_test.cpp: streamed transactions are kept in files until
// their commit (replayed in order) or abort (dropped, whole or from a
// subtransaction on), and a worker's leftovers are removed.
#include "actors/apply/stream_spool.hpp"
#include "tests/support/process.hpp"

#include <filesystem>

#include <gtest/gtest.h>

namespace walmux::actors::apply {
namespace {

std::vector<std::string> replayed(stream_spool& s, uint32_t xid) {
  std::vector<std::string> out;
  auto st = s.replay(xid, [&](std::string_view m) -> status {
    out.emplace_back(m);
    return ok();
  });
  EXPECT_TRUE(st) << st.err().message;
  return out;
}

size_t files_in(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator(dir, ec))
    ++n;
  return n;
}

TEST(stream_spool, blocks_of_two_transactions_replay_in_order_at_commit) {
  testing::temp_dir dir;
  const std::string spool = dir.path() + "/stream_spool";
  stream_spool s(spool, "sub1");
  ASSERT_TRUE(s.begin_block(700, true));
  ASSERT_TRUE(s.append(700, "a1"));
  ASSERT_TRUE(s.append(700, std::string(100000, 'x')));
  ASSERT_TRUE(s.end_block());
  ASSERT_TRUE(s.begin_block(701, true));
  ASSERT_TRUE(s.append(701, "b1"));
  ASSERT_TRUE(s.end_block());
  ASSERT_TRUE(s.begin_block(700, false));
  ASSERT_TRUE(s.append(700, ""));
  ASSERT_TRUE(s.append(700, "a3"));
  ASSERT_TRUE(s.end_block());
  EXPECT_EQ(s.transactions(), 2u);
  EXPECT_EQ(files_in(spool), 2u);
  EXPECT_EQ(replayed(s, 700), (std::vector<std::string>{
                                  "a1", std::string(100000, 'x'), "", "a3"}));
  EXPECT_EQ(s.transactions(), 1u);
  EXPECT_EQ(files_in(spool), 1u);
  EXPECT_EQ(replayed(s, 701), (std::vector<std::string>{"b1"}));
  EXPECT_EQ(files_in(spool), 0u);
  // A commit of a transaction that streamed nothing here replays nothing.
  EXPECT_TRUE(replayed(s, 999).empty());
}

TEST(stream_spool, an_aborted_subtransaction_drops_its_changes_and_later_ones) {
  testing::temp_dir dir;
  stream_spool s(dir.path(), "sub1");
  ASSERT_TRUE(s.begin_block(800, true));
  ASSERT_TRUE(s.append(800, "top1"));
  ASSERT_TRUE(s.append(801, "sub801-1")); // SAVEPOINT a
  ASSERT_TRUE(s.append(802, "sub802-1")); // SAVEPOINT b inside a
  ASSERT_TRUE(s.end_block());
  ASSERT_TRUE(s.begin_block(800, false));
  ASSERT_TRUE(s.append(802, "sub802-2"));
  ASSERT_TRUE(s.end_block());
  // ROLLBACK TO b: 802's changes go.
  ASSERT_TRUE(s.abort(800, 802));
  ASSERT_TRUE(s.begin_block(800, false));
  ASSERT_TRUE(s.append(803, "sub803-1"));
  ASSERT_TRUE(s.end_block());
  // Aborting a subtransaction that changed nothing changes nothing.
  ASSERT_TRUE(s.abort(800, 899));
  EXPECT_EQ(replayed(s, 800),
            (std::vector<std::string>{"top1", "sub801-1", "sub803-1"}));

  // ROLLBACK TO a drops a and everything after it; ROLLBACK drops all.
  ASSERT_TRUE(s.begin_block(900, true));
  ASSERT_TRUE(s.append(900, "t"));
  ASSERT_TRUE(s.append(901, "a"));
  ASSERT_TRUE(s.append(902, "b"));
  ASSERT_TRUE(s.end_block());
  ASSERT_TRUE(s.abort(900, 901));
  ASSERT_TRUE(s.begin_block(900, false));
  ASSERT_TRUE(s.append(900, "t2"));
  ASSERT_TRUE(s.end_block());
  EXPECT_EQ(replayed(s, 900), (std::vector<std::string>{"t", "t2"}));
  ASSERT_TRUE(s.begin_block(950, true));
  ASSERT_TRUE(s.append(950, "gone"));
  ASSERT_TRUE(s.end_block());
  ASSERT_TRUE(s.abort(950, 950));
  EXPECT_EQ(s.transactions(), 0u);
  EXPECT_EQ(files_in(dir.path()), 0u);
}

TEST(stream_spool, protocol_errors_and_leftovers) {
  testing::temp_dir dir;
  {
    stream_spool s(dir.path(), "sub2");
    EXPECT_FALSE(s.append(1, "outside a block"));
    ASSERT_TRUE(s.begin_block(10, true));
    auto nested = s.begin_block(11, true);
    ASSERT_FALSE(nested);
    EXPECT_EQ(nested.err().message, "duplicate STREAM START message");
    EXPECT_FALSE(s.replay(10, [](std::string_view) { return status(ok()); }));
    // A worker restarting mid-block starts over.
    ASSERT_TRUE(s.remove_all());
    ASSERT_TRUE(s.begin_block(10, true));
    ASSERT_TRUE(s.append(10, "kept"));
    ASSERT_TRUE(s.end_block());
    // Another subscription's spool is not touched by this one's cleanup.
    stream_spool other(dir.path(), "sub3");
    ASSERT_TRUE(other.begin_block(10, true));
    ASSERT_TRUE(other.append(10, "other"));
    ASSERT_TRUE(other.end_block());
    ASSERT_TRUE(s.remove_all());
    EXPECT_EQ(files_in(dir.path()), 1u);
    EXPECT_EQ(replayed(other, 10), (std::vector<std::string>{"other"}));
  }
  // The destructor removes what is left.
  {
    stream_spool s(dir.path(), "sub2");
    ASSERT_TRUE(s.begin_block(20, true));
    ASSERT_TRUE(s.append(20, "left"));
  }
  EXPECT_EQ(files_in(dir.path()), 0u);
}

} // namespace
} // namespace walmux::actors::apply
