// posix_regex.hpp: a POSIX extended regular expression (the C library's
// regcomp and regexec), compiled once and freed with its owner: what
// pg_ident.conf maps and the SQL surface's ~ operators match with.
// PostgreSQL's advanced expressions are a superset (\d, lookaheads...);
// walmux's documentation says which it takes.
//
// Pure: no I/O.
#pragma once

#include "common/expected.hpp"

#include <memory>
#include <optional>
#include <regex.h>
#include <string>

namespace walmux {

class posix_regex {
 public:
  // An error (2201B) whose message is the C library's reason when
  // `pattern` does not compile, or PostgreSQL's for what it refuses and
  // the C library would expand without bound (a quantifier on a
  // quantifier, a repetition count above 255); callers put PostgreSQL's
  // words around it.
  static expected<std::unique_ptr<posix_regex>>
  compile(const std::string& pattern, bool case_insensitive = false);
  ~posix_regex();
  posix_regex(const posix_regex&) = delete;
  posix_regex& operator=(const posix_regex&) = delete;

  // Whether `text` matches anywhere in it.
  bool matches(const std::string& text) const;
  // The text of the first parenthesized subexpression in a match of
  // `text`: nullopt when there is no match, or no such subexpression took
  // part in it.
  std::optional<std::string> first_group(const std::string& text) const;
  // How many parenthesized subexpressions the expression has.
  size_t subexpressions() const { return re_.re_nsub; }

 private:
  posix_regex() = default;
  regex_t re_{};
};

} // namespace walmux
