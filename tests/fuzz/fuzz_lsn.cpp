// fuzz_lsn.cpp: lsn_parse never crashes; whatever parses prints back to text
// that parses to the same LSN.
#include "protocol/lsn.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = walmux::lsn_parse(text);
  if (!parsed)
    return 0;
  auto again = walmux::lsn_parse(walmux::lsn_to_string(*parsed));
  if (!again || *again != *parsed)
    std::abort();
  return 0;
}
