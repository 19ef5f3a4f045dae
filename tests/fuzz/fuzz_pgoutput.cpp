// fuzz_pgoutput.cpp: the pgoutput decoder and scan on hostile bytes. The
// first byte sets the context (in stream, parallel abort); whatever decodes
// must re-encode to the same bytes, and scan must agree on the kind.
#include "protocol/pgoutput.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace walmux::pgoutput;
  if (size == 0)
    return 0;
  decode_context ctx{(data[0] & 1) != 0, (data[0] & 2) != 0};
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto s = scan(bytes, ctx);
  auto m = decode(bytes, ctx);
  if (m) {
    std::string again;
    encode(again, *m);
    if (again != bytes)
      std::abort();
    if (!s || static_cast<char>(s->type) != bytes[0])
      std::abort();
  }
  return 0;
}
