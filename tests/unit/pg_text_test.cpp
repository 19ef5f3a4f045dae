// pg_text_test.cpp: PostgreSQL's text forms (protocol/pg_text.hpp) that no
// other test covers: COPY's text-format field escaping.
#include "protocol/pg_text.hpp"

#include <gtest/gtest.h>

namespace walmux::pgtext {
namespace {

TEST(pg_text, copy_text_escapes_what_copy_from_reads_specially) {
  std::string out;
  escape_copy_text(out, "tab\there\nline\rcr back\\slash \\N plain é");
  EXPECT_EQ(out, "tab\\there\\nline\\rcr back\\\\slash \\\\N plain é");
  out.clear();
  escape_copy_text(out, "");
  EXPECT_EQ(out, "");
}

} // namespace
} // namespace walmux::pgtext
