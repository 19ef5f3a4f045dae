// hba_file_rules.hpp: the pg_hba_file_rules view: the hba file as it is on
// disk now (not necessarily the rules in force), one row a rule line, with
// the error of a line that would not load, as PostgreSQL 15 shows it.
#pragma once

#include "actors/admin/sql_engine.hpp"
#include "actors/walsender/walsender.hpp"

namespace walmux::actors::admin {

// REQUIRES: `env` outlives the table.
table_def hba_file_rules_table(walsender_env& env);

} // namespace walmux::actors::admin
