// repl_command.hpp: the commands of a replication connection, parsed as
// PostgreSQL's walsender parses them (repl_scanner.l and repl_gram.y, the
// union of PostgreSQL 14 to 18).
//
// Lexical rules: keywords are upper case only (a lower-case
// "identify_system" is an identifier, so the Query is SQL); identifiers are
// down-cased and cut to 63 bytes (without splitting a UTF-8 character);
// "quoted identifiers" keep case (no "" escape, as in PostgreSQL); 'strings'
// double '' for a quote; X/Y is an LSN; digits are an unsigned integer; a
// trailing ';' is allowed. Errors are PostgreSQL's: 42601 "syntax error",
// "unterminated quoted string", "invalid streaming start location",
// "invalid timeline N" (checked against a PostgreSQL 15 walsender). One
// deliberate difference: PostgreSQL's sscanf("%X/%X") accepts an LSN half of
// more than 8 digits by overflowing it; walmux refuses it with
// "invalid streaming start location" rather than start at a garbled position.
//
// Pure: no I/O.
#pragma once

#include "common/expected.hpp"
#include "protocol/lsn.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace walmux::repl {

// An option of a parenthesized list. `value` is absent for a bare name.
struct option {
  enum class kind { none, string, identifier, integer };
  std::string name;
  kind value_kind = kind::none;
  std::string value; // text of the string, identifier or integer
  bool operator==(const option&) const = default;
};

struct identify_system {};
struct show {
  std::string name; // may be qualified: a.b
};
struct read_replication_slot {
  std::string slot;
};
struct timeline_history {
  uint32_t timeline = 0;
};
struct base_backup {
  std::vector<option> options;
};
struct upload_manifest {};
struct create_replication_slot {
  std::string slot;
  bool temporary = false;
  bool logical = true;
  std::string plugin;          // logical only
  std::vector<option> options; // legacy words become options (see .cpp)
};
struct drop_replication_slot {
  std::string slot;
  bool wait = false;
};
struct alter_replication_slot {
  std::string slot;
  std::vector<option> options;
};
struct start_replication {
  bool logical = false;
  std::optional<std::string> slot; // required for logical
  lsn start;
  uint32_t timeline = 0;       // physical only; 0 = not given
  std::vector<option> options; // logical plugin options (string or none)
};

using command = std::variant<identify_system, show, read_replication_slot,
                             timeline_history, base_backup, upload_manifest,
                             create_replication_slot, drop_replication_slot,
                             alter_replication_slot, start_replication>;

// Parses a Query's text. nullopt: the first token is not a replication
// keyword, so the text is SQL for the SQL path. An error: it is a
// replication command but malformed.
expected<std::optional<command>> parse_command(std::string_view text);

// CREATE_REPLICATION_SLOT options as walsender interprets them.
enum class snapshot_action { export_snapshot, nothing, use };
struct create_slot_options {
  snapshot_action snapshot = snapshot_action::export_snapshot;
  bool two_phase = false;
  bool reserve_wal = false;
  bool failover = false;
};
expected<create_slot_options>
interpret_create_slot_options(const create_replication_slot& cmd);

// PostgreSQL's defGetBoolean: absent = true; true/false/on/off/1/0.
expected<bool> option_boolean(const option& o);

} // namespace walmux::repl
