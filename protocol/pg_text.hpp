// pg_text.hpp: PostgreSQL's text forms that walmux reproduces byte for byte:
// escape_json(), COPY's text format, hex and timestamptz output (DateStyle
// ISO), and the one it reads: an array's text form; characters counted as
// error positions count them.
//
// Pure: no I/O.
#pragma once

#include "common/expected.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// The elements of an array in PostgreSQL's text form ("{a,\"b c\",NULL}"),
// nested arrays flattened in order; nullopt for a NULL element. An error
// (22P02 malformed array literal, with PostgreSQL's detail) for text
// that is not one. Dimension decorations ("[1:2]={...}") are refused.
expected<std::vector<std::optional<std::string>>>
array_elements(std::string_view text);

// The characters of UTF-8 text as PostgreSQL counts them for an error's
// position: every byte that does not continue a sequence.
size_t character_count(std::string_view utf8);

} // namespace walmux::pgtext
