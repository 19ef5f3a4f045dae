// admin_catalog.hpp: the node's live state as the admin SQL engine's tables
// and functions, with PostgreSQL's and Aurora's names, columns and
// semantics. The views are defined in admin_catalog.cpp: pg_replication_slots,
// pg_stat_replication, pg_stat_replication_slots, pg_replication_origin_status
// and pg_show_replication_origin_status(), aurora_stat_logical_wal_cache()
// (and aurora_stat_reset_wal_cache), the apply role's pg_subscription views,
// pg_settings, pg_stat_activity, pg_stat_wal_receiver. The slot functions
// are in slot_functions.hpp, the node's and session's in
// server_functions.hpp, what psql's describe commands read (pg_database and
// a few catalog functions) in psql_catalog.hpp.
//
// Functions that change state run in the calling session's thread; slot
// creation and drop are synced to the catalog before they return, as for
// the replication commands.
#pragma once

#include "actors/admin/sql_engine.hpp"
#include "actors/walsender/walsender.hpp"

namespace walmux::actors::admin {

struct node_catalog {
  std::vector<table_def> tables;
  std::vector<function_def> functions;
};

// `session_pid` owns the temporary slots the session creates.
// REQUIRES: `env` outlives the engine the catalog is given to.
node_catalog make_node_catalog(walsender_env& env, int session_pid,
                               const std::string& database);

} // namespace walmux::actors::admin
