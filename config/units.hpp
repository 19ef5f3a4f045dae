// units.hpp: integer parameter values with units, as PostgreSQL's GUC parses
// and shows them.
//
// Every integer parameter has a base unit in which it is stored (bytes, kB,
// MB, 8kB blocks, ms, s, min, or none). Input may name any unit of the same
// kind; it is converted to the base unit and rounded to the nearest integer
// (PostgreSQL's parse_int). Output picks the largest unit that represents the
// value exactly (PostgreSQL's convert_int_from_base_unit): 16384 blocks show
// as "128MB", 60000 ms as "1min", 0 and negative values without a unit.
//
// Unit names are case-sensitive: B kB MB GB TB; us ms s min h d.
// Pure: no I/O, no globals.
#pragma once

#include "common/expected.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace walmux::config {

// Persisted nowhere; order is free to change.
enum class unit {
  none,
  bytes,
  kilobytes,
  megabytes,
  blocks, // 8kB, the cache and WAL block size
  milliseconds,
  seconds,
  minutes,
};

inline constexpr int64_t block_size = 8192;

// The base unit's name as PostgreSQL prints it in range errors and in
// pg_settings.unit: "B", "kB", "MB", "8kB", "ms", "s", "min", or "".
std::string_view unit_name(unit u);

// Parses an integer with an optional unit into the base unit `u`. On failure
// returns false and sets `hint` to PostgreSQL's hint (or leaves it empty).
// Accepts decimal, 0x hexadecimal and fractional input ("0.5GB"), surrounding
// spaces, and a unit only where `u` has a kind.
bool parse_int_with_unit(std::string_view text, unit u, int64_t& out,
                         std::string& hint);

// SHOW formatting of a value stored in base unit `u`: "128MB", "1min", "-1".
std::string format_int_with_unit(int64_t value, unit u);

} // namespace walmux::config
