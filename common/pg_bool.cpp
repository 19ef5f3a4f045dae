// pg_bool.cpp: see pg_bool.hpp.
#include "common/pg_bool.hpp"

#include <cctype>
#include <string>

namespace walmux {

bool parse_pg_bool(std::string_view text, bool& out) {
  std::string v;
  for (char c : text)
    v += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (v.empty())
    return false;
  auto prefix_of = [&](std::string_view word, size_t min_len) {
    return v.size() >= min_len && v.size() <= word.size() &&
           word.compare(0, v.size(), v) == 0;
  };
  if (prefix_of("true", 1) || prefix_of("yes", 1) || v == "on" || v == "1") {
    out = true;
    return true;
  }
  if (prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) ||
      v == "0") {
    out = false;
    return true;
  }
  return false;
}

} // namespace walmux
