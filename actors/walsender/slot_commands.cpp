// slot_commands.cpp: see slot_commands.hpp.
#include "actors/walsender/slot_commands.hpp"

#include "common/log.hpp"

#include <algorithm>

namespace walmux::actors {

lsn creation_point(const walsender_env& env) {
  return lsn{std::max(env.store->last_end_lsn().value,
                      env.upstream->confirmed.load())};
}

expected<storage::slot_record>
create_logical_slot(walsender_env& env, const std::string& name,
                    const std::string& plugin, const std::string& database,
                    bool temporary, bool two_phase, int pid) {
  if (plugin != "pgoutput" && plugin != "wal2json")
    return error{"58P01", "could not access file \"" + plugin +
                              "\": No such file or directory"};
  storage::slot_record slot;
  slot.name = name;
  slot.plugin = plugin;
  slot.database = database;
  slot.temporary = temporary;
  slot.two_phase = two_phase;
  slot.confirmed_flush = creation_point(env);
  slot.restart_lsn = slot.confirmed_flush;
  if (auto st = env.slots->create(slot, pid); !st)
    return std::move(st).err();
  log_message(elevel::log, "created replication slot \"" + name + "\" (" +
                               plugin + ") at " +
                               lsn_to_string(slot.confirmed_flush));
  return slot;
}

status drop_slot(walsender_env& env, const std::string& name, bool wait,
                 int pid) {
  if (auto st = env.slots->drop(name, wait, pid); !st)
    return st;
  env.cache->forget(name);
  env.slot_counts.forget(name);
  log_message(elevel::log, "dropped replication slot \"" + name + "\"");
  return ok();
}

} // namespace walmux::actors
