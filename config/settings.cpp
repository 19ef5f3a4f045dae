// settings.cpp: value parsing and checking, SHOW, reload, generated files
// (see settings.hpp).
#include "config/settings.hpp"

#include "common/pg_bool.hpp"
#include "config/conf_file.hpp"

#include <algorithm>
#include <cassert>
#include <cctype>

namespace walmux::config {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

int64_t default_int_of(const parameter_def& def, const machine_facts& facts) {
  return def.dynamic_default ? def.dynamic_default(facts) : def.default_int;
}

param_value default_of(const parameter_def& def, const machine_facts& facts) {
  switch (def.type) {
  case param_type::boolean:
    return def.default_bool;
  case param_type::integer:
    return default_int_of(def, facts);
  case param_type::string:
  case param_type::enumeration:
    return std::string(def.default_string);
  }
  return std::string();
}

std::string format_value(const parameter_def& def, const param_value& v) {
  switch (def.type) {
  case param_type::boolean:
    return std::get<bool>(v) ? "on" : "off";
  case param_type::integer:
    return format_int_with_unit(std::get<int64_t>(v), def.base_unit);
  case param_type::string:
  case param_type::enumeration:
    return std::get<std::string>(v);
  }
  return {};
}

error invalid_value(std::string_view name, std::string_view text) {
  return error{sqlstate::invalid_parameter_value,
               "invalid value for parameter " + quoted(name) + ": " +
                   quoted(text)};
}

// Parses `text` as a value of `def`, or returns PostgreSQL's error.
expected<param_value> parse_value(const parameter_def& def,
                                  std::string_view text) {
  switch (def.type) {
  case param_type::boolean: {
    bool b = false;
    if (!parse_pg_bool(text, b))
      return error{sqlstate::invalid_parameter_value,
                   "parameter " + quoted(def.name) +
                       " requires a Boolean value"};
    return param_value{b};
  }
  case param_type::integer: {
    int64_t v = 0;
    std::string hint;
    if (!parse_int_with_unit(text, def.base_unit, v, hint))
      return invalid_value(def.name, text).with_hint(hint);
    if (v < def.min || v > def.max) {
      auto u = unit_name(def.base_unit);
      std::string unit_text = u.empty() ? "" : " " + std::string(u);
      return error{sqlstate::invalid_parameter_value,
                   std::to_string(v) + unit_text +
                       " is outside the valid range for parameter " +
                       quoted(def.name) + " (" + std::to_string(def.min) +
                       " .. " + std::to_string(def.max) + ")"};
    }
    if (def.check) {
      if (auto detail = def.check(v); !detail.empty())
        return error{sqlstate::invalid_parameter_value,
                     "invalid value for parameter " + quoted(def.name) + ": " +
                         std::to_string(v)}
            .with_detail(detail);
    }
    return param_value{v};
  }
  case param_type::enumeration: {
    // Matched without regard to case, kept as the table spells it
    // (TLSv1.2), as PostgreSQL shows an enum.
    std::string v = lower(text);
    for (auto allowed : def.enum_values)
      if (lower(allowed) == v)
        return param_value{std::string(allowed)};
    std::string hint = "Available values: ";
    for (size_t i = 0; i < def.enum_values.size(); ++i)
      hint += (i ? ", " : "") + std::string(def.enum_values[i]);
    return invalid_value(def.name, text).with_hint(hint + ".");
  }
  case param_type::string: {
    if (def.name == "upstream_publications") {
      if (auto list = split_identifier_list(text, def.name); !list)
        return std::move(list).err();
    }
    return param_value{std::string(text)};
  }
  }
  return invalid_value(def.name, text);
}

} // namespace

settings::settings(machine_facts facts)
    : facts_(facts) {
  for (const auto& def : parameter_table()) {
    values_.push_back(default_of(def, facts_));
    sources_.push_back(value_source::default_value);
  }
}

size_t settings::index_of(std::string_view name) const {
  const parameter_def* def = find_parameter(name);
  assert(def != nullptr);
  return static_cast<size_t>(def - parameter_table().data());
}

status settings::set(std::string_view name, std::string_view text,
                     value_source source, std::string_view where) {
  const parameter_def* def = find_parameter(name);
  if (def == nullptr)
    return error{sqlstate::undefined_object,
                 "unrecognized configuration parameter " + quoted(name)}
        .with_context(std::string(where));
  if (def->context == param_context::internal)
    return error{sqlstate::cant_change_runtime_param,
                 "parameter " + quoted(def->name) + " cannot be changed"}
        .with_context(std::string(where));
  auto parsed = parse_value(*def, text);
  if (!parsed)
    return std::move(parsed).err().with_context(std::string(where));
  size_t i = index_of(def->name);
  values_[i] = std::move(*parsed);
  sources_[i] = source;
  return ok();
}

status settings::check_cross_rules() const {
  int64_t workers = get_int("max_logical_replication_workers");
  int64_t processes = get_int("max_worker_processes");
  if (workers > processes)
    return error{sqlstate::invalid_parameter_value,
                 "invalid value for parameter "
                 "\"max_logical_replication_workers\": " +
                     std::to_string(workers)}
        .with_detail("\"max_logical_replication_workers\" (" +
                     std::to_string(workers) +
                     ") must not exceed \"max_worker_processes\" (" +
                     std::to_string(processes) + ").")
        .with_hint("Raise \"max_worker_processes\" or lower "
                   "\"max_logical_replication_workers\".");
  if (!get_string("upstream_conninfo").empty() &&
      upstream_publications().empty())
    return error{sqlstate::invalid_parameter_value,
                 "parameter \"upstream_publications\" must be set when "
                 "\"upstream_conninfo\" is set"}
        .with_hint("Name the upstream publications walmux should ingest, e.g. "
                   "upstream_publications = 'testpub'.");
  return ok();
}

expected<std::string> settings::show(std::string_view name) const {
  const parameter_def* def = find_parameter(name);
  if (def == nullptr)
    return error{sqlstate::undefined_object,
                 "unrecognized configuration parameter " + quoted(name)};
  if (def->name == "wal_level")
    return std::string(wal_level());
  if (def->name == "rds.logical_wal_cache")
    return format_int_with_unit(logical_wal_cache_bytes() / block_size,
                                unit::blocks);
  return format_value(*def, values_[index_of(def->name)]);
}

std::vector<show_row> settings::show_all() const {
  std::vector<show_row> rows;
  for (const auto& def : parameter_table())
    rows.push_back(show_row{std::string(def.name), *show(def.name),
                            std::string(def.description)});
  std::sort(rows.begin(), rows.end(), [](const show_row& a, const show_row& b) {
    return a.name < b.name;
  });
  return rows;
}

value_source settings::source_of(std::string_view name) const {
  return sources_[index_of(name)];
}

bool settings::get_bool(std::string_view name) const {
  return std::get<bool>(values_[index_of(name)]);
}

int64_t settings::get_int(std::string_view name) const {
  return std::get<int64_t>(values_[index_of(name)]);
}

const std::string& settings::get_string(std::string_view name) const {
  return std::get<std::string>(values_[index_of(name)]);
}

bool settings::logical_replication() const {
  return get_bool("rds.logical_replication");
}

std::string_view settings::wal_level() const {
  return logical_replication() ? "logical" : "replica";
}

int64_t settings::logical_wal_cache_bytes() const {
  // Same rule as PostgreSQL's wal_buffers, which the reference mirrors.
  constexpr int64_t min_auto_blocks = 8;     // 64kB
  constexpr int64_t min_explicit_blocks = 4; // 32kB
  int64_t configured = get_int("rds.logical_wal_cache");
  int64_t blocks = 0;
  if (configured == -1) {
    int64_t segment_blocks = get_int("wal_segment_size") / block_size;
    blocks = get_int("shared_buffers") / 32;
    blocks = std::min(blocks, segment_blocks);
    blocks = std::max(blocks, min_auto_blocks);
  } else {
    blocks = std::max(configured, min_explicit_blocks);
  }
  return blocks * block_size;
}

std::vector<std::string> settings::upstream_publications() const {
  auto list = split_identifier_list(get_string("upstream_publications"),
                                    "upstream_publications");
  // Values are validated when set, so the list always parses.
  return list ? *list : std::vector<std::string>{};
}

expected<std::vector<std::string>>
split_identifier_list(std::string_view text, std::string_view param) {
  std::vector<std::string> names;
  auto fail = [&] {
    return error{sqlstate::invalid_parameter_value,
                 "invalid list syntax in parameter " + quoted(param)};
  };
  size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
  };
  skip_space();
  if (i == text.size())
    return names; // empty list
  while (true) {
    std::string name;
    if (text[i] == '"') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            name += '"';
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        name += text[i++];
      }
      if (!closed || name.empty())
        return fail();
    } else {
      while (i < text.size() && text[i] != ',' &&
             !std::isspace(static_cast<unsigned char>(text[i])) &&
             text[i] != '"')
        name += text[i++];
      if (name.empty())
        return fail();
      name = lower(name);
    }
    names.push_back(std::move(name));
    skip_space();
    if (i == text.size())
      break;
    if (text[i] != ',')
      return fail();
    ++i;
    skip_space();
    if (i == text.size())
      return fail();
  }
  return names;
}

expected<settings>
load_settings(const std::string& conf_path,
              const std::vector<std::pair<std::string, std::string>>& overrides,
              machine_facts facts) {
  settings result(facts);
  auto items = conf_read_file(conf_path);
  if (!items)
    return std::move(items).err();
  for (const auto& item : *items) {
    std::string where = "line " + std::to_string(item.line) +
                        " of configuration file \"" + item.file + "\"";
    if (auto st = result.set(item.name, item.value, value_source::file, where);
        !st)
      return std::move(st).err();
  }
  for (const auto& [name, value] : overrides)
    if (auto st = result.set(name, value, value_source::command_line); !st)
      return std::move(st).err();
  if (auto st = result.check_cross_rules(); !st)
    return std::move(st).err();
  return result;
}

std::vector<std::string> apply_reload(settings& current,
                                      const settings& fresh) {
  std::vector<std::string> lines;
  for (const auto& def : parameter_table()) {
    if (def.context == param_context::internal)
      continue;
    auto before = *current.show(def.name);
    auto after = *fresh.show(def.name);
    if (before == after)
      continue;
    if (def.context == param_context::postmaster) {
      lines.push_back("parameter " + quoted(def.name) +
                      " cannot be changed without restarting the server");
      continue;
    }
    // Re-setting from the SHOW text is exact: SHOW output parses back to the
    // same value for every reloadable parameter.
    auto st = current.set(def.name, after, fresh.source_of(def.name));
    assert(st.has_value());
    (void)st;
    lines.push_back("parameter " + quoted(def.name) + " changed to " +
                    quoted(after));
  }
  return lines;
}

namespace {

std::string sample_value(const parameter_def& def, const machine_facts& facts) {
  auto text = format_value(def, default_of(def, facts));
  if (def.type == param_type::string)
    return conf_quote(text);
  return text;
}

std::string context_note(const parameter_def& def) {
  return def.context == param_context::postmaster ? " (change requires restart)"
                                                  : "";
}

} // namespace

std::string sample_config_text(const machine_facts& facts) {
  std::string out =
      "# walmux configuration file\n"
      "# ==========================\n"
      "#\n"
      "# Syntax as postgresql.conf: name = value, units such as 16MB or 60s,\n"
      "# '#' starts a comment. Each parameter below is shown commented out at\n"
      "# its default. 'walmux -D DIR -c name=value' overrides this file;\n"
      "# SIGHUP re-reads it (parameters marked 'change requires restart' take\n"
      "# effect at the next start).\n";
  std::string_view group;
  for (const auto& def : parameter_table()) {
    if (def.hidden_in_sample)
      continue;
    if (def.group != group) {
      group = def.group;
      out +=
          "\n#------------------------------------------------------------\n";
      out += "# " + std::string(group) + "\n";
      out +=
          "#------------------------------------------------------------\n\n";
    }
    out += "# " + std::string(def.description) + context_note(def) + "\n";
    if (def.name == "rds.logical_replication") {
      out +=
          "# Written out as on by walmux init so that the node streams; the\n"
          "# compiled default is off, as in Aurora PostgreSQL.\n";
      out += std::string(def.name) + " = on\n\n";
      continue;
    }
    out +=
        "#" + std::string(def.name) + " = " + sample_value(def, facts) + "\n\n";
  }
  return out;
}

std::string parameters_markdown() {
  std::string out =
      "# walmux parameters\n\n"
      "Generated from `config/parameters.cpp` by `walmux --describe-config "
      "--markdown`; do not edit by hand (a unit test checks it is current).\n"
      "Context: `postmaster` needs a restart, `sighup` is re-read on SIGHUP, "
      "`internal` is read-only. Memory and time values take units (`kB`, `MB`, "
      "`GB`, `TB`; `ms`, `s`, `min`, `h`, `d`); out-of-range values are "
      "rejected, never clamped.\n\n"
      "| name | type | default | min | max | unit | context | description |\n"
      "|---|---|---|---|---|---|---|---|\n";
  for (const auto& def : parameter_table()) {
    const char* type = "string";
    std::string min, max;
    switch (def.type) {
    case param_type::boolean:
      type = "bool";
      break;
    case param_type::integer:
      type = "integer";
      min = std::to_string(def.min);
      max = std::to_string(def.max);
      break;
    case param_type::enumeration:
      type = "enum";
      break;
    case param_type::string:
      break;
    }
    const char* context = def.context == param_context::internal ? "internal"
                          : def.context == param_context::postmaster
                              ? "postmaster"
                              : "sighup";
    auto dflt = def.dynamic_default
                    ? std::string(def.dynamic_default_rule)
                    : format_value(def, default_of(def, machine_facts{}));
    out += "| `" + std::string(def.name) + "` | " + type + " | `" + dflt +
           "` | " + min + " | " + max + " | " +
           std::string(unit_name(def.base_unit)) + " | " + context + " | " +
           std::string(def.description) + " |\n";
  }
  return out;
}

} // namespace walmux::config
