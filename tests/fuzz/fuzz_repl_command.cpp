// fuzz_repl_command.cpp: the replication command parser never crashes, and
// interpreting a parsed CREATE_REPLICATION_SLOT's options never does either.
#include "protocol/repl_command.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cmd = walmux::repl::parse_command(text);
  if (cmd && *cmd) {
    if (auto* c = std::get_if<walmux::repl::create_replication_slot>(&**cmd))
      (void)walmux::repl::interpret_create_slot_options(*c);
  }
  return 0;
}
