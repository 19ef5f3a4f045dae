// server_functions.hpp: the admin catalog's functions about the node and
// the session, as PostgreSQL names them: pg_current_wal_lsn (and its flush
// and insert forms), pg_wal_lsn_diff, pg_size_pretty, version, now,
// pg_postmaster_start_time, pg_is_in_recovery, current_setting,
// current_database, current_user and SQL's other niladic functions,
// pg_backend_pid, pg_terminate_backend, pg_reload_conf.
#pragma once

#include "actors/admin/admin_catalog.hpp"

#include <cstdint>
#include <string>

namespace walmux::actors::admin {

// Adds them to `c` for the session `session_pid` in `database`.
// REQUIRES: `env` outlives the catalog.
void add_server_functions(node_catalog& c, walsender_env& env, int session_pid,
                          const std::string& database);

// pg_size_pretty(bigint) as PostgreSQL 15 prints it.
std::string size_pretty(int64_t size);

} // namespace walmux::actors::admin
