// record.cpp: encode/decode of the durable record envelope (see record.hpp).
#include "storage/record.hpp"

#include "storage/crc32c.hpp"

#include <bit>
#include <cstring>

namespace walmux::storage {

namespace {

template <class T>
void put_le(std::string& out, T v) {
  char buf[sizeof(T)];
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(buf, &v, sizeof(T));
  } else {
    for (size_t i = 0; i < sizeof(T); ++i)
      buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
  out.append(buf, sizeof(T));
}

template <class T>
T get_le(const char* p) {
  T v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, p, sizeof(T));
  } else {
    auto u = reinterpret_cast<const unsigned char*>(p);
    for (size_t i = sizeof(T); i-- > 0;)
      v = static_cast<T>((v << 8) | u[i]);
  }
  return v;
}

} // namespace

void put_u16(std::string& out, uint16_t v) {
  put_le(out, v);
}
void put_u32(std::string& out, uint32_t v) {
  put_le(out, v);
}
void put_u64(std::string& out, uint64_t v) {
  put_le(out, v);
}
uint16_t get_u16(const char* p) {
  return get_le<uint16_t>(p);
}
uint32_t get_u32(const char* p) {
  return get_le<uint32_t>(p);
}
uint64_t get_u64(const char* p) {
  return get_le<uint64_t>(p);
}

std::string record_encode(record_kind kind, uint16_t version,
                          std::string_view payload) {
  std::string out;
  out.reserve(record_header_size + payload.size());
  put_u32(out, record_magic);
  put_u16(out, static_cast<uint16_t>(kind));
  put_u16(out, version);
  put_u32(out, static_cast<uint32_t>(payload.size()));
  put_u32(out, crc32c(payload.data(), payload.size()));
  out.append(payload);
  return out;
}

expected<record_view> record_decode(std::string_view bytes,
                                    std::string_view what) {
  auto corrupt = [&](const std::string& why) {
    return error{sqlstate::data_corrupted,
                 "invalid record in " + std::string(what)}
        .with_detail(why);
  };
  if (bytes.size() < record_header_size)
    return corrupt("The record is " + std::to_string(bytes.size()) +
                   " bytes long, shorter than its 16-byte header.");
  if (get_u32(bytes.data()) != record_magic)
    return corrupt("The record has the wrong magic number.");
  uint32_t length = get_u32(bytes.data() + 8);
  if (length > max_record_payload ||
      length != bytes.size() - record_header_size)
    return corrupt("The record's length field says " + std::to_string(length) +
                   " bytes, but " +
                   std::to_string(bytes.size() - record_header_size) +
                   " bytes follow the header.");
  auto payload = bytes.substr(record_header_size);
  if (get_u32(bytes.data() + 12) != crc32c(payload.data(), payload.size()))
    return corrupt("The record's CRC-32C does not match its payload.");
  return record_view{static_cast<record_kind>(get_u16(bytes.data() + 4)),
                     get_u16(bytes.data() + 6), payload};
}

} // namespace walmux::storage
