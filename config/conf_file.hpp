// conf_file.hpp: reads configuration files in postgresql.conf syntax.
//
// A file is a sequence of lines `name [=] value [# comment]`. A name is an
// identifier, optionally qualified once (`rds.logical_replication`), matched
// case-insensitively. A value is a single-quoted string ('' and backslash
// escapes as in PostgreSQL) or one bare token (number with unit, identifier,
// path). Blank lines and comments are ignored; anything else is a syntax error
// reported with PostgreSQL's text:
//   syntax error in file "/d/walmux.conf" line 3, near token "x"
// `include 'f'`, `include_if_exists 'f'` and `include_dir 'd'` (files ending
// in .conf, in name order) read further files relative to the including
// file's directory, up to PostgreSQL's nesting depth of 10. Later lines
// override earlier ones when the settings are applied.
//
// conf_parse_text is pure (fuzzed); conf_read_file does the file I/O.
#pragma once

#include "common/expected.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace walmux::config {

struct conf_item {
  std::string name;  // lower case
  std::string value; // quotes removed, escapes resolved
  std::string file;  // the file as named when it was opened
  int line = 0;
};

// Parses one file's text. `file` is used in error messages and items only.
// Include directives are returned as items named "include",
// "include_if_exists" and "include_dir".
expected<std::vector<conf_item>> conf_parse_text(std::string_view text,
                                                 const std::string& file);

// Reads `path` and every file it includes, in order. A missing `path` is an
// error: could not open configuration file "<path>": No such file or directory
expected<std::vector<conf_item>> conf_read_file(const std::string& path);

// Quotes a string value for writing it into a configuration file.
std::string conf_quote(std::string_view value);

} // namespace walmux::config
