// storage_bench.cpp: the WAL store against the raw limits of this disk,
// measured in the same run (the machine is shared: only ratios mean much).
//
//   raw_write_fdatasync/B   write B bytes, fdatasync, repeat
//   store_group_commit/B    append transactions until B bytes, sync, repeat
//   store_sync_each         append one transaction, sync, repeat
//   write_ratio/B           raw writes and group commits in turns: the
//                           ratio with both measured at the same moments
//   raw_read/cold           pread 256kB chunks of a 64MB file
//   raw_read_segments       the same over four 16MB files (cold): the
//                           store's layout with wal_segment_size = 16MB
//   store_pread_only        the store's own reads of its segments, cold, no
//                           parsing: what the layout costs
//   store_open/summaries    open a 64MB store: recovery scans the tail
//                           after the segment summaries (1) or all (0)
//   store_read/cold         wal_reader over 64MB of stored transactions
//                           (the default 64MB segments; _seg16: 16MB ones)
//   read_ratio/M/S          raw and store reads in turns (cold): the ratio
//                           with both measured at the same moments
// "cold" evicts the files from the page cache (POSIX_FADV_DONTNEED) before
// every pass, so both read the disk; "hot" reads the page cache, where the
// raw figure is memory bandwidth. Transactions carry one message of 200
// bytes (a small INSERT) or, for store_read_4k, 4kB.
// Files live under $WALMUX_BENCH_DIR (default /tmp), removed at exit.
#include "storage/wal_reader.hpp"

#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include <benchmark/benchmark.h>

namespace {

using namespace walmux;
using namespace walmux::storage;

std::string bench_dir() {
  static const std::string dir = [] {
    const char* base = std::getenv("WALMUX_BENCH_DIR");
    std::string tmpl =
        std::string(base ? base : "/tmp") + "/walmux-bench.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      std::abort();
    return tmpl;
  }();
  return dir;
}

void remove_tree(const std::string& path) {
  std::string cmd = "rm -rf '" + path + "'";
  if (std::system(cmd.c_str()) != 0)
    std::abort();
}

const std::vector<stored_message>& one_message() {
  static const std::vector<stored_message> m = {
      {lsn(1), std::string(200, 'v')}};
  return m;
}

commit_record commit_for(uint64_t n) {
  commit_record c;
  c.xid = static_cast<uint32_t>(n);
  c.commit_lsn = lsn(n + 1);
  c.end_lsn = lsn(n + 2);
  return c;
}

// The default wal_segment_size.
const uint64_t default_segment = wal_store::options{}.segment_size;

std::unique_ptr<wal_store>
fresh_store(const std::string& name, uint64_t segment_size = default_segment) {
  remove_tree(bench_dir() + "/" + name);
  wal_store::options o;
  o.dir = bench_dir() + "/" + name;
  o.segment_size = segment_size;
  auto store = wal_store::open(o);
  if (!store)
    std::abort();
  return std::move(*store);
}

void raw_write_fdatasync(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  std::string path = bench_dir() + "/raw";
  ::unlink(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  std::string buf(batch, 'r');
  uint64_t written = 0;
  for (auto _ : state) {
    if (::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size()))
      state.SkipWithError("write failed");
    if (::fdatasync(fd) != 0)
      state.SkipWithError("fdatasync failed");
    written += batch;
    if (written > (256u << 20) && ::ftruncate(fd, 0) == 0) // keep it bounded
      written = 0;
  }
  ::close(fd);
  ::unlink(path.c_str());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(batch));
}
BENCHMARK(raw_write_fdatasync)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();

void store_group_commit(benchmark::State& state) {
  const uint64_t batch = static_cast<uint64_t>(state.range(0));
  auto store = fresh_store("group");
  uint64_t n = 0, bytes = 0, txns = 0;
  for (auto _ : state) {
    const uint64_t from = store->written_position();
    while (store->written_position() - from < batch) {
      (void)store->append(commit_for(n++), one_message());
      ++txns;
    }
    bytes += store->written_position() - from;
    (void)store->sync();
    if (store->durable_position() > (256u << 20)) {
      state.PauseTiming();
      store = fresh_store("group");
      n = 0;
      state.ResumeTiming();
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["txns_per_second"] = benchmark::Counter(
      static_cast<double>(txns), benchmark::Counter::kIsRate);
}
BENCHMARK(store_group_commit)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();

// Raw writes and group commits taken in turns, so that both see the same
// moment of this shared disk (its write rate swings 117-340MB/s between
// runs): each iteration writes B bytes to a plain file and fdatasyncs,
// then appends transactions until B bytes to the store and syncs. The
// time reported is the store's; ratio = store rate / raw rate over all
// iterations.
//   write_ratio/<B>
void write_ratio(benchmark::State& state) {
  const uint64_t batch = static_cast<uint64_t>(state.range(0));
  const std::string path = bench_dir() + "/ratioraw_w";
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  const std::string buf(batch, 'r');
  auto store = fresh_store("wratio");
  uint64_t n = 0, raw_bytes = 0, store_bytes = 0;
  double raw_seconds = 0, store_seconds = 0;
  using clock = std::chrono::steady_clock;
  for (auto _ : state) {
    auto t0 = clock::now();
    if (::write(fd, buf.data(), buf.size()) !=
            static_cast<ssize_t>(buf.size()) ||
        ::fdatasync(fd) != 0)
      state.SkipWithError("raw write failed");
    raw_seconds += std::chrono::duration<double>(clock::now() - t0).count();
    raw_bytes += batch;
    t0 = clock::now();
    const uint64_t from = store->written_position();
    while (store->written_position() - from < batch)
      (void)store->append(commit_for(n++), one_message());
    if (!store->sync())
      state.SkipWithError("store sync failed");
    const double took =
        std::chrono::duration<double>(clock::now() - t0).count();
    store_seconds += took;
    store_bytes += store->written_position() - from;
    state.SetIterationTime(took);
    if (store->durable_position() > (256u << 20)) { // keep both bounded
      store = fresh_store("wratio");
      n = 0;
      if (::ftruncate(fd, 0) != 0)
        state.SkipWithError("truncate failed");
    }
  }
  ::close(fd);
  ::unlink(path.c_str());
  const double raw_rate = static_cast<double>(raw_bytes) / raw_seconds;
  const double store_rate = static_cast<double>(store_bytes) / store_seconds;
  state.counters["raw_MBps"] = raw_rate / 1e6;
  state.counters["store_MBps"] = store_rate / 1e6;
  state.counters["ratio"] = store_rate / raw_rate;
}
BENCHMARK(write_ratio)
    ->Arg(64 << 10)
    ->Arg(1 << 20)
    ->Iterations(400)
    ->UseManualTime();

void store_sync_each(benchmark::State& state) {
  auto store = fresh_store("each");
  uint64_t n = 0, bytes = 0;
  for (auto _ : state) {
    const uint64_t from = store->written_position();
    (void)store->append(commit_for(n++), one_message());
    (void)store->sync();
    bytes += store->durable_position() - from;
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["txns_per_second"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsRate);
}
BENCHMARK(store_sync_each)->UseRealTime();

constexpr uint64_t read_size = 64 << 20;

void evict(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

void evict_store(const wal_store& store) {
  for (uint64_t s = 0; s * store.segment_size() < store.durable_position(); ++s)
    evict(store.segment_path(s));
}

// A plain file of read_size bytes, synced: what the raw reads read.
void write_raw_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::string buf(1 << 20, 'q');
  for (uint64_t w = 0; w < read_size; w += buf.size())
    if (::write(fd, buf.data(), buf.size()) < 0)
      std::abort();
  ::fsync(fd);
  ::close(fd);
}

void raw_read(benchmark::State& state) {
  const bool cold = state.range(0) != 0;
  std::string path = bench_dir() + "/rawread";
  write_raw_file(path);
  int fd = ::open(path.c_str(), O_RDONLY);
  std::string buf(256 << 10, '\0');
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      state.ResumeTiming();
    }
    for (uint64_t off = 0; off < read_size; off += buf.size())
      benchmark::DoNotOptimize(
          ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(off)));
  }
  ::close(fd);
  ::unlink(path.c_str());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(read_size));
}
BENCHMARK(raw_read)->ArgName("cold")->Arg(0)->Arg(1)->UseRealTime();

void raw_read_segments(benchmark::State& state) {
  constexpr int files = 4;
  std::vector<int> fds;
  std::string buf(1 << 20, 'q');
  for (int i = 0; i < files; ++i) {
    std::string path = bench_dir() + "/rawseg" + std::to_string(i);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    for (uint64_t w = 0; w < read_size / files; w += buf.size())
      if (::write(fd, buf.data(), buf.size()) < 0)
        std::abort();
    ::fsync(fd);
    ::close(fd);
    fds.push_back(::open(path.c_str(), O_RDONLY));
  }
  buf.resize(256 << 10);
  for (auto _ : state) {
    state.PauseTiming();
    for (int fd : fds)
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    state.ResumeTiming();
    for (int fd : fds)
      for (uint64_t off = 0; off < read_size / files; off += buf.size())
        benchmark::DoNotOptimize(
            ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(off)));
  }
  for (int fd : fds)
    ::close(fd);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(read_size));
}
BENCHMARK(raw_read_segments)->UseRealTime();

// A store of read_size bytes of one-message transactions.
std::unique_ptr<wal_store>
filled_store(size_t message_size, uint64_t segment_size = default_segment) {
  auto store = fresh_store("read", segment_size);
  const std::vector<stored_message> message = {
      {lsn(1), std::string(message_size, 'v')}};
  uint64_t n = 0;
  while (store->written_position() < read_size) {
    (void)store->append(commit_for(n++), message);
    if (store->written_position() % (8 << 20) < 300)
      (void)store->sync();
  }
  (void)store->sync();
  return store;
}

// Reads every stored transaction with a wal_reader; returns how many.
uint64_t read_all(const wal_store& store, transaction_view& view) {
  wal_reader reader(store, store.start_position());
  uint64_t txns = 0;
  while (true) {
    auto more = reader.next_view(view);
    if (!more || !*more)
      return txns;
    benchmark::DoNotOptimize(view.messages.data());
    ++txns;
  }
}

void store_read_with(benchmark::State& state, size_t message_size,
                     uint64_t segment_size = default_segment) {
  const bool cold = state.range(0) != 0;
  auto store = filled_store(message_size, segment_size);
  uint64_t txns = 0;
  transaction_view view;
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      evict_store(*store);
      state.ResumeTiming();
    }
    txns += read_all(*store, view);
  }
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(store->durable_position()));
  state.counters["txns_per_second"] = benchmark::Counter(
      static_cast<double>(txns), benchmark::Counter::kIsRate);
}
void store_pread_only(benchmark::State& state) {
  auto store = filled_store(200);
  std::string buf(256 << 10, '\0');
  for (auto _ : state) {
    state.PauseTiming();
    evict_store(*store);
    state.ResumeTiming();
    for (uint64_t off = 0; off < store->durable_position(); off += buf.size())
      benchmark::DoNotOptimize(store->read(off, buf.data(), buf.size()));
  }
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(store->durable_position()));
}
BENCHMARK(store_pread_only)->UseRealTime();

// Opening a store of 64MB: recovery scans only the tail after the segment
// summaries, or (summaries:0, removed before each open) every record.
void store_open(benchmark::State& state) {
  const bool summaries = state.range(0) != 0;
  const std::string dir = bench_dir() + "/read";
  filled_store(200).reset();
  uint64_t scanned = 0;
  for (auto _ : state) {
    if (!summaries) {
      state.PauseTiming();
      for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().extension() == ".index")
          std::filesystem::remove(e.path());
      state.ResumeTiming();
    }
    wal_store::options o;
    o.dir = dir;
    auto store = wal_store::open(o);
    if (!store)
      std::abort();
    scanned += (*store)->durable_position() - (*store)->recovery().scan_start;
  }
  state.counters["scanned_bytes"] = benchmark::Counter(
      static_cast<double>(scanned), benchmark::Counter::kAvgIterations);
}
BENCHMARK(store_open)->ArgName("summaries")->Arg(0)->Arg(1)->UseRealTime();

void store_read(benchmark::State& state) {
  store_read_with(state, 200);
}
BENCHMARK(store_read)->ArgName("cold")->Arg(0)->Arg(1)->UseRealTime();

void store_read_4k(benchmark::State& state) {
  store_read_with(state, 4096);
}
BENCHMARK(store_read_4k)->ArgName("cold")->Arg(0)->Arg(1)->UseRealTime();

// The same two cold with PostgreSQL's 16MB segments (walmux init -c
// wal_segment_size=16MB): the 64MB in four files.
void store_read_seg16(benchmark::State& state) {
  store_read_with(state, 200, 16 << 20);
}
BENCHMARK(store_read_seg16)->ArgName("cold")->Arg(1)->UseRealTime();

void store_read_4k_seg16(benchmark::State& state) {
  store_read_with(state, 4096, 16 << 20);
}
BENCHMARK(store_read_4k_seg16)->ArgName("cold")->Arg(1)->UseRealTime();

// Raw and store reads taken in turns, cold, so that both see the same
// moment of this shared disk (its rate drifts between 1 and 2.3 GB/s from
// minute to minute, more than the difference being measured): each
// iteration reads a 64MB plain file with 256kB preads, then the store of
// 64MB of transactions with its own 256kB preads (no parsing), then the
// same store with wal_reader. The time reported is wal_reader's; the
// counters are the raw and wal_reader rates, ratio = wal_reader rate / raw
// rate, pread_ratio = the store's pread rate / raw rate and vs_same_files
// = wal_reader rate / the store's pread rate, over all iterations.
//   read_ratio/<message bytes>/<segment MB>
void read_ratio(benchmark::State& state) {
  const auto message_size = static_cast<size_t>(state.range(0));
  const auto segment_size = static_cast<uint64_t>(state.range(1)) << 20;
  const std::string path = bench_dir() + "/ratioraw";
  write_raw_file(path);
  auto store = filled_store(message_size, segment_size);
  const int fd = ::open(path.c_str(), O_RDONLY);
  std::string buf(256 << 10, '\0');
  transaction_view view;
  double raw_seconds = 0, store_seconds = 0, pread_seconds = 0;
  using clock = std::chrono::steady_clock;
  for (auto _ : state) {
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    auto t0 = clock::now();
    for (uint64_t off = 0; off < read_size; off += buf.size())
      benchmark::DoNotOptimize(
          ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(off)));
    raw_seconds += std::chrono::duration<double>(clock::now() - t0).count();
    evict_store(*store);
    t0 = clock::now();
    for (uint64_t off = 0; off < store->durable_position(); off += buf.size())
      benchmark::DoNotOptimize(store->read(off, buf.data(), buf.size()));
    pread_seconds += std::chrono::duration<double>(clock::now() - t0).count();
    evict_store(*store);
    t0 = clock::now();
    read_all(*store, view);
    const double took =
        std::chrono::duration<double>(clock::now() - t0).count();
    store_seconds += took;
    state.SetIterationTime(took);
  }
  ::close(fd);
  ::unlink(path.c_str());
  const double n = static_cast<double>(state.iterations());
  const double raw_rate = n * static_cast<double>(read_size) / raw_seconds;
  const double store_rate =
      n * static_cast<double>(store->durable_position()) / store_seconds;
  state.counters["raw_GBps"] = raw_rate / 1e9;
  state.counters["store_GBps"] = store_rate / 1e9;
  state.counters["ratio"] = store_rate / raw_rate;
  state.counters["pread_ratio"] =
      n * static_cast<double>(store->durable_position()) / pread_seconds /
      raw_rate;
  // wal_reader against plain reads of the very files it reads: what the
  // reader costs apart from where the file system put the segments.
  state.counters["vs_same_files"] = pread_seconds / store_seconds;
}
BENCHMARK(read_ratio)
    ->ArgNames({"message", "segment_MB"})
    ->Args({200, 16})
    ->Args({4096, 16})
    ->Args({200, 64})
    ->Args({4096, 64})
    ->Iterations(20)
    ->UseManualTime();

} // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  remove_tree(bench_dir());
  return 0;
}
