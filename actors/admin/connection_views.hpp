// connection_views.hpp: the views about how clients connect, as
// PostgreSQL 15 shows them: pg_hba_file_rules (the hba file as it is on
// disk now, not necessarily the rules in force: one row a rule line, with
// the error of a line that would not load), pg_ident_file_mappings (the
// same for ident_file's user name maps) and pg_stat_ssl (one row a
// session: whether it uses TLS, its version, cipher and client
// certificate).
#pragma once

#include "actors/admin/sql_engine.hpp"
#include "actors/walsender/walsender.hpp"

namespace walmux::actors::admin {

// REQUIRES: `env` outlives the tables.
table_def hba_file_rules_table(walsender_env& env);
table_def stat_ssl_table(walsender_env& env);
table_def ident_file_mappings_table(walsender_env& env);

} // namespace walmux::actors::admin
