// golden.hpp: reading the captured PostgreSQL output in tests/data/ (see
// tests/data/capture.sh): one record per line, "lsn \t xid \t hex".
#pragma once

#include <string>
#include <vector>

namespace walmux::testing {

struct golden_record {
  std::string lsn; // text, e.g. 0/153D150
  std::string xid; // text, may be empty
  std::string bytes;
};

// Reads tests/data/<relative>; an empty vector if the file is missing.
std::vector<golden_record> read_golden(const std::string& relative);
// Reads a file of the same format at any path.
std::vector<golden_record> read_golden_file(const std::string& path);

std::string hex_decode(const std::string& hex);

} // namespace walmux::testing
