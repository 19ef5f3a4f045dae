// fuzz_units.cpp: integer-with-unit parsing never crashes; any positive value
// in parameter range is shown as text that parses back to it.
#include "config/units.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace walmux::config;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (auto u :
       {unit::none, unit::bytes, unit::kilobytes, unit::megabytes, unit::blocks,
        unit::milliseconds, unit::seconds, unit::minutes}) {
    int64_t v = 0;
    std::string hint;
    if (!parse_int_with_unit(text, u, v, hint))
      continue;
    if (v <= 0 || v > INT32_MAX)
      continue; // the table bounds every integer parameter to int32 range
    int64_t back = 0;
    if (!parse_int_with_unit(format_int_with_unit(v, u), u, back, hint) ||
        back != v)
      std::abort();
  }
  return 0;
}
