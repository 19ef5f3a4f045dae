// foundation_bench.cpp: throughput of the foundation's hot helpers: CRC-32C
// (every durable record is checksummed), LSN text parsing (every
// START_REPLICATION and status report), parameter values with units.
//
// Run: build/tools/bench/foundation_bench
#include "config/units.hpp"
#include "protocol/lsn.hpp"
#include "storage/crc32c.hpp"

#include <string>
#include <vector>

#include <benchmark/benchmark.h>

namespace {

void crc32c_hardware(benchmark::State& state) {
  std::vector<char> buf(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state)
    benchmark::DoNotOptimize(walmux::storage::crc32c(buf.data(), buf.size()));
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.SetLabel(walmux::storage::crc32c_hardware_available() ? "sse4.2"
                                                              : "table");
}
BENCHMARK(crc32c_hardware)->Arg(8192)->Arg(1 << 20);

void crc32c_table(benchmark::State& state) {
  std::vector<char> buf(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state)
    benchmark::DoNotOptimize(
        walmux::storage::crc32c_extend_portable(0, buf.data(), buf.size()));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(crc32c_table)->Arg(8192)->Arg(1 << 20);

void lsn_parse_print(benchmark::State& state) {
  for (auto _ : state) {
    auto l = walmux::lsn_parse("16/B374D848");
    benchmark::DoNotOptimize(walmux::lsn_to_string(*l));
  }
}
BENCHMARK(lsn_parse_print);

void unit_parse(benchmark::State& state) {
  std::string hint;
  int64_t v = 0;
  for (auto _ : state)
    benchmark::DoNotOptimize(walmux::config::parse_int_with_unit(
        "128MB", walmux::config::unit::blocks, v, hint));
}
BENCHMARK(unit_parse);

} // namespace

BENCHMARK_MAIN();
