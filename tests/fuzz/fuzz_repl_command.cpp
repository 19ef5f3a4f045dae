// fuzz_repl_command.cpp: the replication command parser never crashes, and
// interpreting a parsed command's options never does either
// (CREATE_REPLICATION_SLOT's, and START_REPLICATION's as pgoutput and
// wal2json read them).
#include "protocol/pgoutput_options.hpp"
#include "protocol/repl_command.hpp"
#include "protocol/wal2json.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cmd = walmux::repl::parse_command(text);
  if (cmd && *cmd) {
    if (auto* c = std::get_if<walmux::repl::create_replication_slot>(&**cmd))
      (void)walmux::repl::interpret_create_slot_options(*c);
    if (auto* s = std::get_if<walmux::repl::start_replication>(&**cmd)) {
      (void)walmux::pgoutput::parse_start_options(s->options, 4);
      (void)walmux::wal2json::parse_options(s->options);
    }
  }
  return 0;
}
