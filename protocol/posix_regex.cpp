// posix_regex.cpp: see posix_regex.hpp.
#include "protocol/posix_regex.hpp"

namespace walmux {

namespace {

// What PostgreSQL refuses and the C library would expand without bound:
// a quantifier on a quantifier (a++, a*{2}: glibc copies the subtree at
// each one, so forty of them take gigabytes) and a repetition count above
// PostgreSQL's 255. The problem in PostgreSQL's words, or nullopt.
std::optional<std::string> refused_shape(const std::string& p) {
  bool after_quantifier = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\') {
      ++i; // an escaped character is an atom
      after_quantifier = false;
    } else if (c == '[') {
      // A bracket expression is an atom; "]" first in it is a member.
      size_t j = i + 1;
      if (j < p.size() && p[j] == '^')
        ++j;
      if (j < p.size() && p[j] == ']')
        ++j;
      while (j < p.size() && p[j] != ']')
        ++j;
      i = j;
      after_quantifier = false;
    } else if (c == '*' || c == '+' || c == '?' || c == '{') {
      if (after_quantifier)
        return std::string("quantifier operand invalid");
      if (c == '{') {
        long count = 0;
        for (++i; i < p.size() && p[i] != '}'; ++i)
          if (p[i] == ',')
            count = 0;
          else if (p[i] >= '0' && p[i] <= '9' &&
                   (count = count * 10 + (p[i] - '0')) > 255)
            return std::string("invalid repetition count(s)");
      }
      after_quantifier = true;
    } else {
      after_quantifier = false;
    }
  }
  return std::nullopt;
}

} // namespace

expected<std::unique_ptr<posix_regex>>
posix_regex::compile(const std::string& pattern, bool case_insensitive) {
  if (auto problem = refused_shape(pattern))
    return error{"2201B", *problem};
  regex_t re;
  const int rc = ::regcomp(&re, pattern.c_str(),
                           REG_EXTENDED | (case_insensitive ? REG_ICASE : 0));
  if (rc != 0) {
    char reason[256];
    ::regerror(rc, &re, reason, sizeof reason);
    return error{"2201B", reason};
  }
  std::unique_ptr<posix_regex> out(new posix_regex);
  out->re_ = re; // the object owns it now: one regfree, in its destructor
  return out;
}

posix_regex::~posix_regex() {
  ::regfree(&re_);
}

bool posix_regex::matches(const std::string& text) const {
  return ::regexec(&re_, text.c_str(), 0, nullptr, 0) == 0;
}

std::optional<std::string>
posix_regex::first_group(const std::string& text) const {
  regmatch_t groups[2];
  if (re_.re_nsub < 1 || ::regexec(&re_, text.c_str(), 2, groups, 0) != 0 ||
      groups[1].rm_so < 0)
    return std::nullopt;
  return text.substr(static_cast<size_t>(groups[1].rm_so),
                     static_cast<size_t>(groups[1].rm_eo - groups[1].rm_so));
}

} // namespace walmux
