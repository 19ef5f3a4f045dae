// wal_store_test.cpp: the segment WAL store: round trips across segment
// boundaries, the sparse LSN index and the segment summaries that spare
// recovery a full scan, recovery from torn tails and incomplete
// transactions, refusal of corruption in the middle, injected disk faults
// (ENOSPC, EIO on fsync, lost unsynced data), retention, back-pressure.
#include "storage/fault_env.hpp"
#include "storage/wal_reader.hpp"
#include "tests/support/process.hpp"

#include <atomic>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

namespace walmux::storage {
namespace {

constexpr uint64_t small_segment = 16384; // records span segments often

// Transaction n: n % 5 messages of deterministic content; commit LSN 100*n.
std::vector<stored_message> messages_for(uint64_t n) {
  std::vector<stored_message> out;
  for (uint64_t k = 0; k < n % 5; ++k)
    out.push_back({lsn(100 * n + k),
                   std::string(static_cast<size_t>((n * 37 + k * 911) % 6000),
                               static_cast<char>('a' + (n + k) % 26))});
  return out;
}
commit_record commit_for(uint64_t n) {
  commit_record c;
  c.xid = static_cast<uint32_t>(1000 + n);
  c.commit_lsn = lsn(100 * n + 50);
  c.end_lsn = lsn(100 * n + 60);
  c.commit_time = static_cast<int64_t>(n) * 1000;
  return c;
}

void expect_transaction(const stored_transaction& t, uint64_t n) {
  EXPECT_EQ(t.commit.xid, 1000 + n);
  EXPECT_EQ(t.commit.commit_lsn, lsn(100 * n + 50));
  EXPECT_EQ(t.commit.end_lsn, lsn(100 * n + 60));
  auto want = messages_for(n);
  ASSERT_EQ(t.messages.size(), want.size()) << "txn " << n;
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(t.messages[k].data_start, want[k].data_start);
    EXPECT_EQ(t.messages[k].bytes, want[k].bytes);
  }
}

class wal_store_test : public ::testing::Test {
 protected:
  std::unique_ptr<wal_store> open_store(env* e = nullptr,
                                        size_t max_buffer = 64 << 20) {
    wal_store::options o;
    o.dir = dir_.path() + "/wal";
    o.segment_size = small_segment;
    o.file_env = e;
    o.max_buffer = max_buffer;
    o.index_spacing = 4096;
    auto s = wal_store::open(o);
    EXPECT_TRUE(s) << s.err().message << " " << s.err().detail;
    return s ? std::move(*s) : nullptr;
  }
  void append_range(wal_store& s, uint64_t from, uint64_t to) {
    for (uint64_t n = from; n < to; ++n) {
      auto m = messages_for(n);
      ASSERT_TRUE(s.append(commit_for(n), m));
    }
  }
  // Transactions 0..count-1 in synced batches of 20, as ingest writes:
  // many syncs, and segment summaries along the way.
  void append_synced_in_batches(wal_store& s, uint64_t count) {
    for (uint64_t n = 0; n < count; n += 20) {
      append_range(s, n, n + 20);
      ASSERT_TRUE(s.sync());
    }
  }
  // Reads every transaction; checks they are from..to-1 in order.
  void expect_all(const wal_store& s, uint64_t from, uint64_t to) {
    wal_reader r(s, s.start_position());
    uint64_t n = from;
    while (true) {
      auto t = r.next();
      ASSERT_TRUE(t) << t.err().message << " " << t.err().detail;
      if (!*t)
        break;
      expect_transaction(**t, n);
      ++n;
    }
    EXPECT_EQ(n, to);
  }
  std::string segment_file(const wal_store& s, uint64_t seg) {
    return s.segment_path(seg);
  }
  // Removes the summaries of segments `from` on: the state of a crash
  // before they were written. Returns how many it removed.
  int remove_summaries(uint64_t from) {
    int removed = 0;
    for (const auto& e :
         std::filesystem::directory_iterator(dir_.path() + "/wal")) {
      const std::string name = e.path().filename().string();
      if (e.path().extension() == ".index" &&
          std::stoull(name.substr(0, 16), nullptr, 16) >= from) {
        std::filesystem::remove(e.path());
        ++removed;
      }
    }
    return removed;
  }
  static void flip_byte(const std::string& file, uint64_t offset) {
    int fd = ::open(file.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    char c = 0;
    ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(offset)), 1);
    c = static_cast<char>(c ^ 0x40);
    ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(offset)), 1);
    ::close(fd);
  }
  testing::temp_dir dir_;
};

TEST_F(wal_store_test, round_trip_across_segments_and_reopen) {
  {
    auto s = open_store();
    ASSERT_TRUE(s);
    append_range(*s, 0, 300);
    EXPECT_EQ(s->durable_position(), 0u);
    EXPECT_GT(s->written_position(), 3 * small_segment);
    ASSERT_TRUE(s->sync());
    EXPECT_EQ(s->durable_position(), s->written_position());
    expect_all(*s, 0, 300);
  }
  auto s = open_store();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->recovery().transactions, 300u);
  EXPECT_EQ(s->recovery().cut_bytes, 0u);
  expect_all(*s, 0, 300);
  append_range(*s, 300, 320);
  ASSERT_TRUE(s->sync());
  expect_all(*s, 0, 320);
}

// A sync that ends exactly at a segment boundary leaves the full segment
// as the file being written; the next sync must start the next segment,
// not grow the full one past the segment size.
TEST_F(wal_store_test, a_sync_ending_at_a_segment_boundary_starts_the_next) {
  auto s = open_store();
  ASSERT_TRUE(s);
  uint64_t n = 0;
  auto append_sized = [&](size_t bytes) {
    commit_record c = commit_for(n);
    std::vector<stored_message> m{{lsn(100 * n), std::string(bytes, 'x')}};
    ++n;
    return s->append(c, m) && s->sync();
  };
  ASSERT_TRUE(append_sized(100));
  const uint64_t overhead = s->durable_position() - 100;
  uint64_t room = small_segment - s->durable_position() % small_segment;
  if (room <= overhead) {
    ASSERT_TRUE(append_sized(room)); // into the next segment
    room = small_segment - s->durable_position() % small_segment;
  }
  ASSERT_TRUE(append_sized(room - overhead));
  const uint64_t boundary = s->durable_position();
  ASSERT_EQ(boundary % small_segment, 0u);
  ASSERT_TRUE(append_sized(300));
  EXPECT_EQ(std::filesystem::file_size(
                segment_file(*s, boundary / small_segment - 1)),
            small_segment);
  EXPECT_EQ(
      std::filesystem::file_size(segment_file(*s, boundary / small_segment)),
      s->durable_position() - boundary);
  auto count = [](const wal_store& st) {
    wal_reader r(st, st.start_position());
    uint64_t k = 0;
    while (true) {
      auto t = r.next();
      EXPECT_TRUE(t) << t.err().message << " " << t.err().detail;
      if (!t || !*t)
        return k;
      EXPECT_EQ((*t)->commit.xid, 1000 + k);
      ++k;
    }
  };
  EXPECT_EQ(count(*s), n);
  s.reset();
  s = open_store();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->recovery().cut_bytes, 0u);
  EXPECT_EQ(count(*s), n);
}

TEST_F(wal_store_test, durable_position_only_grows_and_reader_stops_there) {
  auto s = open_store();
  append_range(*s, 0, 10);
  ASSERT_TRUE(s->sync());
  uint64_t d1 = s->durable_position();
  append_range(*s, 10, 20);
  EXPECT_EQ(s->durable_position(), d1); // buffered, not durable
  expect_all(*s, 0, 10);                // readers see durable data only
  ASSERT_TRUE(s->sync());
  EXPECT_GT(s->durable_position(), d1);
  expect_all(*s, 0, 20);
}

TEST_F(wal_store_test, sparse_index_never_overshoots) {
  auto s = open_store();
  append_range(*s, 0, 400);
  ASSERT_TRUE(s->sync());
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    uint64_t want = rng() % 400;
    lsn target(100 * want + 50 - (rng() % 2) * 30); // at or before commit
    wal_reader r(*s, s->scan_start_for(target));
    while (true) {
      auto t = r.next();
      ASSERT_TRUE(t && *t) << "target " << lsn_to_string(target);
      if ((*t)->commit.commit_lsn >= target) {
        EXPECT_EQ((*t)->commit.xid, 1000 + want);
        break;
      }
    }
  }
  EXPECT_EQ(s->scan_start_for(lsn(0)), s->start_position());
}

TEST_F(wal_store_test, reopen_scans_only_the_tail_after_the_segment_summaries) {
  std::vector<uint64_t> starts_before;
  auto target = [](uint64_t n) { return lsn(100 * n + 20); };
  {
    auto s = open_store();
    append_synced_in_batches(*s, 400);
    ASSERT_GT(s->durable_position(), 10 * small_segment);
    for (uint64_t n = 0; n < 400; n += 7)
      starts_before.push_back(s->scan_start_for(target(n)));
  }
  auto s = open_store();
  ASSERT_TRUE(s);
  // A transaction spans at most two segments here, so the last summarised
  // boundary is at most four segments before the end.
  EXPECT_GE(s->recovery().scan_start + 4 * small_segment,
            s->durable_position());
  EXPECT_EQ(s->recovery().transactions, 400u);
  EXPECT_EQ(s->last_commit_lsn(), commit_for(399).commit_lsn);
  // The sparse index came back from the summaries unchanged.
  for (uint64_t n = 0, i = 0; n < 400; n += 7, ++i)
    EXPECT_EQ(s->scan_start_for(target(n)), starts_before[i]) << n;
  expect_all(*s, 0, 400);
  append_range(*s, 400, 420);
  ASSERT_TRUE(s->sync());
  s.reset();
  s = open_store();
  EXPECT_EQ(s->recovery().transactions, 420u);
  expect_all(*s, 0, 420);
}

TEST_F(wal_store_test, a_damaged_summary_costs_a_longer_scan_and_is_rewritten) {
  std::string summary;
  {
    auto s = open_store();
    append_synced_in_batches(*s, 400);
    summary = segment_file(*s, 3) + ".index";
  }
  ASSERT_TRUE(testing::path_exists(summary));
  flip_byte(summary, 20);
  auto s = open_store();
  ASSERT_TRUE(s);
  EXPECT_LE(s->recovery().scan_start, 3 * small_segment); // from segment 2's
  EXPECT_EQ(s->recovery().transactions, 400u);
  EXPECT_EQ(s->recovery().cut_bytes, 0u);
  expect_all(*s, 0, 400);
  std::ifstream in(summary, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  auto again = wal_decode_segment_index(bytes, small_segment);
  ASSERT_TRUE(again) << again.err().message << " " << again.err().detail;
  EXPECT_EQ(again->segment, 3u);
}

TEST_F(wal_store_test, torn_tail_is_cut_and_appends_continue) {
  uint64_t durable = 0;
  {
    auto s = open_store();
    append_range(*s, 0, 50);
    ASSERT_TRUE(s->sync());
    durable = s->durable_position();
    // A record half written at the end of the last segment.
    std::string rec;
    wal_append_message(rec, lsn(1), std::string(3000, 'x'));
    auto f =
        posix_env()->open_writable(segment_file(*s, durable / small_segment));
    ASSERT_TRUE(f);
    ASSERT_TRUE((*f)->append(std::string_view(rec).substr(0, 1000)));
  }
  auto s = open_store();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->durable_position(), durable);
  EXPECT_EQ(s->recovery().cut_bytes, 1000u);
  EXPECT_FALSE(s->recovery().cut_reason.empty());
  expect_all(*s, 0, 50);
  append_range(*s, 50, 60);
  ASSERT_TRUE(s->sync());
  expect_all(*s, 0, 60);
}

TEST_F(wal_store_test, transaction_without_commit_record_is_cut) {
  uint64_t durable = 0;
  {
    auto s = open_store();
    append_range(*s, 0, 20);
    ASSERT_TRUE(s->sync());
    durable = s->durable_position();
    std::string rec;
    wal_append_message(rec, lsn(1), "complete message, missing commit");
    auto f =
        posix_env()->open_writable(segment_file(*s, durable / small_segment));
    ASSERT_TRUE((*f)->append(rec));
  }
  auto s = open_store();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->durable_position(), durable);
  EXPECT_EQ(s->recovery().cut_reason, "transaction without its commit record");
  expect_all(*s, 0, 20);
}

// A transaction written in parts, synced before its commit: readers wait
// for the commit (never deliver a part), then read it whole; parts voided
// by an abort record are skipped by readers and by recovery; parts left
// without a commit by a crash are cut.
TEST_F(wal_store_test, transactions_written_in_parts) {
  // Transaction 4's messages in two parts; transaction 7 abandoned after
  // one part, then sent again whole.
  auto part = [](uint64_t n, size_t from, size_t to) {
    auto all = messages_for(n);
    return std::vector<stored_message>(all.begin() + from, all.begin() + to);
  };
  uint64_t durable_parts = 0;
  {
    auto s = open_store();
    ASSERT_TRUE(s);
    append_range(*s, 1, 4);
    ASSERT_TRUE(s->append_part(part(4, 0, 2)));
    ASSERT_TRUE(s->sync());
    wal_reader reader(*s, s->start_position(), 4096, nullptr, 1000);
    for (uint64_t n = 1; n < 4; ++n) {
      auto t = reader.next();
      ASSERT_TRUE(t && *t);
      expect_transaction(**t, n);
    }
    transaction_view view;
    auto early = reader.next_view(view); // the part is durable, not complete
    ASSERT_TRUE(early);
    EXPECT_FALSE(*early);
    ASSERT_TRUE(s->append_part(part(4, 2, 3)));
    ASSERT_TRUE(s->sync());
    early = reader.next_view(view);
    ASSERT_TRUE(early);
    EXPECT_FALSE(*early);
    auto rest = part(4, 3, 4);
    ASSERT_TRUE(s->append(commit_for(4), rest));
    ASSERT_TRUE(s->append_part(part(7, 0, 1)));
    s->abandon_part();
    auto seven = messages_for(7);
    ASSERT_TRUE(s->append(commit_for(7), seven));
    ASSERT_TRUE(s->sync());
    auto four = reader.next();
    ASSERT_TRUE(four && *four) << (four ? "" : four.err().message);
    expect_transaction(**four, 4);
    auto again = reader.next();
    ASSERT_TRUE(again && *again);
    expect_transaction(**again, 7);
    // A crash after a part was synced: its records are durable, no commit.
    ASSERT_TRUE(s->append_part(part(9, 0, 3)));
    ASSERT_TRUE(s->sync());
    durable_parts = s->durable_position();
  }
  auto s = open_store();
  ASSERT_TRUE(s);
  EXPECT_LT(s->durable_position(), durable_parts);
  EXPECT_EQ(s->recovery().cut_reason, "transaction without its commit record");
  wal_reader reader(*s, s->start_position());
  for (uint64_t n : {1, 2, 3, 4, 7}) {
    auto t = reader.next();
    ASSERT_TRUE(t && *t) << n;
    expect_transaction(**t, n);
  }
  auto end = reader.next();
  ASSERT_TRUE(end);
  EXPECT_FALSE(*end);
  // Appends go on after the cut.
  auto nine = messages_for(9);
  ASSERT_TRUE(s->append(commit_for(9), nine));
  ASSERT_TRUE(s->sync());
  auto t = reader.next();
  ASSERT_TRUE(t && *t);
  expect_transaction(**t, 9);
}

TEST_F(wal_store_test, corruption_in_the_middle_is_an_error_naming_segment) {
  std::string victim;
  {
    // Synced in many batches, as ingest does: later commits prove that the
    // damaged bytes had been durable.
    auto s = open_store();
    append_synced_in_batches(*s, 400);
    ASSERT_GT(s->durable_position() / small_segment, 4u);
    victim = segment_file(*s, 1);
  }
  // Flip one byte in segment 1, far from the tail.
  flip_byte(victim, 5000);
  auto expect_names_victim = [&](const error& e) {
    EXPECT_EQ(e.code, "XX001");
    EXPECT_NE(e.message.find("invalid record in WAL segment \"" + victim +
                             "\" at offset "),
              std::string::npos)
        << e.message;
  };
  {
    // Segment 1 is summarised: recovery does not scan it, and the reader
    // that reaches the damage stops there with the error.
    auto s = open_store();
    ASSERT_TRUE(s);
    EXPECT_GT(s->recovery().scan_start, 2 * small_segment);
    wal_reader r(*s, s->start_position());
    while (true) {
      auto t = r.next();
      if (!t) {
        expect_names_victim(t.err());
        break;
      }
      ASSERT_TRUE(*t) << "the damage was read past";
    }
  }
  // Without the summaries recovery scans it, and refuses to open.
  EXPECT_GT(remove_summaries(0), 2);
  wal_store::options o;
  o.dir = dir_.path() + "/wal";
  o.segment_size = small_segment;
  auto s = wal_store::open(o);
  ASSERT_FALSE(s);
  expect_names_victim(s.err());
}

TEST_F(wal_store_test, damage_in_the_last_unsynced_batch_is_a_torn_tail) {
  uint64_t durable_before = 0;
  std::string victim;
  uint64_t victim_offset = 0;
  {
    auto s = open_store();
    append_range(*s, 0, 100);
    ASSERT_TRUE(s->sync());
    durable_before = s->durable_position();
    append_range(*s, 100, 200);
    ASSERT_TRUE(s->sync()); // one batch: a crash could tear any of it
    uint64_t p = durable_before + 2000;
    victim = segment_file(*s, p / small_segment);
    victim_offset = p % small_segment;
  }
  // A crash inside that sync comes before the summaries it would write.
  remove_summaries(durable_before / small_segment);
  flip_byte(victim, victim_offset);
  auto s = open_store();
  ASSERT_TRUE(s);
  EXPECT_GT(s->recovery().cut_bytes, 0u);
  EXPECT_GE(s->durable_position(), durable_before);
  // Everything of the earlier batches is intact.
  wal_reader r(*s, s->start_position());
  for (uint64_t n = 0; n < 100; ++n) {
    auto t = r.next();
    ASSERT_TRUE(t && *t);
    expect_transaction(**t, n);
  }
}

TEST_F(wal_store_test, disk_full_is_an_error_and_the_store_continues) {
  fault_env faults(posix_env());
  auto s = open_store(&faults);
  append_range(*s, 0, 30);
  ASSERT_TRUE(s->sync());
  uint64_t durable = s->durable_position();
  append_range(*s, 30, 60);
  faults.space_left = 5000; // room for part of the batch only
  auto st = s->sync();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().code, "53100");
  EXPECT_NE(st.err().message.find("No space left on device"),
            std::string::npos);
  EXPECT_EQ(s->durable_position(), durable);
  expect_all(*s, 0, 30);
  faults.space_left.reset(); // space freed
  ASSERT_TRUE(s->sync());
  expect_all(*s, 0, 60);
  s.reset();
  auto again = open_store();
  EXPECT_EQ(again->recovery().cut_bytes, 0u);
  expect_all(*again, 0, 60);
}

TEST_F(wal_store_test, fsync_error_stops_the_store_and_recovery_keeps_durable) {
  fault_env faults(posix_env());
  auto s = open_store(&faults);
  append_range(*s, 0, 40);
  ASSERT_TRUE(s->sync());
  append_range(*s, 40, 80);
  faults.fail_sync = true;
  auto st = s->sync();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err().code, "58030");
  EXPECT_FALSE(s->append(commit_for(80), messages_for(80)));
  s.reset();
  // The power goes: what was written but never synced is lost.
  ASSERT_TRUE(faults.drop_unsynced());
  auto again = open_store();
  ASSERT_TRUE(again);
  expect_all(*again, 0, 40);
}

TEST_F(wal_store_test, retention_removes_whole_segments_and_survives_reopen) {
  uint64_t keep_from = 0;
  {
    auto s = open_store();
    append_range(*s, 0, 300);
    ASSERT_TRUE(s->sync());
    // Find the start of transaction 200.
    wal_reader r(*s, s->start_position());
    for (int i = 0; i < 200; ++i)
      ASSERT_TRUE(r.next());
    keep_from = r.position();
    ASSERT_TRUE(testing::path_exists(segment_file(*s, 0) + ".index"));
    ASSERT_TRUE(s->remove_before(keep_from));
    EXPECT_FALSE(testing::path_exists(segment_file(*s, 0)));
    EXPECT_FALSE(testing::path_exists(segment_file(*s, 0) + ".index"));
    EXPECT_TRUE(
        testing::path_exists(segment_file(*s, keep_from / small_segment)));
    expect_all(*s, 200, 300);
  }
  auto s = open_store();
  EXPECT_EQ(s->start_position(), keep_from);
  expect_all(*s, 200, 300);
}

TEST_F(wal_store_test, full_buffer_refuses_instead_of_growing) {
  auto s = open_store(nullptr, 20000);
  int accepted = 0;
  while (s->append(commit_for(accepted), messages_for(accepted)))
    ++accepted;
  auto refused = s->append(commit_for(accepted), messages_for(accepted));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.err().code, "53400");
  ASSERT_TRUE(s->sync());
  EXPECT_TRUE(s->append(commit_for(accepted), messages_for(accepted)));
}

TEST_F(wal_store_test, commit_lsns_may_not_go_backwards) {
  auto s = open_store();
  ASSERT_TRUE(s->append(commit_for(5), messages_for(5)));
  EXPECT_FALSE(s->append(commit_for(4), messages_for(4)));
}

} // namespace
} // namespace walmux::storage

namespace walmux::storage {
namespace {

// Counts the bytes a reader asks its source for.
class counting_source : public byte_source {
 public:
  explicit counting_source(const wal_store& s)
      : store_(s) {}
  expected<size_t> read(uint64_t position, char* dst, size_t n) const override {
    auto got = store_.read(position, dst, n);
    if (got)
      bytes_ += *got;
    return got;
  }
  // Written by the reader's background thread.
  mutable std::atomic<uint64_t> bytes_{0};

 private:
  const wal_store& store_;
};

TEST_F(wal_store_test, a_long_transaction_is_read_once_not_at_every_refill) {
  auto s = open_store();
  ASSERT_TRUE(s);
  // One transaction of 4,000 messages of 1kB (4MB), read with 64kB refills:
  // re-reading it from its start at every refill would cost ~128MB.
  std::vector<stored_message> big;
  for (uint64_t k = 0; k < 4000; ++k)
    big.push_back({lsn(1000 + k), std::string(1000, static_cast<char>(k))});
  commit_record c;
  c.commit_lsn = lsn(100000);
  c.end_lsn = lsn(100008);
  ASSERT_TRUE(s->append(c, big));
  ASSERT_TRUE(s->sync());
  counting_source source(*s);
  wal_reader reader(*s, s->start_position(), 64 << 10, &source);
  transaction_view txn;
  auto more = reader.next_view(txn);
  ASSERT_TRUE(more) << more.err().message;
  ASSERT_TRUE(*more);
  ASSERT_EQ(txn.messages.size(), 4000u);
  EXPECT_EQ(txn.messages[3999].bytes, big[3999].bytes);
  EXPECT_LT(source.bytes_.load(), 2 * s->durable_position());
}

// A transaction larger than the reader's piece size comes in pieces of
// about that size, after its commit is found, with the commit known from
// the first piece; the reader never holds it whole.
TEST_F(wal_store_test, a_large_transaction_is_read_in_pieces) {
  auto s = open_store();
  ASSERT_TRUE(s);
  append_range(*s, 1, 4);
  std::vector<stored_message> big;
  for (uint64_t k = 0; k < 4000; ++k)
    big.push_back({lsn(1000 + k), std::string(1000, static_cast<char>(k))});
  commit_record c;
  c.xid = 77;
  c.commit_lsn = lsn(100000);
  c.end_lsn = lsn(100008);
  ASSERT_TRUE(s->append(c, big));
  std::vector<stored_message> after = messages_for(2004);
  ASSERT_TRUE(s->append(commit_for(2004), after));
  ASSERT_TRUE(s->sync());

  constexpr size_t piece = 64 << 10;
  counting_source source(*s);
  wal_reader reader(*s, s->start_position(), 16 << 10, &source, piece);
  transaction_view txn;
  for (uint64_t n = 1; n < 4; ++n) {
    ASSERT_TRUE(reader.next_view(txn));
    EXPECT_TRUE(txn.first_piece && txn.last_piece);
    EXPECT_EQ(txn.commit.xid, 1000 + n);
  }
  const uint64_t big_start = reader.position();
  size_t pieces = 0, k = 0;
  do {
    auto more = reader.next_view(txn);
    ASSERT_TRUE(more) << more.err().message;
    ASSERT_TRUE(*more);
    EXPECT_EQ(txn.first_piece, pieces == 0);
    EXPECT_EQ(txn.commit.xid, 77u); // from the first piece on
    size_t bytes = 0;
    for (const auto& m : txn.messages) {
      ASSERT_LT(k, big.size());
      EXPECT_EQ(m.data_start, big[k].data_start);
      EXPECT_EQ(m.bytes, big[k].bytes);
      bytes += m.bytes.size() + 8;
      ++k;
    }
    EXPECT_LE(bytes, piece + 1008);
    if (!txn.last_piece) {
      EXPECT_EQ(reader.position(), big_start); // not past it yet
    }
    ++pieces;
  } while (!txn.last_piece);
  EXPECT_EQ(k, big.size());
  EXPECT_GE(pieces, 4000u * 1008 / (piece + 1008));
  EXPECT_EQ(reader.position(), txn.end_position);
  auto last = reader.next();
  ASSERT_TRUE(last && *last);
  expect_transaction(**last, 2004);
  // Walked once to its commit, then read once in pieces.
  EXPECT_LT(source.bytes_.load(), 3 * s->durable_position());

  // next() joins the pieces.
  wal_reader whole(*s, big_start, 16 << 10, nullptr, piece);
  auto t = whole.next();
  ASSERT_TRUE(t && *t);
  ASSERT_EQ((*t)->messages.size(), big.size());
  EXPECT_EQ((*t)->messages[3999].bytes, big[3999].bytes);
  EXPECT_EQ((*t)->commit.xid, 77u);
}

// The reader reads the chunk after its window in the background while it
// walks the window. Whatever the chunk size, and whether the reader walks
// stored data or follows a writer at the durable end (short chunks), it
// sees every transaction once and in order: small ones, ones longer than
// the room reserved for the bytes a refill keeps (64kB), ones read in
// pieces, across segment files.
TEST_F(wal_store_test,
       reading_ahead_in_the_background_keeps_every_transaction) {
  auto s = open_store();
  ASSERT_TRUE(s);
  constexpr uint64_t count = 600;
  // Transaction n; every 50th is 300kB (60 messages of 5,000 bytes).
  auto messages = [](uint64_t n) {
    if (n % 50 != 7)
      return messages_for(n);
    std::vector<stored_message> big;
    for (uint64_t k = 0; k < 60; ++k)
      big.push_back({lsn(100 * n + k),
                     std::string(5000, static_cast<char>('A' + k % 26))});
    return big;
  };
  std::thread writer([&] {
    for (uint64_t n = 0; n < count; ++n) {
      auto m = messages(n);
      if (!s->append(commit_for(n), m))
        std::abort();
      if (n % 7 == 0 && !s->sync())
        std::abort();
    }
    if (!s->sync())
      std::abort();
  });
  for (size_t read_ahead :
       {size_t{512}, size_t{5000}, size_t{64 << 10}, size_t{1 << 20}}) {
    for (size_t piece : {size_t{100 << 10}, size_t{8 << 20}}) {
      SCOPED_TRACE(std::to_string(read_ahead) + " " + std::to_string(piece));
      wal_reader reader(*s, s->start_position(), read_ahead, nullptr, piece);
      uint64_t n = 0;
      size_t k = 0; // the next message of transaction n
      transaction_view txn;
      while (n < count) {
        auto more = reader.next_view(txn);
        ASSERT_TRUE(more) << more.err().message << " " << more.err().detail;
        if (!*more) {
          s->wait_durable_past(reader.position(),
                               std::chrono::milliseconds(100));
          continue;
        }
        const auto want = messages(n);
        ASSERT_EQ(txn.commit.commit_lsn, commit_for(n).commit_lsn);
        EXPECT_EQ(txn.first_piece, k == 0);
        for (const auto& m : txn.messages) {
          ASSERT_LT(k, want.size()) << "txn " << n;
          ASSERT_EQ(m.data_start, want[k].data_start) << "txn " << n;
          ASSERT_EQ(m.bytes, want[k].bytes) << "txn " << n;
          ++k;
        }
        if (txn.last_piece) {
          ASSERT_EQ(k, want.size()) << "txn " << n;
          ++n;
          k = 0;
        }
      }
      auto after = reader.next_view(txn);
      ASSERT_TRUE(after);
    }
  }
  writer.join();
}

// A source whose reads fail once they reach `fail_at` (a disk error).
class failing_source : public byte_source {
 public:
  failing_source(const wal_store& s, uint64_t fail_at)
      : store_(s)
      , fail_at_(fail_at) {}
  expected<size_t> read(uint64_t position, char* dst, size_t n) const override {
    if (position + n > fail_at_)
      return error{sqlstate::internal_error, "injected read error"};
    return store_.read(position, dst, n);
  }

 private:
  const wal_store& store_;
  uint64_t fail_at_;
};

// A read error met while reading ahead reaches the reader as an error when
// the reader gets there, after every transaction before it, each intact;
// a reader that stops before it never sees it (and closes without hanging).
TEST_F(wal_store_test, a_read_error_met_ahead_reaches_the_reader_in_order) {
  auto s = open_store();
  ASSERT_TRUE(s);
  append_synced_in_batches(*s, 2000);
  const uint64_t fail_at = s->durable_position() / 2;
  failing_source source(*s, fail_at);
  {
    wal_reader reader(*s, s->start_position(), 4096, &source);
    uint64_t n = 0;
    while (true) {
      auto t = reader.next();
      if (!t) {
        EXPECT_EQ(t.err().message, "injected read error");
        break;
      }
      ASSERT_TRUE(*t) << "the data ended before the error";
      expect_transaction(**t, n);
      ASSERT_LE(reader.position(), fail_at);
      ++n;
    }
    EXPECT_GT(n, 100u);
  }
  {
    wal_reader reader(*s, s->start_position(), 4096, &source);
    for (uint64_t n = 0; n < 5; ++n) {
      auto t = reader.next();
      ASSERT_TRUE(t && *t);
      expect_transaction(**t, n);
    }
  }
}

} // namespace
} // namespace walmux::storage
