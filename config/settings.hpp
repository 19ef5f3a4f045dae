// settings.hpp: a complete, validated set of parameter values.
//
// A `settings` starts at the table's defaults (parameters.hpp) and takes
// values from walmux.conf and from `-c name=value`, the latter overriding the
// former. Each value is checked as it is set (type, unit, bounds, check hook;
// PostgreSQL's error texts and SQLSTATEs); rules between parameters are
// checked by check_cross_rules() once all values are in, which load_settings
// does before returning.
//
// Values are read through typed accessors; SHOW and SHOW ALL text comes from
// show(), which also reports derived values: wal_level is "logical" exactly
// when rds.logical_replication is on, rds.logical_wal_cache shows the size in
// effect, max_worker_processes its machine-derived default.
//
// Thread safety: a settings object is a value; share it as const.
#pragma once

#include "common/expected.hpp"
#include "config/parameters.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace walmux::config {

enum class value_source { default_value, file, command_line };

using param_value = std::variant<bool, int64_t, std::string>;

struct show_row {
  std::string name;
  std::string setting;
  std::string description;
};

class settings {
 public:
  explicit settings(machine_facts facts = {});

  // Parses `text` for parameter `name` and stores it. `where` is the CONTEXT
  // of an error (e.g. "line 3 of configuration file ..."), or empty.
  status set(std::string_view name, std::string_view text, value_source source,
             std::string_view where = {});

  // Rules between parameters; load_settings calls it.
  status check_cross_rules() const;

  // SHOW text of one parameter; 42704 for an unknown name.
  expected<std::string> show(std::string_view name) const;
  // SHOW ALL, sorted by name.
  std::vector<show_row> show_all() const;

  value_source source_of(std::string_view name) const;

  // Typed accessors. REQUIRES: `name` is in the table with that type.
  bool get_bool(std::string_view name) const;
  int64_t get_int(std::string_view name) const;
  const std::string& get_string(std::string_view name) const;

  // Derived values.
  bool logical_replication() const;
  std::string_view wal_level() const;
  // The write-through cache size in effect, in bytes: -1 means 1/32 of
  // shared_buffers, clamped to [64kB, wal_segment_size]; an explicit value
  // under 32kB counts as 32kB.
  int64_t logical_wal_cache_bytes() const;
  // upstream_publications split as a list of identifiers.
  std::vector<std::string> upstream_publications() const;

  const machine_facts& facts() const { return facts_; }

 private:
  size_t index_of(std::string_view name) const;

  machine_facts facts_;
  std::vector<param_value> values_;   // indexed like parameter_table()
  std::vector<value_source> sources_; // same index
};

// Reads `conf_path` (which must exist), applies `overrides` (from -c) on top,
// checks the cross-parameter rules. The first error is returned; errors in
// the file carry the file and line as CONTEXT.
expected<settings>
load_settings(const std::string& conf_path,
              const std::vector<std::pair<std::string, std::string>>& overrides,
              machine_facts facts);

// What a SIGHUP re-read changes: `current` takes the reloadable values of
// `fresh`; postmaster-context changes are not applied. Returns the LOG lines
// PostgreSQL would print, e.g.
//   parameter "wal_sender_timeout" changed to "30s"
//   parameter "port" cannot be changed without restarting the server
std::vector<std::string> apply_reload(settings& current, const settings& fresh);

// Splits a comma-separated identifier list with PostgreSQL's rules (unquoted
// names fold to lower case, "quoted" names keep case and may contain commas).
// Error: invalid list syntax in parameter "<param>".
expected<std::vector<std::string>>
split_identifier_list(std::string_view text, std::string_view param);

// The walmux.conf that `walmux init` writes: every parameter with its
// description, commented out at its default, except rds.logical_replication,
// which is written out as on.
std::string sample_config_text(const machine_facts& facts);

// docs/parameters.md, generated from the table; machine-independent (a
// dynamic default is given by its rule).
std::string parameters_markdown();

} // namespace walmux::config
