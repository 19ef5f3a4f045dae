// fuzz_wal2json.cpp: the wal2json decoder (both formats) and the chunk
// assembler on hostile text never crash. The first byte picks the format
// and whether the rest is fed to the assembler in pieces.
#include "protocol/wal2json_decode.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace walmux::wal2json;
  if (size == 0)
    return 0;
  const int format = (data[0] & 1) ? 2 : 1;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  (void)decode_document(text, format);
  if (data[0] & 2) {
    chunk_assembler assembler(1 << 16);
    const size_t piece = 1 + (data[0] >> 2);
    for (size_t at = 0; at < text.size(); at += piece) {
      auto whole = assembler.feed(text.substr(at, piece));
      if (!whole)
        break;
      if (*whole)
        (void)decode_document(**whole, 1);
    }
  }
  return 0;
}
