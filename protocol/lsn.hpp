// lsn.hpp: the log sequence number, with PostgreSQL's pg_lsn text form.
//
// An LSN is a 64-bit byte position in the upstream's WAL. Its text form is
// two hexadecimal numbers of 1 to 8 digits each, high and low 32 bits,
// separated by '/': "16/B374D848". Parsing follows pg_lsn_in exactly (no
// sign, no spaces, no "0x", nothing after the second number); printing uses
// upper-case digits without padding, as PostgreSQL does. The zero LSN is
// PostgreSQL's InvalidXLogRecPtr.
//
// Pure: no I/O, no globals. Safe to use from any thread.
#pragma once

#include "common/expected.hpp"

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace walmux {

struct lsn {
  uint64_t value = 0;

  constexpr lsn() = default;
  constexpr explicit lsn(uint64_t v)
      : value(v) {}

  constexpr bool valid() const { return value != 0; }
  constexpr uint32_t high() const { return static_cast<uint32_t>(value >> 32); }
  constexpr uint32_t low() const { return static_cast<uint32_t>(value); }

  friend constexpr auto operator<=>(lsn, lsn) = default;
};

inline constexpr lsn invalid_lsn{};

// Parses "X/Y". Error: 22P02, invalid input syntax for type pg_lsn: "<text>".
expected<lsn> lsn_parse(std::string_view text);

// Formats as "X/Y", e.g. "0/16B3748", "16/B374D848".
std::string lsn_to_string(lsn position);

// a - b in bytes, as pg_wal_lsn_diff(a, b) computes it. The result may be
// negative and needs 65 bits, hence __int128.
__int128 lsn_diff(lsn a, lsn b);

// Decimal text of a difference, e.g. "-18446744073709551615".
std::string lsn_diff_to_string(__int128 diff);

} // namespace walmux
