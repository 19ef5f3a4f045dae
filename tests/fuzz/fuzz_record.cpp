// fuzz_record.cpp: the durable record envelope and the node metadata codec
// never crash on hostile bytes; what decodes re-encodes to the same bytes.
#include "storage/node_meta.hpp"
#include "storage/record.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace walmux::storage;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto rec = record_decode(bytes, "fuzz");
  if (rec) {
    if (record_encode(rec->kind, rec->version, rec->payload) != bytes)
      std::abort();
  }
  auto meta = node_meta_decode(bytes);
  if (meta && node_meta_encode(*meta) != bytes)
    std::abort();
  return 0;
}
