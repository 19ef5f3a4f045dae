// fuzz_frame.cpp: the frame reader and every message decoder, on both sides.
// Input: first byte picks the reader mode and the chunk size, the rest is the
// byte stream. Whatever decodes must re-encode to the same frame bytes.
#include "protocol/frame.hpp"
#include "protocol/messages.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

using namespace walmux::wire;

template <class Variant>
std::string reencode(const Variant& v) {
  std::string out;
  std::visit([&](const auto& m) { encode(out, m); }, v);
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  const uint8_t control = data[0];
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const frame_mode mode = (control & 3) == 0   ? frame_mode::untyped
                          : (control & 3) == 1 ? frame_mode::single_byte
                                               : frame_mode::typed;
  const size_t chunk = 1 + (control >> 2);
  frame_reader reader(mode, 1 << 16);
  for (size_t at = 0; at < bytes.size(); at += chunk) {
    reader.feed(bytes.substr(at, chunk));
    while (true) {
      auto f = reader.next();
      if (!f || !*f)
        break;
      const frame& fr = **f;
      if (mode == frame_mode::untyped) {
        if (auto m = decode_initial(fr)) {
          std::string again = reencode(*m);
          if (again.substr(4) != fr.body)
            std::abort();
        }
      } else if (mode == frame_mode::typed) {
        if (auto m = decode_frontend(fr)) {
          std::string again = reencode(*m);
          if (again.substr(5) != fr.body || again[0] != fr.type)
            std::abort();
          if (auto* p = std::get_if<password_packet>(&*m)) {
            (void)decode_password(*p);
            (void)decode_sasl_initial(*p);
          }
        }
        if (auto m = decode_backend(fr)) {
          std::string again = reencode(*m);
          if (again.substr(5) != fr.body || again[0] != fr.type)
            std::abort();
        }
      }
    }
  }
  return 0;
}
