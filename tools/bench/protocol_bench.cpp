// protocol_bench.cpp: throughput of the protocol/ codecs on real PostgreSQL
// 15 output (tests/data/pgoutput/v2_streaming.tsv: 1288 messages of a mixed
// workload, streamed blocks included).
//
//   pgoutput_decode      full decode into values (tuples materialized)
//   pgoutput_scan        kind, xid, relation OID and LSNs only
//   pgoutput_passthrough XLogData header + the original bytes into a buffer,
//                        what a walsender does for a slot that needs no change
//   pgoutput_encode      values back to bytes
//   frame_reader_copydata  CopyData framing of the same stream
//   wal2json_encode_v1/v2  wal2json documents from the decoded v1 capture
//                        (tests/data/pgoutput/v1.tsv), items = changes
//
// Counters: items_per_second = messages/s, bytes_per_second = payload bytes.
// WALMUX_BENCH_PGOUTPUT=<file> replaces both inputs with another capture of
// the same format (tools/bench/compare_postgres.sh uses it to measure on the
// very messages PostgreSQL produced in the same run).
//
// Run: build/tools/bench/protocol_bench
#include "protocol/frame.hpp"
#include "protocol/messages.hpp"
#include "protocol/pgoutput.hpp"
#include "protocol/stream.hpp"
#include "protocol/wal2json.hpp"
#include "tests/support/golden.hpp"

#include <cstdlib>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

namespace {

using namespace walmux;

struct corpus {
  std::vector<std::string> messages;
  std::vector<pgoutput::decode_context> contexts;
  size_t bytes = 0;
};

std::vector<testing::golden_record> input(const char* default_file) {
  if (const char* path = std::getenv("WALMUX_BENCH_PGOUTPUT"))
    return testing::read_golden_file(path);
  return testing::read_golden(default_file);
}

const corpus& load() {
  static const corpus c = [] {
    corpus out;
    pgoutput::stream_decoder d;
    for (auto& rec : input("pgoutput/v2_streaming.tsv")) {
      out.contexts.push_back({d.in_stream(), false});
      (void)d.decode(rec.bytes);
      out.bytes += rec.bytes.size();
      out.messages.push_back(std::move(rec.bytes));
    }
    return out;
  }();
  return c;
}

void report(benchmark::State& state, const corpus& c) {
  state.SetItemsProcessed(state.iterations() *
                          static_cast<int64_t>(c.messages.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(c.bytes));
}

void pgoutput_decode(benchmark::State& state) {
  const auto& c = load();
  for (auto _ : state)
    for (size_t i = 0; i < c.messages.size(); ++i)
      benchmark::DoNotOptimize(pgoutput::decode(c.messages[i], c.contexts[i]));
  report(state, c);
}
BENCHMARK(pgoutput_decode);

void pgoutput_scan(benchmark::State& state) {
  const auto& c = load();
  for (auto _ : state)
    for (size_t i = 0; i < c.messages.size(); ++i)
      benchmark::DoNotOptimize(pgoutput::scan(c.messages[i], c.contexts[i]));
  report(state, c);
}
BENCHMARK(pgoutput_scan);

void pgoutput_passthrough(benchmark::State& state) {
  const auto& c = load();
  std::string out;
  out.reserve(c.bytes + 64 * c.messages.size());
  for (auto _ : state) {
    out.clear();
    for (const auto& m : c.messages) {
      stream::encode_xlog_header(out, lsn(1), lsn(1), 0);
      out += m;
    }
    benchmark::DoNotOptimize(out.data());
  }
  report(state, c);
}
BENCHMARK(pgoutput_passthrough);

void pgoutput_encode(benchmark::State& state) {
  const auto& c = load();
  std::vector<pgoutput::any_message> decoded;
  for (size_t i = 0; i < c.messages.size(); ++i)
    decoded.push_back(*pgoutput::decode(c.messages[i], c.contexts[i]));
  std::string out;
  for (auto _ : state) {
    out.clear();
    for (const auto& m : decoded)
      pgoutput::encode(out, m);
    benchmark::DoNotOptimize(out.data());
  }
  report(state, c);
}
BENCHMARK(pgoutput_encode);

void frame_reader_copydata(benchmark::State& state) {
  const auto& c = load();
  std::string stream_bytes;
  for (const auto& m : c.messages) {
    std::string payload;
    stream::encode_xlog_header(payload, lsn(1), lsn(1), 0);
    payload += m;
    wire::encode(stream_bytes, wire::copy_data{std::move(payload)});
  }
  for (auto _ : state) {
    wire::frame_reader reader(wire::frame_mode::typed);
    for (size_t at = 0; at < stream_bytes.size(); at += 16384) {
      reader.feed(std::string_view(stream_bytes).substr(at, 16384));
      while (auto f = reader.next()) {
        if (!*f)
          break;
        benchmark::DoNotOptimize((*f)->body.data());
      }
    }
  }
  report(state, c);
}
BENCHMARK(frame_reader_copydata);

// A catalog that knows every column as text-typed, nullable, not in a key:
// the encoder's work per column is the same whatever the names say.
class flat_catalog : public wal2json::catalog_view {
 public:
  const wal2json::column_meta* column(uint32_t,
                                      std::string_view) const override {
    return &meta_;
  }

 private:
  wal2json::column_meta meta_{"text", "text", false, false, 1, "", 0, "", ""};
};

void wal2json_encode(benchmark::State& state, const char* format) {
  static const auto fed = [] {
    std::vector<std::pair<pgoutput::any_message, wal2json::message_position>>
        out;
    pgoutput::stream_decoder d;
    for (const auto& rec : input("pgoutput/v1.tsv"))
      out.emplace_back(*d.decode(rec.bytes),
                       wal2json::message_position{*lsn_parse(rec.lsn), lsn(1)});
    return out;
  }();
  int64_t changes = 0;
  for (const auto& [m, pos] : fed)
    changes += std::holds_alternative<pgoutput::insert>(m) ||
               std::holds_alternative<pgoutput::update>(m) ||
               std::holds_alternative<pgoutput::delete_>(m);
  flat_catalog catalog;
  auto opts = *wal2json::parse_options(
      {{"format-version", repl::option::kind::string, format}});
  std::vector<wal2json::document> docs;
  for (auto _ : state) {
    wal2json::encoder enc(opts, &catalog);
    docs.clear();
    for (const auto& [m, pos] : fed)
      (void)enc.feed(m, pos, docs);
    benchmark::DoNotOptimize(docs.data());
  }
  state.SetItemsProcessed(state.iterations() * changes);
}
BENCHMARK_CAPTURE(wal2json_encode, v1, "1");
BENCHMARK_CAPTURE(wal2json_encode, v2, "2");

} // namespace

BENCHMARK_MAIN();
