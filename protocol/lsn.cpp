// lsn.cpp: pg_lsn text parsing and printing (see lsn.hpp).
#include "protocol/lsn.hpp"

#include <algorithm>
#include <cstdio>

namespace walmux {
namespace {

// PostgreSQL's MAXPG_LSNCOMPONENT: hex digits per half.
constexpr size_t max_component_digits = 8;

int hex_digit_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// Consumes 1..8 hex digits from the front of `text` into `out`; returns the
// number of digits consumed, 0 when the component is empty or too long.
size_t parse_component(std::string_view text, uint32_t& out) {
  size_t n = 0;
  uint32_t value = 0;
  while (n < text.size() && hex_digit_value(text[n]) >= 0) {
    if (n == max_component_digits)
      return 0;
    value = (value << 4) | static_cast<uint32_t>(hex_digit_value(text[n]));
    ++n;
  }
  out = value;
  return n;
}

error syntax_error(std::string_view text) {
  return error{sqlstate::invalid_text_representation,
               "invalid input syntax for type pg_lsn: \"" + std::string(text) +
                   "\""};
}

} // namespace

expected<lsn> lsn_parse(std::string_view text) {
  uint32_t high = 0;
  uint32_t low = 0;
  size_t n1 = parse_component(text, high);
  if (n1 == 0 || n1 >= text.size() || text[n1] != '/')
    return syntax_error(text);
  auto rest = text.substr(n1 + 1);
  size_t n2 = parse_component(rest, low);
  if (n2 == 0 || n2 != rest.size())
    return syntax_error(text);
  return lsn{(static_cast<uint64_t>(high) << 32) | low};
}

std::string lsn_to_string(lsn position) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%X/%X", position.high(), position.low());
  return buf;
}

__int128 lsn_diff(lsn a, lsn b) {
  return static_cast<__int128>(a.value) - static_cast<__int128>(b.value);
}

std::string lsn_diff_to_string(__int128 diff) {
  bool negative = diff < 0;
  // |diff| < 2^64, so the magnitude fits in unsigned __int128 without overflow.
  unsigned __int128 magnitude = negative ? static_cast<unsigned __int128>(-diff)
                                         : static_cast<unsigned __int128>(diff);
  std::string digits;
  do {
    digits.push_back(static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  } while (magnitude != 0);
  if (negative)
    digits.push_back('-');
  std::reverse(digits.begin(), digits.end());
  return digits;
}

} // namespace walmux
