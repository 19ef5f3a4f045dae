// copy_rows_test.cpp: COPY's text and binary row formats as the apply role
// writes them, byte for byte, and how a row's values choose between them.
#include "protocol/copy_rows.hpp"

#include <gtest/gtest.h>

namespace walmux::copyrows {
namespace {

pgoutput::column_value value(char format, std::string data = {}) {
  return {format, std::move(data)};
}

TEST(copy_rows, text_rows_escape_and_mark_null) {
  std::string out;
  append_text_row(out, {value('t', "a\tb"), value('n'), value('t', "x\\y\n")});
  append_text_row(out, {value('t', "")});
  EXPECT_EQ(out, "a\\tb\t\\N\tx\\\\y\\n\n\n");
}

TEST(copy_rows, binary_rows_carry_counts_lengths_and_null) {
  std::string out(binary_header);
  append_binary_row(out, {value('b', std::string("\0\0\0\x2a", 4)), value('n'),
                          value('b', "hi")});
  out += binary_trailer;
  const std::string want = std::string("PGCOPY\n\377\r\n\0", 11) +
                           std::string(8, '\0') +   // flags, extension
                           std::string("\0\3", 2) + // three fields
                           std::string("\0\0\0\4\0\0\0\x2a", 8) +
                           std::string("\xff\xff\xff\xff", 4) + // NULL
                           std::string("\0\0\0\2hi", 6) + "\xff\xff";
  EXPECT_EQ(out, want);
}

TEST(copy_rows, a_row_chooses_its_format_by_its_values) {
  EXPECT_EQ(format_of({value('t', "1"), value('n')}), copy_format::text);
  EXPECT_EQ(format_of({value('b', "1"), value('n')}), copy_format::binary);
  EXPECT_EQ(format_of({value('b', "1"), value('t', "x")}), copy_format::none);
  EXPECT_EQ(format_of({value('n')}), copy_format::text);
}

} // namespace
} // namespace walmux::copyrows
