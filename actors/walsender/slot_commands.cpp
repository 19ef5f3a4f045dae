// slot_commands.cpp: see slot_commands.hpp.
#include "actors/walsender/slot_commands.hpp"

#include "common/log.hpp"

#include <algorithm>

namespace walmux::actors {

lsn creation_point(const walsender_env& env) {
  return lsn{std::max(env.store->last_end_lsn().value,
                      env.upstream->confirmed.load())};
}

namespace {

// Registers `slot` (synced unless temporary) and logs `what` it was.
expected<storage::slot_record> add_slot(walsender_env& env,
                                        storage::slot_record slot, int pid,
                                        const std::string& what) {
  if (slot.plugin != "pgoutput" && slot.plugin != "wal2json")
    return error{"58P01", "could not access file \"" + slot.plugin +
                              "\": No such file or directory"};
  if (auto st = env.slots->create(slot, pid); !st)
    return std::move(st).err();
  log_message(elevel::log, what + " at " + lsn_to_string(slot.confirmed_flush));
  return slot;
}

} // namespace

expected<storage::slot_record>
create_logical_slot(walsender_env& env, const std::string& name,
                    const std::string& plugin, const std::string& database,
                    bool temporary, bool two_phase, int pid) {
  storage::slot_record slot;
  slot.name = name;
  slot.plugin = plugin;
  slot.database = database;
  slot.temporary = temporary;
  slot.two_phase = two_phase;
  slot.confirmed_flush = creation_point(env);
  slot.restart_lsn = slot.confirmed_flush;
  return add_slot(env, std::move(slot), pid,
                  "created replication slot \"" + name + "\" (" + plugin + ")");
}

expected<storage::slot_record>
copy_logical_slot(walsender_env& env, const std::string& source,
                  const std::string& name, const std::string& database,
                  std::optional<bool> temporary,
                  std::optional<std::string> plugin, int pid) {
  auto src = env.slots->get(source);
  if (!src)
    return error{sqlstate::undefined_object,
                 "replication slot \"" + source + "\" does not exist"};
  if (!src->record.invalidation_reason.empty())
    return error{"55000",
                 "cannot copy invalidated replication slot \"" + source + "\""};
  if (src->record.database != database)
    return error{"55000", "replication slot \"" + source +
                              "\" was not created in this database"};
  storage::slot_record slot = src->record;
  slot.name = name;
  slot.temporary = temporary.value_or(src->record.temporary);
  slot.plugin = plugin.value_or(src->record.plugin);
  return add_slot(env, std::move(slot), pid,
                  "copied replication slot \"" + source + "\" to \"" + name +
                      "\"");
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
