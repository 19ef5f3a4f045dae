// pgoutput_options.hpp: the options of START_REPLICATION for the pgoutput
// plugin, parsed with PostgreSQL's rules and error texts (pgoutput.c's
// parse_output_parameters and the checks after it).
//
// Pure: no I/O.
#pragma once

#include "common/expected.hpp"
#include "protocol/repl_command.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace walmux::pgoutput {

struct start_options {
  int proto_version = 0;
  std::vector<std::string> publication_names;
  bool binary = false;
  bool messages = false;
  bool streaming = false; // on or parallel
  bool streaming_parallel = false;
  bool two_phase = false;
  bool origin_none = false; // origin 'none': drop transactions with an origin
};

// `max_proto_version` is what the server offers (the upstream's, as walmux
// reports the upstream's server_version). Errors: 42601 repeated option,
// 22023 missing or unknown option or bad value, 0A000 a protocol version
// outside 1..max or a feature the version lacks, 42602 bad
// publication_names syntax.
expected<start_options>
parse_start_options(const std::vector<repl::option>& opts,
                    int max_proto_version);

// SplitIdentifierString on ',': unquoted names are downcased, "quoted"
// ones kept as written ("" for a quote). Error 42602 on bad syntax.
expected<std::vector<std::string>> split_identifier_list(std::string_view text);

} // namespace walmux::pgoutput
