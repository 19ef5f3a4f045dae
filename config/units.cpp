// units.cpp: unit conversion tables and integer parsing (see units.hpp).
#include "config/units.hpp"

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>

namespace walmux::config {
namespace {

enum class unit_kind { none, memory, time };

struct unit_entry {
  std::string_view name;
  double size; // in bytes for memory, in microseconds for time
};

// Largest first: formatting takes the first unit that fits exactly.
constexpr unit_entry memory_units[] = {
    {"TB", 1024.0 * 1024 * 1024 * 1024},
    {"GB", 1024.0 * 1024 * 1024},
    {"MB", 1024.0 * 1024},
    {"kB", 1024.0},
    {"B", 1.0},
};
constexpr unit_entry time_units[] = {
    {"d", 86400.0 * 1000 * 1000},
    {"h", 3600.0 * 1000 * 1000},
    {"min", 60.0 * 1000 * 1000},
    {"s", 1000.0 * 1000},
    {"ms", 1000.0},
    {"us", 1.0},
};

unit_kind kind_of(unit u) {
  switch (u) {
  case unit::bytes:
  case unit::kilobytes:
  case unit::megabytes:
  case unit::blocks:
    return unit_kind::memory;
  case unit::milliseconds:
  case unit::seconds:
  case unit::minutes:
    return unit_kind::time;
  case unit::none:
    break;
  }
  return unit_kind::none;
}

// The base unit's size in bytes or microseconds.
double base_size(unit u) {
  switch (u) {
  case unit::bytes:
    return 1.0;
  case unit::kilobytes:
    return 1024.0;
  case unit::megabytes:
    return 1024.0 * 1024;
  case unit::blocks:
    return static_cast<double>(block_size);
  case unit::milliseconds:
    return 1000.0;
  case unit::seconds:
    return 1000.0 * 1000;
  case unit::minutes:
    return 60.0 * 1000 * 1000;
  case unit::none:
    break;
  }
  return 1.0;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

std::string_view trim_front(std::string_view s) {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  return s;
}

const char* units_hint(unit_kind kind) {
  if (kind == unit_kind::memory)
    return "Valid units for this parameter are \"B\", \"kB\", \"MB\", \"GB\", "
           "and \"TB\".";
  return "Valid units for this parameter are \"us\", \"ms\", \"s\", \"min\", "
         "\"h\", and \"d\".";
}

} // namespace

std::string_view unit_name(unit u) {
  switch (u) {
  case unit::bytes:
    return "B";
  case unit::kilobytes:
    return "kB";
  case unit::megabytes:
    return "MB";
  case unit::blocks:
    return "8kB";
  case unit::milliseconds:
    return "ms";
  case unit::seconds:
    return "s";
  case unit::minutes:
    return "min";
  case unit::none:
    break;
  }
  return "";
}

bool parse_int_with_unit(std::string_view text, unit u, int64_t& out,
                         std::string& hint) {
  hint.clear();
  // strtoll/strtod need a terminated string; parameter values are short.
  std::string buf(text);
  const char* start = buf.c_str();
  char* end = nullptr;
  errno = 0;
  long long ival = std::strtoll(start, &end, 0);
  double value = static_cast<double>(ival);
  if (end == start)
    return false;
  if (*end == '.' || *end == 'e' || *end == 'E') {
    // Fractional input such as "0.5GB": reparse as a double.
    errno = 0;
    value = std::strtod(start, &end);
    if (end == start || errno == ERANGE || !std::isfinite(value)) {
      hint = "Value exceeds integer range.";
      return false;
    }
  } else if (errno == ERANGE) {
    hint = "Value exceeds integer range.";
    return false;
  }
  std::string_view rest = trim_front(std::string_view(end));
  if (!rest.empty()) {
    unit_kind kind = kind_of(u);
    if (kind == unit_kind::none)
      return false;
    size_t len = 0;
    while (len < rest.size() && ((rest[len] >= 'a' && rest[len] <= 'z') ||
                                 (rest[len] >= 'A' && rest[len] <= 'Z')))
      ++len;
    std::string_view name = rest.substr(0, len);
    if (!trim_front(rest.substr(len)).empty()) {
      hint = units_hint(kind);
      return false;
    }
    const unit_entry* found = nullptr;
    if (kind == unit_kind::memory) {
      for (const auto& e : memory_units)
        if (e.name == name)
          found = &e;
    } else {
      for (const auto& e : time_units)
        if (e.name == name)
          found = &e;
    }
    if (found == nullptr) {
      hint = units_hint(kind);
      return false;
    }
    value = value * found->size / base_size(u);
  }
  value = std::rint(value);
  if (!(value >= static_cast<double>(INT64_MIN) &&
        value < static_cast<double>(INT64_MAX))) {
    hint = "Value exceeds integer range.";
    return false;
  }
  out = static_cast<int64_t>(value);
  return true;
}

std::string format_int_with_unit(int64_t value, unit u) {
  unit_kind kind = kind_of(u);
  if (kind == unit_kind::none || value <= 0)
    return std::to_string(value);
  // Exact integer arithmetic in the smallest unit of the kind (bytes or
  // microseconds); values are bounded by the parameter table far below
  // overflow (at most 2^31 base units of at most 2^26 each).
  const int64_t base = static_cast<int64_t>(base_size(u));
  const int64_t total = value * base;
  auto pick = [&](const auto& table) {
    for (const auto& e : table) {
      const int64_t size = static_cast<int64_t>(e.size);
      if (size <= base || total % size == 0)
        return std::to_string(total / size) + std::string(e.name);
    }
    return std::to_string(value);
  };
  return kind == unit_kind::memory ? pick(memory_units) : pick(time_units);
}

} // namespace walmux::config
