// pg_text.cpp: see pg_text.hpp.
#include "protocol/pg_text.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <cstdio>

namespace walmux::pgtext {

namespace {

// Bytes escape_json must not copy as they are: controls, '"', '\\'.
constexpr auto special = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c)
    t[static_cast<size_t>(c)] = true;
  t['"'] = true;
  t['\\'] = true;
  return t;
}();

} // namespace

void escape_copy_text(std::string& out, std::string_view s) {
  for (char ch : s) {
    switch (ch) {
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      out += ch;
    }
  }
}

void append_hex(std::string& out, std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  out.reserve(out.size() + 2 * bytes.size());
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
}

void escape_json(std::string& out, std::string_view s) {
  out += '"';
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    // Copy the longest run of ordinary bytes at once.
    const char* run = p;
    while (p < end && !special[static_cast<unsigned char>(*p)])
      ++p;
    out.append(run, static_cast<size_t>(p - run));
    if (p == end)
      break;
    const char c = *p++;
    switch (c) {
    case '\0':
      out += '"'; // a C string ends here
      return;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    default: {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    }
    }
  }
  out += '"';
}

namespace {

// Days since 2000-01-01 -> civil date (proleptic Gregorian).
void civil_from_days(int64_t days, int64_t& y, int& m, int& d) {
  // Shift to 0000-03-01 based era arithmetic (Howard Hinnant's algorithm).
  int64_t z = days + 730425; // 2000-01-01 is day 730425 after 0000-03-01
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  if (m <= 2)
    ++y;
}

} // namespace

std::string timestamptz_utc(int64_t pg_micros) {
  if (pg_micros == INT64_MAX)
    return "infinity";
  if (pg_micros == INT64_MIN)
    return "-infinity";
  constexpr int64_t usecs_per_day = 86400LL * 1000000;
  int64_t days = pg_micros / usecs_per_day;
  int64_t rem = pg_micros % usecs_per_day;
  if (rem < 0) {
    rem += usecs_per_day;
    --days;
  }
  int64_t year = 0;
  int month = 0, day = 0;
  civil_from_days(days, year, month, day);
  int64_t secs = rem / 1000000;
  int64_t frac = rem % 1000000;
  bool bc = year <= 0;
  int64_t shown_year = bc ? 1 - year : year;
  char buf[96];
  int n =
      std::snprintf(buf, sizeof buf, "%04lld-%02d-%02d %02lld:%02lld:%02lld",
                    static_cast<long long>(shown_year), month, day,
                    static_cast<long long>(secs / 3600),
                    static_cast<long long>(secs / 60 % 60),
                    static_cast<long long>(secs % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (frac != 0) {
    char f[8];
    std::snprintf(f, sizeof f, ".%06lld", static_cast<long long>(frac));
    std::string fs(f);
    while (fs.back() == '0')
      fs.pop_back();
    out += fs;
  }
  out += "+00";
  if (bc)
    out += " BC";
  return out;
}

namespace {

error malformed_array(std::string_view text, std::string detail) {
  return error{"22P02",
               "malformed array literal: \"" + std::string(text) + "\""}
      .with_detail(std::move(detail));
}

} // namespace

expected<std::vector<std::optional<std::string>>>
array_elements(std::string_view text) {
  std::vector<std::optional<std::string>> out;
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
    ++i;
  if (i >= text.size() || text[i] != '{')
    return malformed_array(
        text, "Array value must start with \"{\" or dimension information.");
  int depth = 0;
  bool expect_element = true; // after "{" or ","
  bool after_comma = false;
  while (i < text.size()) {
    const char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '{') {
      ++depth;
      ++i;
      expect_element = true;
    } else if (c == '}') {
      if (depth == 0 || after_comma)
        return malformed_array(text, "Unexpected \"}\" character.");
      --depth;
      ++i;
      expect_element = false;
      if (depth == 0)
        break;
    } else if (c == ',') {
      if (expect_element)
        return malformed_array(text, "Unexpected \",\" character.");
      ++i;
      expect_element = true;
      after_comma = true;
    } else {
      if (!expect_element || depth == 0)
        return malformed_array(text, "Unexpected array element.");
      std::string element;
      bool quoted = false;
      if (c == '"') {
        quoted = true;
        ++i;
        bool closed = false;
        while (i < text.size()) {
          if (text[i] == '\\' && i + 1 < text.size()) {
            element += text[i + 1];
            i += 2;
          } else if (text[i] == '"') {
            ++i;
            closed = true;
            break;
          } else {
            element += text[i++];
          }
        }
        if (!closed)
          return malformed_array(text, "Unexpected end of input.");
      } else {
        while (i < text.size() && text[i] != ',' && text[i] != '}' &&
               text[i] != '{' && text[i] != '"') {
          if (text[i] == '\\' && i + 1 < text.size()) {
            element += text[i + 1];
            i += 2;
          } else {
            element += text[i++];
          }
        }
        while (!element.empty() &&
               std::isspace(static_cast<unsigned char>(element.back())))
          element.pop_back();
      }
      const bool is_null =
          !quoted && element.size() == 4 &&
          std::tolower(static_cast<unsigned char>(element[0])) == 'n' &&
          std::tolower(static_cast<unsigned char>(element[1])) == 'u' &&
          std::tolower(static_cast<unsigned char>(element[2])) == 'l' &&
          std::tolower(static_cast<unsigned char>(element[3])) == 'l';
      if (is_null)
        out.push_back(std::nullopt);
      else
        out.push_back(std::move(element));
      expect_element = false;
      after_comma = false;
    }
  }
  if (depth != 0)
    return malformed_array(text, "Unexpected end of input.");
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
    ++i;
  if (i != text.size())
    return malformed_array(text, "Junk after closing right brace.");
  return out;
}

size_t character_count(std::string_view utf8) {
  return static_cast<size_t>(
      std::count_if(utf8.begin(), utf8.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
      }));
}

} // namespace walmux::pgtext
