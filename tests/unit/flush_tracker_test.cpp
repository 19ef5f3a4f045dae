// flush_tracker_test.cpp: the apply confirms to the publisher only the
// upstream progress of target commits the target has flushed.
#include "actors/apply/flush_tracker.hpp"

#include <gtest/gtest.h>

namespace walmux::actors::apply {
namespace {

TEST(flush_tracker, confirms_only_commits_the_target_flushed) {
  flush_tracker t(lsn(100));
  EXPECT_EQ(t.confirmed(), lsn(100));
  EXPECT_FALSE(t.waiting());
  t.committed(lsn(5000), lsn(200)); // commit 1 ends before target LSN 5000
  t.committed(lsn(6000), lsn(300));
  t.committed(lsn(7000), lsn(400));
  EXPECT_TRUE(t.waiting());
  t.flushed(lsn(4999));
  EXPECT_EQ(t.confirmed(), lsn(100)); // nothing durable yet
  t.flushed(lsn(6500));
  EXPECT_EQ(t.confirmed(), lsn(300)); // commits 1 and 2
  t.flushed(lsn(6500));
  EXPECT_EQ(t.confirmed(), lsn(300));
  t.flushed(lsn(7000));
  EXPECT_EQ(t.confirmed(), lsn(400));
  EXPECT_FALSE(t.waiting());
  // A flush report older than what was confirmed changes nothing.
  t.committed(lsn(8000), lsn(500));
  t.flushed(lsn(1000));
  EXPECT_EQ(t.confirmed(), lsn(400));
}

} // namespace
} // namespace walmux::actors::apply
