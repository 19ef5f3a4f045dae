// command_line.hpp: the walmux command line.
//
//   walmux -D DIR [-c name=value]...        run a node
//   walmux init -D DIR [-c name=value]...   create a data directory
//   walmux -C name|all -D DIR [-c ...]      print effective values and exit
//   walmux --describe-config [--markdown]   print the parameter table
//   walmux --version | --help
//
// -D may be replaced by the WALMUX_DATA environment variable; --name=value is
// a synonym for -c name=value (dashes in the name become underscores), as in
// postgres. Pure: parses argv, does no I/O.
#pragma once

#include "common/expected.hpp"

#include <string>
#include <utility>
#include <vector>

namespace walmux::tools {

enum class command { run, init, show_config, describe_config, version, help };

struct command_line {
  command cmd = command::run;
  std::string data_dir;
  std::vector<std::pair<std::string, std::string>> overrides;
  bool markdown = false;
  std::string show_name; // -C: a parameter name, or "all"
};

// `env_data_dir` is WALMUX_DATA's value, or null.
expected<command_line> parse_command_line(int argc, const char* const* argv,
                                          const char* env_data_dir);

std::string usage_text();

} // namespace walmux::tools
