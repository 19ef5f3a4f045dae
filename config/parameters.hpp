// parameters.hpp: the declarative table of walmux's configuration parameters.
//
// Like PostgreSQL's GUC table, one entry declares a parameter's name, type,
// base unit, default, bounds, the context in which it may change, its group
// and its description. Everything else is derived from the table: parsing and
// validation (settings.hpp), SHOW and SHOW ALL, the sample walmux.conf that
// `walmux init` writes, and docs/parameters.md.
//
// Out-of-range values are rejected with PostgreSQL's error text, never
// clamped. Rules that involve a single value live in the entry's check hook;
// rules between parameters are checked once all values are known
// (settings::check_cross_rules).
#pragma once

#include "config/units.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace walmux::config {

enum class param_type { boolean, integer, string, enumeration };

// When a new value takes effect. Mirrors PostgreSQL's GucContext subset.
enum class param_context {
  internal,   // read-only: derived or fixed; cannot be set
  postmaster, // at start only: a change in walmux.conf needs a restart
  sighup,     // walmux.conf re-read on SIGHUP applies it
};

// What the environment contributes to defaults (injected for tests).
struct machine_facts {
  int vcpu_count = 1;
};

struct parameter_def;

// A check hook for one integer value: returns an empty string when the value
// is acceptable, else the DETAIL of the error.
using int_check_hook = std::string (*)(int64_t value);

struct parameter_def {
  std::string_view name = {};
  param_type type = param_type::string;
  param_context context = param_context::internal;
  std::string_view group = {};
  std::string_view description = {};

  // integer
  unit base_unit = unit::none;
  int64_t min = 0;
  int64_t max = 0;
  int64_t default_int = 0;
  // When set, the default is computed from the machine (max_worker_processes).
  int64_t (*dynamic_default)(const machine_facts&) = nullptr;
  // How the documentation states a dynamic default.
  std::string_view dynamic_default_rule = {};
  int_check_hook check = nullptr;

  // boolean
  bool default_bool = false;

  // string and enumeration (enumeration values are lower case)
  std::string_view default_string = {};
  std::span<const std::string_view> enum_values = {};

  // Omit from the sample walmux.conf (read-only parameters).
  bool hidden_in_sample = false;
};

// All parameters, in the order of the sample file and of SHOW ALL's groups.
std::span<const parameter_def> parameter_table();

// Case-insensitive look-up, as PostgreSQL's find_option. nullptr if unknown.
const parameter_def* find_parameter(std::string_view name);

} // namespace walmux::config
