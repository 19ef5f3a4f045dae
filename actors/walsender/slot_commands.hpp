// slot_commands.hpp: creating and dropping a logical slot, shared by the
// replication commands (CREATE/DROP_REPLICATION_SLOT) and the admin
// functions (pg_create_logical_replication_slot, pg_drop_replication_slot),
// so both keep the same rules, errors and log lines.
#pragma once

#include "actors/walsender/walsender.hpp"

#include <optional>
#include <string>

namespace walmux::actors {

// The point from which a slot created now streams: every transaction
// committing from here on is in the store or on its way.
lsn creation_point(const walsender_env& env);

// Creates a logical slot at creation_point() for the session `pid` (which
// owns it if temporary). Errors: 42602 bad name, 42710 exists, 53400 no
// free slot, 58P01 unknown plugin. Synced before it returns.
expected<storage::slot_record>
create_logical_slot(walsender_env& env, const std::string& name,
                    const std::string& plugin, const std::string& database,
                    bool temporary, bool two_phase, int pid);

// pg_copy_logical_replication_slot: a new slot `name` at the position of
// `source` (confirmed_flush_lsn and restart point), with its plugin and
// temporary flag unless given. Errors: 42704 unknown source, 55000 an
// invalidated source or one of another database, and create's.
expected<storage::slot_record>
copy_logical_slot(walsender_env& env, const std::string& source,
                  const std::string& name, const std::string& database,
                  std::optional<bool> temporary,
                  std::optional<std::string> plugin, int pid);

// Drops a slot (42704 unknown; 55006 active unless `wait`), forgets its
// cache counters and logs it.
status drop_slot(walsender_env& env, const std::string& name, bool wait,
                 int pid);

} // namespace walmux::actors
