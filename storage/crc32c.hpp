// crc32c.hpp: CRC-32C (Castagnoli), the checksum of every durable record.
//
// Uses the SSE4.2 crc32 instruction when the CPU has it, else a table. Both
// give identical results (tests/unit/crc32c_test.cpp checks the RFC 3720
// vectors on both paths). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace walmux::storage {

// Extends `crc` (0 to start) over data[0, n).
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t n);
inline uint32_t crc32c(const void* data, size_t n) {
  return crc32c_extend(0, data, n);
}

// The portable path, for tests that compare both implementations.
uint32_t crc32c_extend_portable(uint32_t crc, const void* data, size_t n);
bool crc32c_hardware_available();

} // namespace walmux::storage
