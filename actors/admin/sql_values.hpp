// sql_values.hpp: the admin catalog's value constructors (PostgreSQL's
// text forms of its types) and argument readers (PostgreSQL's input rules
// and errors), shared by the files that define its tables and functions.
// Internal to actors/admin.
#pragma once

#include "actors/admin/sql_engine.hpp"
#include "actors/common/clock.hpp"
#include "common/expected.hpp"
#include "protocol/lsn.hpp"
#include "protocol/pg_text.hpp"
#include "protocol/stream.hpp"

#include <cctype>
#include <charconv>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace walmux::actors::admin {

inline sql_value text(std::string s) {
  return sql_value{std::move(s)};
}
inline sql_value integer(int64_t v) {
  return sql_value{v};
}
inline sql_value boolean(bool b) {
  return sql_value{int64_t{b ? 1 : 0}};
}
inline sql_value null() {
  return sql_value{std::monostate{}};
}
inline sql_value lsn_value(lsn at) {
  return text(lsn_to_string(at));
}

inline sql_value timestamp_value(int64_t unix_micros) {
  return unix_micros == 0
             ? null()
             : text(pgtext::timestamptz_utc(unix_micros -
                                            stream::postgres_epoch_offset_us));
}

// An interval as PostgreSQL prints a short one: 00:00:01.234567.
inline sql_value interval_value(int64_t us) {
  if (us < 0)
    return null();
  char out[48];
  const int64_t seconds = us / 1000000;
  std::snprintf(out, sizeof out, "%02lld:%02lld:%02lld",
                static_cast<long long>(seconds / 3600),
                static_cast<long long>(seconds / 60 % 60),
                static_cast<long long>(seconds % 60));
  std::string shown = out;
  if (us % 1000000 != 0) {
    std::snprintf(out, sizeof out, ".%06lld",
                  static_cast<long long>(us % 1000000));
    std::string fraction = out;
    while (fraction.back() == '0')
      fraction.pop_back();
    shown += fraction;
  }
  return text(shown);
}

inline std::optional<std::string> text_arg(const std::vector<sql_value>& args,
                                           size_t i) {
  if (i >= args.size())
    return std::nullopt;
  if (auto* s = std::get_if<std::string>(&args[i]))
    return *s;
  if (auto* n = std::get_if<int64_t>(&args[i]))
    return std::to_string(*n);
  return std::nullopt;
}

// PostgreSQL's boolean input: true/false, t/f, on/off, yes/no, 1/0.
inline expected<bool> bool_arg(const std::vector<sql_value>& args, size_t i,
                               bool absent) {
  if (i >= args.size() || std::holds_alternative<std::monostate>(args[i]))
    return absent;
  if (auto* n = std::get_if<int64_t>(&args[i]))
    return *n != 0;
  std::string s = text_arg(args, i).value_or("");
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "t" || s == "true" || s == "on" || s == "yes" || s == "1")
    return true;
  if (s == "f" || s == "false" || s == "off" || s == "no" || s == "0")
    return false;
  return error{sqlstate::invalid_text_representation,
               "invalid input syntax for type boolean: \"" + s + "\""};
}

inline expected<lsn> lsn_arg(const std::vector<sql_value>& args, size_t i) {
  auto s = text_arg(args, i);
  if (!s)
    return error{sqlstate::invalid_text_representation,
                 "invalid input syntax for type pg_lsn: \"\""};
  return lsn_parse(*s);
}

// An integer argument of PostgreSQL type `type` in [min, max]: decimal
// digits with an optional sign, else 22P02 "invalid input syntax for type
// <type>".
inline expected<int64_t> integer_from_text(const std::string& s,
                                           const char* type, int64_t min,
                                           int64_t max) {
  int64_t v = 0;
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || p != end || v < min || v > max)
    return error{sqlstate::invalid_text_representation,
                 "invalid input syntax for type " + std::string(type) + ": \"" +
                     s + "\""};
  return v;
}

// PostgreSQL's oid input: an unsigned 32-bit decimal.
inline expected<uint32_t> oid_from_text(const std::string& s) {
  if (!s.empty() && s[0] == '-')
    return error{sqlstate::invalid_text_representation,
                 "invalid input syntax for type oid: \"" + s + "\""};
  auto v = integer_from_text(s, "oid", 0, UINT32_MAX);
  if (!v)
    return std::move(v).err();
  return static_cast<uint32_t>(*v);
}

inline error null_argument(const char* what) {
  return error{sqlstate::invalid_parameter_value,
               std::string(what) + " must not be null"};
}

} // namespace walmux::actors::admin
