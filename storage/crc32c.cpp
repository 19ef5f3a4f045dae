// crc32c.cpp: table and SSE4.2 implementations of CRC-32C (see crc32c.hpp).
#include "storage/crc32c.hpp"

#include <array>
#include <cstring>

namespace walmux::storage {
namespace {

constexpr uint32_t polynomial = 0x82F63B78; // reflected Castagnoli

constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (c >> 1) ^ polynomial : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto table = make_table();

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t
extend_sse42(uint32_t crc, const unsigned char* p, size_t n) {
  uint64_t c = ~crc;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = __builtin_ia32_crc32di(c, word);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n-- > 0)
    c32 = __builtin_ia32_crc32qi(c32, *p++);
  return ~c32;
}
#endif

} // namespace

uint32_t crc32c_extend_portable(uint32_t crc, const void* data, size_t n) {
  auto p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
  while (n-- > 0)
    c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
  return ~c;
}

bool crc32c_hardware_available() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

namespace {
// Chosen once, at start-up: every record's CRC goes through it.
using extend_fn = uint32_t (*)(uint32_t, const void*, size_t);
const extend_fn chosen_extend = [] {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2"))
    return static_cast<extend_fn>([](uint32_t crc, const void* data, size_t n) {
      return extend_sse42(crc, static_cast<const unsigned char*>(data), n);
    });
#endif
  return static_cast<extend_fn>(crc32c_extend_portable);
}();
} // namespace

uint32_t crc32c_extend(uint32_t crc, const void* data, size_t n) {
  return chosen_extend(crc, data, n);
}

} // namespace walmux::storage
