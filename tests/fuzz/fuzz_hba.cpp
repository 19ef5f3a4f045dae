// fuzz_hba.cpp: the pg_hba.conf parser and matcher, the password file
// parser, and the pg_ident.conf parser and its maps, on hostile text.
// Input: hba text, a NUL byte, password file text (also read as an ident
// file).
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
  // Bounded repetitions ({m,n}) nested in an expression make the C
  // library's regcomp build automata of any size: not what this target
  // looks for, so such input is not read as an ident file.
  if (password_text.find('{') != std::string_view::npos)
    return 0;
  (void)parse_ident_lines(password_text);
  if (auto maps = parse_ident(password_text, "fuzz"))
    for (const auto& m : *maps)
      (void)map_allows(*maps, m.map_name, "grace@example", m.pg_username);
  return 0;
}
