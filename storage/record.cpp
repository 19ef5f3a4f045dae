// record.cpp: encode/decode of the durable record envelope (see record.hpp).
#include "storage/record.hpp"

#include "storage/crc32c.hpp"

#include <cstring>

namespace walmux::storage {

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
