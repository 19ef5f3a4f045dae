// admin_catalog.hpp: the node's live state as the admin SQL engine's tables
// and functions, with PostgreSQL's and Aurora's names, columns and
// semantics:
//
//   pg_replication_slots                 slots: positions, wal_status,
//   safe_wal_size pg_replication_origin_status,
//   pg_show_replication_origin_status()  replication origins of the catalog
//   aurora_stat_logical_wal_cache()      per-slot write-through cache counters
//   aurora_stat_reset_wal_cache(name|NULL)
//   pg_create_logical_replication_slot(name, plugin [, temporary])
//   pg_drop_replication_slot(name)       PostgreSQL's errors for unknown and
//   active slots pg_current_wal_lsn()                 the upstream position
//   walmux has made durable pg_wal_lsn_diff(a, b), version()
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
