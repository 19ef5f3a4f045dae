// fuzz_hba.cpp: the pg_hba.conf parser and matcher, and the password file
// parser, on hostile text. Input: hba text, a NUL byte, password file text.
#include "protocol/hba.hpp"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace walmux::hba;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto nul = in.find('\0');
  std::string_view rules_text = in.substr(0, nul);
  std::string_view password_text =
      nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);
  if (auto rules = parse_hba(rules_text, "fuzz")) {
    static const connection v4{*parse_address("127.0.0.1"), "alice", "app"};
    static const connection v6{*parse_address("::1"), "all", "replication"};
    (void)match(*rules, v4);
    (void)match(*rules, v6);
  }
  (void)parse_password_file(password_text, "fuzz");
  return 0;
}
