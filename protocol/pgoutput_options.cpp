// pgoutput_options.cpp: START_REPLICATION options of pgoutput
// (pgoutput_options.hpp).
#include "protocol/pgoutput_options.hpp"

#include "protocol/pgoutput.hpp"

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <optional>

namespace walmux::pgoutput {
namespace {

error conflicting() {
  return error{sqlstate::syntax_error, "conflicting or redundant options"};
}

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c));
}

} // namespace

expected<std::vector<std::string>>
split_identifier_list(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  auto bad = [] { return error{"42602", "invalid publication_names syntax"}; };
  while (true) {
    while (i < text.size() && is_space(text[i]))
      ++i;
    std::string name;
    if (i < text.size() && text[i] == '"') {
      ++i;
      while (true) {
        if (i >= text.size())
          return bad();
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            name += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        name += text[i++];
      }
      if (name.empty())
        return bad();
    } else {
      while (i < text.size() && text[i] != ',' && !is_space(text[i]))
        name += static_cast<char>(
            std::tolower(static_cast<unsigned char>(text[i++])));
      if (name.empty())
        return bad();
    }
    out.push_back(std::move(name));
    while (i < text.size() && is_space(text[i]))
      ++i;
    if (i == text.size())
      return out;
    if (text[i] != ',')
      return bad();
    ++i;
  }
}

expected<start_options>
parse_start_options(const std::vector<repl::option>& opts,
                    int max_proto_version) {
  start_options out;
  std::optional<long> proto;
  bool have_pubs = false, binary_given = false, messages_given = false,
       streaming_given = false, two_phase_given = false, origin_given = false;
  for (const auto& o : opts) {
    if (o.name == "proto_version") {
      if (proto)
        return conflicting();
      char* end = nullptr;
      errno = 0;
      long v = std::strtol(o.value.c_str(), &end, 10);
      if (o.value.empty() || *end != '\0')
        return error{sqlstate::invalid_parameter_value,
                     "invalid proto_version"};
      if (errno == ERANGE || v > INT32_MAX || v < INT32_MIN)
        return error{sqlstate::invalid_parameter_value,
                     "proto_version \"" + o.value + "\" out of range"};
      proto = v;
    } else if (o.name == "publication_names") {
      if (have_pubs)
        return conflicting();
      have_pubs = true;
      auto names = split_identifier_list(o.value);
      if (!names)
        return std::move(names).err();
      out.publication_names = std::move(*names);
    } else if (o.name == "binary" || o.name == "messages" ||
               o.name == "two_phase") {
      bool& given = o.name == "binary"     ? binary_given
                    : o.name == "messages" ? messages_given
                                           : two_phase_given;
      bool& value = o.name == "binary"     ? out.binary
                    : o.name == "messages" ? out.messages
                                           : out.two_phase;
      if (given)
        return conflicting();
      given = true;
      auto b = repl::option_boolean(o);
      if (!b)
        return std::move(b).err();
      value = *b;
    } else if (o.name == "streaming") {
      if (streaming_given)
        return conflicting();
      streaming_given = true;
      if (o.value == "parallel") {
        out.streaming = out.streaming_parallel = true;
      } else {
        auto b = repl::option_boolean(o);
        if (!b)
          return std::move(b).err();
        out.streaming = *b;
      }
    } else if (o.name == "origin") {
      if (origin_given)
        return conflicting();
      origin_given = true;
      if (o.value == "none")
        out.origin_none = true;
      else if (o.value != "any")
        return error{sqlstate::invalid_parameter_value,
                     "unrecognized origin value: \"" + o.value + "\""};
    } else {
      return error{sqlstate::invalid_parameter_value,
                   "unrecognized pgoutput option: " + o.name};
    }
  }
  // PostgreSQL 15's order and texts: a missing proto_version is 0.
  const int64_t requested = proto.value_or(0);
  const std::string version = std::to_string(requested);
  if (requested > max_proto_version)
    return error{sqlstate::feature_not_supported,
                 "client sent proto_version=" + version +
                     " but we only support protocol " +
                     std::to_string(max_proto_version) + " or lower"};
  if (requested < min_protocol_version)
    return error{sqlstate::feature_not_supported,
                 "client sent proto_version=" + version +
                     " but we only support protocol " +
                     std::to_string(min_protocol_version) + " or higher"};
  if (!have_pubs)
    return error{sqlstate::invalid_parameter_value,
                 "publication_names parameter missing"};
  if (out.streaming && requested < 2)
    return error{sqlstate::invalid_parameter_value,
                 "requested proto_version=" + version +
                     " does not support streaming, need 2 or higher"};
  if (out.streaming_parallel && requested < 4)
    return error{sqlstate::invalid_parameter_value,
                 "requested proto_version=" + version +
                     " does not support parallel streaming, need 4 or higher"};
  if (out.two_phase && requested < 3)
    return error{sqlstate::invalid_parameter_value,
                 "requested proto_version=" + version +
                     " does not support two-phase commit, need 3 or higher"};
  out.proto_version = static_cast<int>(requested);
  return out;
}

} // namespace walmux::pgoutput
