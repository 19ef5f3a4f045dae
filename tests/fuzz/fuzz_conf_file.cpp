// fuzz_conf_file.cpp: the configuration file parser never crashes on any
// text; every parsed value, quoted again, parses back to itself.
#include "config/conf_file.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto items = walmux::config::conf_parse_text(text, "fuzz.conf");
  if (!items)
    return 0;
  for (const auto& item : *items) {
    if (item.value.find('\0') != std::string::npos)
      continue; // NUL never survives a C string; the parser rejects it anyway
    auto line = item.name + " = " + walmux::config::conf_quote(item.value);
    auto again = walmux::config::conf_parse_text(line, "again.conf");
    if (!again || again->size() != 1 || (*again)[0].value != item.value ||
        (*again)[0].name != item.name)
      std::abort();
  }
  return 0;
}
