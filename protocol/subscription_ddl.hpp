// subscription_ddl.hpp: CREATE / ALTER / DROP SUBSCRIPTION as walmux's SQL
// surface takes them: PostgreSQL's grammar (gram.y's CreateSubscriptionStmt,
// AlterSubscriptionStmt, DropSubscriptionStmt) with one addition, the
// `target` option naming the database walmux applies into.
//
//   CREATE SUBSCRIPTION name CONNECTION 'conninfo' PUBLICATION p [, ...]
//       [WITH (option [= value] [, ...])]
//   ALTER SUBSCRIPTION name ENABLE | DISABLE | CONNECTION 'conninfo'
//       | REFRESH PUBLICATION [WITH (...)] | SET (...) | SKIP (lsn = ...)
//       | SET | ADD | DROP PUBLICATION p [, ...] [WITH (...)]
//   DROP SUBSCRIPTION [IF EXISTS] name
//
// Lexical rules are SQL's: key words in any case, identifiers down-cased
// unless "quoted" ("" for a quote), 'strings' with '' for a quote, and an
// optional trailing ';'. interpret_options() then checks option names and
// values as PostgreSQL's parse_subscription_options() does, with its texts
// and SQLSTATEs ("unrecognized subscription parameter", "conflicting or
// redundant options", "%s requires a Boolean value").
//
// Pure: no I/O; fuzzed by tests/fuzz/fuzz_subscription_ddl.cpp.
#pragma once

#include "common/expected.hpp"
#include "protocol/lsn.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace walmux::subddl {

// An option as written: `value` absent for a bare name (PostgreSQL reads
// a bare boolean option as true).
struct option {
  std::string name;
  std::optional<std::string> value;
  bool operator==(const option&) const = default;
};

struct create_subscription {
  std::string name;
  std::string conninfo;
  std::vector<std::string> publications;
  std::vector<option> options;
};

struct alter_subscription {
  enum class action {
    enable,
    disable,
    connection,
    refresh,
    set,
    skip,
    set_publication,
    add_publication,
    drop_publication,
    rename
  };
  std::string name;
  action what = action::enable;
  std::string conninfo;                  // connection
  std::vector<std::string> publications; // set/add/drop_publication
  std::vector<option> options; // all but enable, disable, connection, rename
  std::string new_name;        // rename
};

struct drop_subscription {
  std::string name;
  bool if_exists = false;
};

using statement =
    std::variant<create_subscription, alter_subscription, drop_subscription>;

// nullopt: the text is not a subscription statement. An error (42601):
// it is one, but malformed.
expected<std::optional<statement>> parse(std::string_view sql);

// A subscription's settings; defaults are PostgreSQL 15's.
struct subscription_options {
  std::string target; // walmux: the database to apply into (required)
  bool connect = true;
  bool enabled = true;
  bool create_slot = true;
  std::optional<std::string> slot_name; // absent: the subscription's name
  bool slot_name_none = false;          // slot_name = NONE
  bool copy_data = true;
  bool binary = false;
  std::string streaming = "off";
  std::string synchronous_commit = "off";
  bool two_phase = false;
  bool disable_on_error = false;
  std::string origin = "any"; // any | none
  // Not a setting: whether SET/ADD/DROP PUBLICATION refreshes the tables.
  bool refresh = true;
};

// Which statement the options belong to: each allows its own set
// (publication: SET/ADD/DROP PUBLICATION, which take refresh and copy_data).
enum class option_context { create, set, refresh, skip, publication };

// The publications of SET/ADD/DROP PUBLICATION merged into `current`, with
// PostgreSQL's errors: a name already there (ADD) or not there (DROP), or
// every publication dropped.
expected<std::vector<std::string>>
merge_publications(const std::vector<std::string>& current,
                   const alter_subscription& a);

// Applies `given` over `base` (for CREATE: the defaults), checking names,
// duplicates and values. `present` receives the names given.
expected<subscription_options>
interpret_options(const std::vector<option>& given, option_context context,
                  subscription_options base,
                  std::vector<std::string>* present = nullptr);

// The LSN of SKIP (lsn = ...): 0/0 clears it (PostgreSQL's NONE).
expected<lsn> interpret_skip(const std::vector<option>& given);

} // namespace walmux::subddl
