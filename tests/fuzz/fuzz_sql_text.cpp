// fuzz_sql_text.cpp: the SQL surface's text helpers never crash or read
// past their input, statement_end stays within it, next_word always moves
// forward or stops, and stripping casts, resolving escape strings and
// dropping catalog qualifiers never lengthen a statement; array texts
// (function arguments of the same surface) parse within their input; a
// relation's mention lies within the text.
#include "protocol/pg_text.hpp"
#include "protocol/sql_text.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace walmux::sqltext;
  if (statement_end(text) > text.size())
    std::abort();
  size_t at = 0;
  for (int i = 0; i < 8; ++i) {
    const size_t before = at;
    const std::string word = next_word(text, at);
    if (at > text.size() || (word.empty() && at < before))
      std::abort();
  }
  if (strip_casts(text).size() > text.size())
    std::abort();
  // An escape resolves to at most its own length, a quote doubled to two.
  if (plain_escape_strings(text).size() > text.size())
    std::abort();
  if (unqualify_catalog_calls(text).size() > text.size())
    std::abort();
  // Each rewritten operator (one or more characters) becomes at most
  // " NOT REGEXP " or " NOT MATCH ".
  if (regex_operators(text).size() > text.size() * 8)
    std::abort();
  (void)for_engine(text);
  if (auto e = aliased_expression(text, "x"); e && e->size() > text.size())
    std::abort();
  // An array's elements are never longer than its text.
  if (auto elements = walmux::pgtext::array_elements(text)) {
    size_t total = 0;
    for (const auto& e : *elements)
      total += e ? e->size() : 0;
    if (total > text.size())
      std::abort();
  }
  // Each rewritten word gains "()" only.
  if (call_niladic_functions(text).size() > text.size() * 3)
    std::abort();
  if (auto at = relation_mention(text, "t"); at && *at >= text.size())
    std::abort();
  (void)looks_boolean(text);
  (void)is_identifier(text);
  return 0;
}
