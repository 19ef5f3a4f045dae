// byte_io.hpp: bounded big-endian reading and writing of protocol fields.
//
// byte_reader never reads past the end of its input: every accessor returns
// false instead, leaving the reader where it was, so a decoder turns any short
// or malformed input into an error value. Integers are network order (big
// endian), as in PostgreSQL's frontend/backend protocol; a "String" is bytes up
// to a NUL. The writer appends to a std::string.
//
// Pure, header-only; used by every codec in protocol/.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace walmux::wire {

class byte_reader {
 public:
  explicit byte_reader(std::string_view data)
      : p_(data.data())
      , end_(data.data() + data.size()) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  bool at_end() const { return p_ == end_; }
  std::string_view rest() const { return {p_, remaining()}; }

  bool u8(uint8_t& v) { return get_be(v); }
  bool i8(int8_t& v) { return get_be(v); }
  bool u16(uint16_t& v) { return get_be(v); }
  bool i16(int16_t& v) { return get_be(v); }
  bool u32(uint32_t& v) { return get_be(v); }
  bool i32(int32_t& v) { return get_be(v); }
  bool u64(uint64_t& v) { return get_be(v); }
  bool i64(int64_t& v) { return get_be(v); }
  bool byte(char& c) {
    if (p_ == end_)
      return false;
    c = *p_++;
    return true;
  }

  // A NUL-terminated string; `s` excludes the NUL.
  bool cstring(std::string_view& s) {
    const void* nul = std::memchr(p_, '\0', remaining());
    if (nul == nullptr)
      return false;
    auto n = static_cast<size_t>(static_cast<const char*>(nul) - p_);
    s = std::string_view(p_, n);
    p_ += n + 1;
    return true;
  }

  bool bytes(size_t n, std::string_view& s) {
    if (n > remaining())
      return false;
    s = std::string_view(p_, n);
    p_ += n;
    return true;
  }

  bool skip(size_t n) {
    if (n > remaining())
      return false;
    p_ += n;
    return true;
  }

 private:
  template <class T>
  bool get_be(T& v) {
    if (remaining() < sizeof(T))
      return false;
    using U = std::make_unsigned_t<T>;
    U u = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      u = static_cast<U>((u << 8) | static_cast<unsigned char>(p_[i]));
    v = static_cast<T>(u);
    p_ += sizeof(T);
    return true;
  }

  const char* p_;
  const char* end_;
};

template <class T>
inline void put_be(std::string& out, T v) {
  using U = std::make_unsigned_t<T>;
  U u = static_cast<U>(v);
  char buf[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i)
    buf[i] = static_cast<char>(u >> (8 * (sizeof(T) - 1 - i)));
  out.append(buf, sizeof(T));
}

inline void put_u8(std::string& out, uint8_t v) {
  out += static_cast<char>(v);
}
inline void put_i16(std::string& out, int16_t v) {
  put_be(out, v);
}
inline void put_i32(std::string& out, int32_t v) {
  put_be(out, v);
}
inline void put_u32(std::string& out, uint32_t v) {
  put_be(out, v);
}
inline void put_i64(std::string& out, int64_t v) {
  put_be(out, v);
}
inline void put_u64(std::string& out, uint64_t v) {
  put_be(out, v);
}
inline void put_cstring(std::string& out, std::string_view s) {
  out.append(s);
  out += '\0';
}

// Starts a typed message: appends the type byte and a length placeholder and
// returns the length's offset for end_message.
inline size_t begin_message(std::string& out, char type) {
  out += type;
  size_t at = out.size();
  put_i32(out, 0);
  return at;
}

// Patches the length word (it counts itself, not the type byte).
inline void end_message(std::string& out, size_t length_at) {
  auto len = static_cast<uint32_t>(out.size() - length_at);
  for (int i = 0; i < 4; ++i)
    out[length_at + static_cast<size_t>(i)] =
        static_cast<char>(len >> (8 * (3 - i)));
}

} // namespace walmux::wire
