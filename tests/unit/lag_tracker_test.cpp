// lag_tracker_test.cpp: pg_stat_replication's lag columns as PostgreSQL's
// LagTracker measures them: from sending a position to the client's report.
#include "actors/walsender/lag_tracker.hpp"

#include <gtest/gtest.h>

namespace walmux::actors {
namespace {

TEST(lag_tracker, each_report_measures_from_the_newest_sample_it_covers) {
  lag_tracker t;
  EXPECT_EQ(t.lag_us(lag_tracker::flush_lag), -1);
  t.sent(lsn(100), 1'000);
  t.sent(lsn(200), 2'000);
  t.sent(lsn(300), 3'000);
  // Written up to 250 (covers 100 and 200), flushed up to 100, nothing
  // applied yet.
  t.replied(lsn(250), lsn(100), lsn(0), 5'000);
  EXPECT_EQ(t.lag_us(lag_tracker::write_lag), 3'000);
  EXPECT_EQ(t.lag_us(lag_tracker::flush_lag), 4'000);
  EXPECT_EQ(t.lag_us(lag_tracker::replay_lag), -1);
  // Everything: each lag from the 300 sample.
  t.replied(lsn(300), lsn(300), lsn(300), 3'500 + 3'000);
  EXPECT_EQ(t.lag_us(lag_tracker::write_lag), 3'500);
  EXPECT_EQ(t.lag_us(lag_tracker::flush_lag), 3'500);
  EXPECT_EQ(t.lag_us(lag_tracker::replay_lag), 3'500);
  // No new sample: the last measurement stays.
  t.replied(lsn(300), lsn(300), lsn(300), 99'000);
  EXPECT_EQ(t.lag_us(lag_tracker::flush_lag), 3'500);
}

TEST(lag_tracker, samples_are_bounded) {
  lag_tracker t;
  for (uint64_t i = 1; i <= 3 * lag_tracker::capacity; ++i)
    t.sent(lsn(i), static_cast<int64_t>(i));
  const auto last = static_cast<int64_t>(3 * lag_tracker::capacity);
  t.replied(lsn(3 * lag_tracker::capacity), lsn(3 * lag_tracker::capacity),
            lsn(3 * lag_tracker::capacity), last + 10);
  EXPECT_EQ(t.lag_us(lag_tracker::replay_lag), 10);
}

} // namespace
} // namespace walmux::actors
