// lsn_test.cpp: pg_lsn text form: parse, print, compare, difference, rejects.
#include "protocol/lsn.hpp"

#include <gtest/gtest.h>

namespace walmux {
namespace {

TEST(lsn, parses_and_prints_round_trip) {
  for (const char* text : {"0/0", "0/1", "16/B374D848", "FFFFFFFF/FFFFFFFF",
                           "1/0", "0/16B3748", "ABCDEF01/23456789"}) {
    auto parsed = lsn_parse(text);
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(lsn_to_string(*parsed), text);
  }
}

TEST(lsn, value_is_high_and_low_halves) {
  auto l = lsn_parse("16/B374D848");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->value, 0x16B374D848ull);
  EXPECT_EQ(l->high(), 0x16u);
  EXPECT_EQ(l->low(), 0xB374D848u);
}

TEST(lsn, accepts_lower_case_and_leading_zeros_prints_canonical) {
  auto l = lsn_parse("00000016/0b374d84");
  ASSERT_TRUE(l);
  EXPECT_EQ(lsn_to_string(*l), "16/B374D84");
}

TEST(lsn, rejects_malformed_text_with_postgres_error) {
  for (const char* text : {"", "/", "0/", "/0", "0", "0/0/0", "G/0", "0/G",
                           "123456789/0", "0/123456789", " 0/0", "0/0 ",
                           "0x1/0", "-1/0", "+1/0", "1 /0", "1/ 0", "1//0"}) {
    auto parsed = lsn_parse(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.err().code, "22P02");
    EXPECT_EQ(parsed.err().message,
              std::string("invalid input syntax for type pg_lsn: \"") + text +
                  "\"");
  }
}

TEST(lsn, rejects_embedded_nul) {
  std::string text("0/1\0", 4);
  EXPECT_FALSE(lsn_parse(text));
}

TEST(lsn, compares_by_position) {
  EXPECT_LT(*lsn_parse("0/FFFFFFFF"), *lsn_parse("1/0"));
  EXPECT_EQ(*lsn_parse("1/A"), *lsn_parse("1/a"));
  EXPECT_GT(*lsn_parse("2/0"), *lsn_parse("1/FFFFFFFF"));
  EXPECT_FALSE(invalid_lsn.valid());
  EXPECT_TRUE(lsn_parse("0/1")->valid());
}

TEST(lsn, difference_matches_pg_wal_lsn_diff) {
  EXPECT_EQ(lsn_diff_to_string(lsn_diff(*lsn_parse("1/0"), *lsn_parse("0/0"))),
            "4294967296");
  EXPECT_EQ(lsn_diff_to_string(lsn_diff(*lsn_parse("0/0"), *lsn_parse("1/0"))),
            "-4294967296");
  EXPECT_EQ(lsn_diff_to_string(lsn_diff(lsn(5), lsn(5))), "0");
  // The full range needs 65 bits, as PostgreSQL's numeric result does.
  EXPECT_EQ(lsn_diff_to_string(
                lsn_diff(*lsn_parse("FFFFFFFF/FFFFFFFF"), *lsn_parse("0/0"))),
            "18446744073709551615");
  EXPECT_EQ(lsn_diff_to_string(
                lsn_diff(*lsn_parse("0/0"), *lsn_parse("FFFFFFFF/FFFFFFFF"))),
            "-18446744073709551615");
}

} // namespace
} // namespace walmux
