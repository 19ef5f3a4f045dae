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

// Three streams: the crc32 instruction takes 3 cycles but can start one
// every cycle, so a buffer of at least 3 x stripe bytes is cut into three
// stripes whose CRCs run side by side and are then joined: the register
// after stripes A then B is shift(crc(A)) ^ crc0(B), where crc0 starts from
// a zero register and shift() is the effect of `stripe` zero bytes, a
// linear map applied with four byte tables.
constexpr size_t stripe = 64;

// The register after `bytes` zero bytes, starting from `reg` (the
// instruction's register, without the pre- and post-inversion).
constexpr uint32_t zeros(uint32_t reg, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i)
    reg = table[reg & 0xff] ^ (reg >> 8);
  return reg;
}

constexpr std::array<std::array<uint32_t, 256>, 4> make_shift_tables() {
  std::array<std::array<uint32_t, 256>, 4> t{};
  for (int k = 0; k < 4; ++k)
    for (uint32_t b = 0; b < 256; ++b)
      t[k][b] = zeros(b << (8 * k), stripe);
  return t;
}
constexpr auto shift_tables = make_shift_tables();

inline uint32_t shift_stripe(uint32_t reg) {
  return shift_tables[0][reg & 0xff] ^ shift_tables[1][(reg >> 8) & 0xff] ^
         shift_tables[2][(reg >> 16) & 0xff] ^ shift_tables[3][reg >> 24];
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t
extend_sse42(uint32_t crc, const unsigned char* p, size_t n) {
  uint64_t c = ~crc;
  while (n >= 3 * stripe) {
    uint64_t a = c, b = 0, d = 0;
    for (size_t i = 0; i < stripe; i += 8) {
      uint64_t wa, wb, wd;
      std::memcpy(&wa, p + i, 8);
      std::memcpy(&wb, p + stripe + i, 8);
      std::memcpy(&wd, p + 2 * stripe + i, 8);
      a = __builtin_ia32_crc32di(a, wa);
      b = __builtin_ia32_crc32di(b, wb);
      d = __builtin_ia32_crc32di(d, wd);
    }
    const uint32_t ab =
        shift_stripe(static_cast<uint32_t>(a)) ^ static_cast<uint32_t>(b);
    c = shift_stripe(ab) ^ static_cast<uint32_t>(d);
    p += 3 * stripe;
    n -= 3 * stripe;
  }
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
