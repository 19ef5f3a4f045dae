// pg_text.hpp: PostgreSQL's text forms that walmux reproduces byte for byte:
// escape_json(), COPY's text format, hex and timestamptz output (DateStyle
// ISO).
//
// Pure: no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace walmux::pgtext {

// Appends `s` as a JSON string the way PostgreSQL's escape_json() does:
// quotes, \b \f \n \r \t \" \\, other control characters as \u00XX, all
// other bytes unchanged. Stops at the first NUL, like the C original.
void escape_json(std::string& out, std::string_view s);

// Appends `s` as a COPY text-format field: backslash, newline, carriage
// return and tab escaped (\\ \n \r \t), everything else unchanged, so that
// COPY FROM reads back exactly `s` (a NULL field is written as \N by the
// caller).
void escape_copy_text(std::string& out, std::string_view s);

// Appends `bytes` as lower-case hex digits, two per byte (bytea's hex
// output without its "\x", and the hex of digests).
void append_hex(std::string& out, std::string_view bytes);

// timestamptz_to_str() for a value in microseconds since 2000-01-01 UTC,
// printed in UTC: "2026-11-26 07:38:58.79817+00" (fraction without trailing
// zeros, none when zero), "infinity" / "-infinity" for PostgreSQL's limits,
// " BC" for years before 1.
std::string timestamptz_utc(int64_t pg_micros);

} // namespace walmux::pgtext
