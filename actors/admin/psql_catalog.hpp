// psql_catalog.hpp: what psql's describe commands (\l, \dRs, \dRs+, with
// or without a name pattern) read from pg_catalog beyond the node's own
// views: pg_database, the functions pg_get_userbyid, pg_encoding_to_char
// and array_to_string, and the ~ operator's match, with PostgreSQL 15's
// columns and results.
//
// walmux is one database: a session may connect with any database name,
// and every name reaches the same slots, subscriptions and settings. So
// pg_database has one row, named as the session's database, with OID
// node_database_oid, which pg_subscription.subdbid,
// pg_replication_slots.datoid and pg_stat_activity.datid also hold: psql's
// "subscriptions of the current database" then lists the node's. walmux
// has no roles: pg_get_userbyid answers as PostgreSQL does for an OID that
// names no role ("unknown (OID=10)").
#pragma once

#include "actors/admin/admin_catalog.hpp"

#include <string>

namespace walmux::actors::admin {

// The OID of walmux's one database: the one PostgreSQL 15's initdb gives
// the database it creates for connections (postgres).
inline constexpr int64_t node_database_oid = 5;

// Adds pg_database (for a session connected to `database`) and the
// functions above to `c`.
void add_psql_catalog(node_catalog& c, const std::string& database);

// Whether `value` matches `pattern`, for the ~ (and, ignoring case, ~*)
// operator: POSIX extended
// regular expressions (PostgreSQL's advanced ones are a superset: their
// escapes such as \d and their lookaheads are not understood). 2201B
// "invalid regular expression: ..." for a pattern that does not compile.
expected<bool> regex_match(const std::string& pattern, const std::string& value,
                           bool case_insensitive = false);

// PostgreSQL's name of an encoding number ("UTF8" for 6), or "" for a
// number that names none, as pg_encoding_to_char answers.
std::string encoding_name(int64_t encoding);

} // namespace walmux::actors::admin
