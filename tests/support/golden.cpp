// golden.cpp: see golden.hpp.
#include "tests/support/golden.hpp"

#include <fstream>
#include <sstream>

namespace walmux::testing {

std::string hex_decode(const std::string& hex) {
  auto nibble = [](char c) {
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1]));
  return out;
}

std::vector<golden_record> read_golden(const std::string& relative) {
  return read_golden_file(WALMUX_SOURCE_DIR "/tests/data/" + relative);
}

std::vector<golden_record> read_golden_file(const std::string& path) {
  std::ifstream in(path);
  std::vector<golden_record> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    golden_record r;
    std::string hex;
    std::getline(fields, r.lsn, '\t');
    std::getline(fields, r.xid, '\t');
    std::getline(fields, hex, '\t');
    r.bytes = hex_decode(hex);
    out.push_back(std::move(r));
  }
  return out;
}

} // namespace walmux::testing
