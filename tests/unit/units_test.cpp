// units_test.cpp: integer parameter values with units, parsed and shown as
// PostgreSQL 15 does (the expected texts were checked against a real server:
// SHOW wal_sender_timeout gives 1min, work_mem '0.5MB' gives 512kB, ...).
#include "config/units.hpp"

#include <gtest/gtest.h>

namespace walmux::config {
namespace {

int64_t parse_ok(std::string_view text, unit u) {
  int64_t v = 0;
  std::string hint;
  EXPECT_TRUE(parse_int_with_unit(text, u, v, hint)) << text << " " << hint;
  return v;
}

std::string parse_fail_hint(std::string_view text, unit u) {
  int64_t v = 0;
  std::string hint;
  EXPECT_FALSE(parse_int_with_unit(text, u, v, hint)) << text;
  return hint;
}

TEST(units, memory_units_convert_to_base_unit) {
  EXPECT_EQ(parse_ok("128MB", unit::blocks), 16384);
  EXPECT_EQ(parse_ok("1GB", unit::blocks), 131072);
  EXPECT_EQ(parse_ok("8kB", unit::blocks), 1);
  EXPECT_EQ(parse_ok("1TB", unit::megabytes), 1024 * 1024);
  EXPECT_EQ(parse_ok("16MB", unit::bytes), 16 << 20);
  EXPECT_EQ(parse_ok("16384", unit::blocks), 16384); // bare = base unit
  EXPECT_EQ(parse_ok("2048B", unit::kilobytes), 2);
}

TEST(units, time_units_convert_to_base_unit) {
  EXPECT_EQ(parse_ok("60s", unit::milliseconds), 60000);
  EXPECT_EQ(parse_ok("1min", unit::milliseconds), 60000);
  EXPECT_EQ(parse_ok("2h", unit::milliseconds), 7200000);
  EXPECT_EQ(parse_ok("1d", unit::seconds), 86400);
  EXPECT_EQ(parse_ok("1500us", unit::milliseconds), 2); // rounds to nearest
  EXPECT_EQ(parse_ok("250", unit::milliseconds), 250);
}

TEST(units, rounds_fractions_to_nearest_like_postgres) {
  EXPECT_EQ(parse_ok("0.5MB", unit::kilobytes), 512);
  EXPECT_EQ(parse_ok("10kB", unit::blocks), 1); // 1.25 blocks
  EXPECT_EQ(parse_ok("12kB", unit::blocks), 2); // 1.5 rounds to even: 2
  EXPECT_EQ(parse_ok("1.5", unit::none), 2);
}

TEST(units, accepts_spaces_hex_and_sign) {
  EXPECT_EQ(parse_ok(" 16 MB ", unit::bytes), 16 << 20);
  EXPECT_EQ(parse_ok("0x10", unit::none), 16);
  EXPECT_EQ(parse_ok("-1", unit::blocks), -1);
}

TEST(units, rejects_unknown_units_with_postgres_hint) {
  EXPECT_EQ(parse_fail_hint("10 XB", unit::blocks),
            "Valid units for this parameter are \"B\", \"kB\", \"MB\", \"GB\", "
            "and \"TB\".");
  EXPECT_EQ(parse_fail_hint("10 XB", unit::milliseconds),
            "Valid units for this parameter are \"us\", \"ms\", \"s\", "
            "\"min\", \"h\", and \"d\".");
  // Unit names are case-sensitive.
  EXPECT_FALSE(parse_fail_hint("16mb", unit::bytes).empty());
  EXPECT_FALSE(parse_fail_hint("1S", unit::milliseconds).empty());
  EXPECT_FALSE(parse_fail_hint("10 MB x", unit::bytes).empty());
}

TEST(units, rejects_non_numbers_and_units_on_unitless) {
  parse_fail_hint("abc", unit::none);
  parse_fail_hint("", unit::none);
  parse_fail_hint("10MB", unit::none);
  parse_fail_hint("12abc", unit::none);
  EXPECT_EQ(parse_fail_hint("99999999999999999999", unit::none),
            "Value exceeds integer range.");
  EXPECT_EQ(parse_fail_hint("1e300", unit::none),
            "Value exceeds integer range.");
}

TEST(units, shows_largest_exact_unit) {
  EXPECT_EQ(format_int_with_unit(16384, unit::blocks), "128MB");
  EXPECT_EQ(format_int_with_unit(4096, unit::blocks), "32MB");
  EXPECT_EQ(format_int_with_unit(1, unit::blocks), "8kB");
  EXPECT_EQ(format_int_with_unit(129, unit::blocks), "1032kB");
  EXPECT_EQ(format_int_with_unit(16 << 20, unit::bytes), "16MB");
  EXPECT_EQ(format_int_with_unit(1000, unit::bytes), "1000B");
  EXPECT_EQ(format_int_with_unit(1024, unit::megabytes), "1GB");
  EXPECT_EQ(format_int_with_unit(512, unit::kilobytes), "512kB");
  EXPECT_EQ(format_int_with_unit(1048576, unit::kilobytes), "1GB");
  EXPECT_EQ(format_int_with_unit(60000, unit::milliseconds), "1min");
  EXPECT_EQ(format_int_with_unit(90000, unit::milliseconds), "90s");
  EXPECT_EQ(format_int_with_unit(1500, unit::milliseconds), "1500ms");
  EXPECT_EQ(format_int_with_unit(86400, unit::seconds), "1d");
  EXPECT_EQ(format_int_with_unit(0, unit::milliseconds), "0");
  EXPECT_EQ(format_int_with_unit(-1, unit::megabytes), "-1");
  EXPECT_EQ(format_int_with_unit(20, unit::none), "20");
}

TEST(units, shown_text_parses_back_to_same_value) {
  for (auto u : {unit::bytes, unit::kilobytes, unit::megabytes, unit::blocks,
                 unit::milliseconds, unit::seconds, unit::minutes}) {
    for (int64_t v : {int64_t{1}, int64_t{7}, int64_t{60}, int64_t{1000},
                      int64_t{1024}, int64_t{16384}, int64_t{86400000}}) {
      EXPECT_EQ(parse_ok(format_int_with_unit(v, u), u), v)
          << format_int_with_unit(v, u);
    }
  }
}

TEST(units, base_unit_names_as_postgres_prints_them) {
  EXPECT_EQ(unit_name(unit::blocks), "8kB");
  EXPECT_EQ(unit_name(unit::milliseconds), "ms");
  EXPECT_EQ(unit_name(unit::megabytes), "MB");
  EXPECT_EQ(unit_name(unit::none), "");
}

} // namespace
} // namespace walmux::config
