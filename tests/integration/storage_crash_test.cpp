// storage_crash_test.cpp: the WAL store survives SIGKILL at any moment.
//
// Each iteration forks a writer that appends transactions as fast as it can
// (some in parts synced before their commit, some of those voided by an
// abort record and written again), syncing batches of random size and
// reporting "<transactions> <durable position>" on a pipe after every
// batch. The parent kills it with SIGKILL at
// a random moment, reopens the store and checks: every transaction reported
// durable is present and intact, transactions are contiguous from the first
// one, nothing partial is visible, and appending continues. Iterations share
// one directory, so recovery runs on the result of earlier crashes.
// WALMUX_CRASH_ITERATIONS sets the count (default 25; tools/stress-storage
// runs more); the seed is printed so a failure can be replayed.
#include "storage/wal_reader.hpp"
#include "tests/support/process.hpp"

#include <csignal>
#include <cstdlib>
#include <random>
#include <span>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace walmux::storage {
namespace {

constexpr uint64_t segment = 65536;

std::vector<stored_message> messages_for(uint64_t n) {
  std::vector<stored_message> out;
  for (uint64_t k = 0; k < n % 4 + 1; ++k)
    out.push_back({lsn(1000 * n + k),
                   std::string(static_cast<size_t>((n * 131 + k * 17) % 3000),
                               static_cast<char>('A' + (n * 7 + k) % 26))});
  return out;
}

commit_record commit_for(uint64_t n) {
  commit_record c;
  c.xid = static_cast<uint32_t>(n + 1);
  c.commit_lsn = lsn(1000 * n + 500);
  c.end_lsn = lsn(1000 * n + 600);
  c.commit_time = static_cast<int64_t>(n);
  return c;
}

// Runs `child` in a forked process that writes report lines to a pipe,
// SIGKILLs it after `delay_us`, and returns the last complete line it wrote
// (empty if none). The child must never return.
template <class Child>
std::string kill_and_last_report(Child child, useconds_t delay_us) {
  int fds[2];
  if (::pipe(fds) != 0)
    return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    child(fds[1]);
    ::_exit(9);
  }
  ::close(fds[1]);
  // Kill at a random moment: the point of the test, not a wait.
  ::usleep(delay_us);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status))
      << "child exited with " << WEXITSTATUS(status) << " before the kill";
  std::string out;
  char buf[4096];
  ssize_t r;
  while ((r = ::read(fds[0], buf, sizeof buf)) > 0)
    out.append(buf, static_cast<size_t>(r));
  ::close(fds[0]);
  auto end = out.rfind('\n');
  if (end == std::string::npos)
    return {};
  auto begin = end == 0 ? std::string::npos : out.rfind('\n', end - 1);
  size_t from = begin == std::string::npos ? 0 : begin + 1;
  return out.substr(from, end - from);
}

std::unique_ptr<wal_store> open_at(const std::string& dir) {
  wal_store::options o;
  o.dir = dir;
  o.segment_size = segment;
  o.max_buffer = 1 << 20;
  auto s = wal_store::open(o);
  if (!s) {
    ADD_FAILURE() << s.err().message << " " << s.err().detail;
    return nullptr;
  }
  return std::move(*s);
}

// Reads everything; returns the count, checking contents and contiguity.
uint64_t verify_all(const wal_store& s) {
  wal_reader r(s, s.start_position());
  uint64_t n = 0;
  while (true) {
    auto t = r.next();
    EXPECT_TRUE(t) << t.err().message << " " << t.err().detail;
    if (!t || !*t)
      break;
    const auto& txn = **t;
    EXPECT_EQ(txn.commit.xid, n + 1) << "transaction " << n;
    EXPECT_EQ(txn.commit.commit_lsn, lsn(1000 * n + 500));
    auto want = messages_for(n);
    EXPECT_EQ(txn.messages.size(), want.size());
    for (size_t k = 0; k < want.size() && k < txn.messages.size(); ++k) {
      EXPECT_EQ(txn.messages[k].data_start, want[k].data_start);
      EXPECT_EQ(txn.messages[k].bytes, want[k].bytes) << "txn " << n;
    }
    ++n;
  }
  return n;
}

[[noreturn]] void writer(const std::string& dir, int report_fd, uint64_t seed) {
  wal_store::options o;
  o.dir = dir;
  o.segment_size = segment;
  o.max_buffer = 1 << 20;
  auto s = wal_store::open(o);
  if (!s)
    ::_exit(3);
  // Continue after what is there.
  uint64_t n = 0;
  {
    wal_reader r(**s, (*s)->start_position());
    while (true) {
      auto t = r.next();
      if (!t)
        ::_exit(4);
      if (!*t)
        break;
      ++n;
    }
  }
  std::mt19937_64 rng(seed);
  while (true) {
    uint64_t batch = 1 + rng() % 20;
    for (uint64_t i = 0; i < batch; ++i, ++n) {
      // One in four is written in two parts, its first part often synced
      // before its commit; one in eight has that part voided (an abort
      // record) and is then written again whole.
      const auto messages = messages_for(n);
      const uint64_t style = rng() % 8;
      const size_t cut = messages.size() / 2;
      std::span<const stored_message> all(messages);
      if (style < 5 || cut == 0) {
        if (!(*s)->append(commit_for(n), all))
          ::_exit(5);
        continue;
      }
      if (!(*s)->append_part(all.first(cut)))
        ::_exit(5);
      if (rng() % 2 == 0 && !(*s)->sync())
        ::_exit(6);
      if (style == 7)
        (*s)->abandon_part();
      if (!(*s)->append(commit_for(n), style == 7 ? all : all.subspan(cut)))
        ::_exit(5);
    }
    if (!(*s)->sync())
      ::_exit(6);
    std::string line = std::to_string(n) + " " +
                       std::to_string((*s)->durable_position()) + "\n";
    if (::write(report_fd, line.data(), line.size()) < 0)
      ::_exit(7);
  }
}

TEST(storage_crash, sigkill_at_random_moments_loses_nothing_reported_durable) {
  int iterations = 25;
  if (const char* v = std::getenv("WALMUX_CRASH_ITERATIONS"))
    iterations = std::max(1, std::atoi(v));
  const uint64_t seed = std::random_device{}();
  std::printf("storage_crash seed %llu, %d iterations\n",
              static_cast<unsigned long long>(seed), iterations);
  std::mt19937_64 rng(seed);
  testing::temp_dir tmp;
  const std::string dir = tmp.path() + "/wal";
  uint64_t total_cut = 0;
  for (int it = 0; it < iterations; ++it) {
    const uint64_t writer_seed = rng();
    std::string line =
        kill_and_last_report([&](int fd) { writer(dir, fd, writer_seed); },
                             static_cast<useconds_t>(2000 + rng() % 60000));
    uint64_t reported_count = 0, reported_durable = 0;
    if (!line.empty())
      std::sscanf(line.c_str(), "%lu %lu", &reported_count, &reported_durable);
    auto s = open_at(dir);
    ASSERT_TRUE(s) << "iteration " << it << ", seed " << seed;
    total_cut += s->recovery().cut_bytes;
    EXPECT_GE(s->durable_position(), reported_durable) << "iteration " << it;
    uint64_t count = verify_all(*s);
    // The segment summaries and the scanned tail together count exactly
    // what is there: no summary outlived a cut or missed a transaction.
    EXPECT_EQ(s->recovery().transactions, count) << "iteration " << it;
    ASSERT_GE(count, reported_count)
        << "iteration " << it << ": lost transactions reported durable, seed "
        << seed;
    // Appending continues after recovery.
    for (uint64_t n = count; n < count + 3; ++n)
      ASSERT_TRUE(s->append(commit_for(n), messages_for(n)));
    ASSERT_TRUE(s->sync());
    ASSERT_EQ(verify_all(*s), count + 3);
  }
  std::printf("storage_crash: %d kills, %llu torn bytes cut in all\n",
              iterations, static_cast<unsigned long long>(total_cut));
}

} // namespace
} // namespace walmux::storage

#include "storage/catalog.hpp"

namespace walmux::storage {
namespace {

// A child acknowledges synced slot and origin updates on a pipe; after a
// SIGKILL every acknowledged update must be in the reopened catalog.
TEST(storage_crash, catalog_keeps_every_acknowledged_update_after_sigkill) {
  testing::temp_dir tmp;
  const std::string path = tmp.path() + "/catalog";
  ASSERT_TRUE(catalog::create(path));
  std::mt19937_64 rng(std::random_device{}());
  for (int it = 0; it < 10; ++it) {
    std::string line = kill_and_last_report(
        [&](int fd) {
          auto c = catalog::open(path);
          if (!c)
            ::_exit(3);
          auto slot = (*c)->get_slot("s");
          uint64_t v = slot && *slot ? (*slot)->confirmed_flush.value : 0;
          while (true) {
            ++v;
            slot_record s;
            s.name = "s";
            s.plugin = "pgoutput";
            s.confirmed_flush = lsn(v);
            catalog_batch b;
            b.put_slot(s);
            b.put_origin({1, "o", lsn(v), lsn(v)});
            if (!(*c)->apply(b, true))
              ::_exit(4);
            std::string line = std::to_string(v) + "\n";
            if (::write(fd, line.data(), line.size()) < 0)
              ::_exit(5);
          }
        },
        static_cast<useconds_t>(5000 + rng() % 50000));
    uint64_t last_ack = line.empty() ? 0 : std::stoull(line);
    auto c = catalog::open(path);
    ASSERT_TRUE(c) << c.err().message;
    auto slot = (*c)->get_slot("s");
    ASSERT_TRUE(slot);
    uint64_t have = *slot ? (*slot)->confirmed_flush.value : 0;
    EXPECT_GE(have, last_ack) << "iteration " << it;
    auto origins = (*c)->list_origins();
    ASSERT_TRUE(origins);
    if (last_ack > 0) {
      ASSERT_EQ(origins->size(), 1u);
      EXPECT_EQ((*origins)[0].remote_lsn.value, have); // same batch
    }
  }
}

} // namespace
} // namespace walmux::storage
