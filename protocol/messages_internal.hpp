// messages_internal.hpp: validation helpers shared by the frontend and
// backend message codecs. Internal to protocol/; not part of its interface.
#pragma once

#include "common/expected.hpp"
#include "protocol/byte_io.hpp"

#include <string>
#include <string_view>

namespace walmux::wire::detail {

inline error invalid_format(std::string_view what) {
  return error{sqlstate::protocol_violation, "invalid message format"}
      .with_detail(std::string(what));
}

inline std::string hex_byte(char c) {
  const char* digits = "0123456789ABCDEF";
  auto u = static_cast<unsigned char>(c);
  return {digits[u >> 4], digits[u & 15]};
}

template <class T>
inline expected<T> fail(std::string_view what) {
  return invalid_format(what);
}

// Reads a count followed by that many items; the count is checked against
// the bytes left (each item needs at least `min_item_bytes`), so a hostile
// count cannot make a decoder allocate more than its input justifies.
inline bool count_fits(const byte_reader& r, int64_t count,
                       size_t min_item_bytes) {
  return count >= 0 &&
         static_cast<uint64_t>(count) * min_item_bytes <= r.remaining();
}

// Returns `m` if the reader consumed the whole body, else the error for
// trailing bytes after message `type`.
template <class Message>
inline expected<Message> finish_message(const byte_reader& r, Message m,
                                        char type) {
  if (!r.at_end())
    return invalid_format(std::string("trailing bytes in message type '") +
                          type + "'");
  return m;
}

inline void encode_empty(std::string& out, char type) {
  size_t at = begin_message(out, type);
  end_message(out, at);
}

} // namespace walmux::wire::detail
