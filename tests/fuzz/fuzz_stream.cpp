// fuzz_stream.cpp: CopyBoth payload decoders (server and client side); what
// decodes re-encodes to the same bytes.
#include "protocol/stream.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace walmux::stream;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto m = decode_server(bytes)) {
    std::string again;
    std::visit([&](const auto& v) { encode(again, v); }, *m);
    if (again != bytes)
      std::abort();
  }
  if (auto m = decode_client(bytes)) {
    std::string again;
    std::visit([&](const auto& v) { encode(again, v); }, *m);
    // 'r' keeps only whether a reply was requested, not the byte's value.
    if (again.size() != bytes.size())
      std::abort();
  }
  return 0;
}
