// pg_text_test.cpp: PostgreSQL's text forms (protocol/pg_text.hpp) that no
// other test covers: COPY's text-format field escaping, and reading an
// array's text form.
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

// An array's text form as PostgreSQL's array_in reads it: quoted and
// unquoted elements, backslashes, NULL, nesting flattened, and its errors.
TEST(pg_text, array_elements) {
  using elements = std::vector<std::optional<std::string>>;
  auto a = array_elements(" { a , \"b c\",NULL,\"NULL\", null ,x\\,y} ");
  ASSERT_TRUE(a) << a.err().message;
  EXPECT_EQ(*a,
            (elements{"a", "b c", std::nullopt, "NULL", std::nullopt, "x,y"}));
  auto nested = array_elements("{{1,2},{3,4}}");
  ASSERT_TRUE(nested);
  EXPECT_EQ(*nested, (elements{"1", "2", "3", "4"}));
  auto empty = array_elements("{}");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  for (const char* bad :
       {"x", "", "{a", "{a,}", "{,a}", "{a} x", "{\"a}", "{a}}"}) {
    auto r = array_elements(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.err().code, "22P02") << bad;
    EXPECT_EQ(r.err().message,
              std::string("malformed array literal: \"") + bad + "\"");
  }
}

} // namespace
} // namespace walmux::pgtext
