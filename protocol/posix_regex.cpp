// posix_regex.cpp: see posix_regex.hpp.
#include "protocol/posix_regex.hpp"

namespace walmux {

expected<std::unique_ptr<posix_regex>>
posix_regex::compile(const std::string& pattern, bool case_insensitive) {
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
