// slot_functions.hpp: the admin catalog's replication slot functions, as
// PostgreSQL 15 has them: pg_create_logical_replication_slot,
// pg_copy_logical_replication_slot, pg_drop_replication_slot,
// pg_replication_slot_advance, pg_logical_slot_{get,peek}[_binary]_changes,
// pg_stat_reset_replication_slot. They run in the calling session's thread;
// what they change is synced to the catalog before they return.
#pragma once

#include "actors/admin/admin_catalog.hpp"

namespace walmux::actors::admin {

// Adds them to `c` for the session `session_pid` (which owns the temporary
// slots it creates) in `database`. REQUIRES: `env` outlives the catalog.
void add_slot_functions(node_catalog& c, walsender_env& env, int session_pid,
                        const std::string& database);

// Registers `name` both as a table (SELECT * FROM name(...), `schema` with
// its `arguments` hidden argument columns) and as a value (SELECT
// name(...), its one row as PostgreSQL's record text "(a,b)"), as
// PostgreSQL's record-returning functions can be called.
void add_record_function(
    node_catalog& c, const std::string& name, const std::string& schema,
    int min_arguments, int arguments,
    std::function<expected<sql_row>(const std::vector<sql_value>&)> row);

} // namespace walmux::actors::admin
