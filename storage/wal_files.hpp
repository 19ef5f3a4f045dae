// wal_files.hpp: the names of the WAL store's files (segments, their
// summaries, START); internal to storage/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace walmux::storage {

inline constexpr const char* start_file = "START";
inline constexpr uint16_t start_version = 1;
inline constexpr std::string_view index_suffix = ".index";

// A segment file's name: its number in 16 upper-case hex digits.
inline bool parse_segment_name(const std::string& name, uint64_t& number) {
  if (name.size() != 16)
    return false;
  number = 0;
  for (char c : name) {
    int v = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                     : -1;
    if (v < 0)
      return false;
    number = number << 4 | static_cast<uint64_t>(v);
  }
  return true;
}

// "<segment>.index" or its temporary "<segment>.index.tmp".
inline bool parse_index_name(const std::string& name, uint64_t& number) {
  if (name.size() < 16 + index_suffix.size())
    return false;
  const std::string rest = name.substr(16);
  if (rest != index_suffix && rest != std::string(index_suffix) + ".tmp")
    return false;
  return parse_segment_name(name.substr(0, 16), number);
}

} // namespace walmux::storage
