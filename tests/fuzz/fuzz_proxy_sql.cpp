// fuzz_proxy_sql.cpp: the upstream proxy's statement classifier never
// crashes, and what it lets through as a COPY always names a table.
#include "protocol/proxy_sql.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = walmux::proxy::classify(text);
  if (r && r->kind == walmux::proxy::statement_kind::copy_out &&
      (r->schema.empty() && r->table.empty()))
    std::abort();
  return 0;
}
