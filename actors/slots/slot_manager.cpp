// slot_manager.cpp: replication slots in memory and in the catalog
// (slot_manager.hpp).
#include "actors/slots/slot_manager.hpp"

#include <chrono>
#include <thread>

namespace walmux::actors {
namespace {

constexpr const char* invalid_name = "42602";

error slot_missing(const std::string& name) {
  return error{sqlstate::undefined_object,
               "replication slot \"" + name + "\" does not exist"};
}

error slot_active(const std::string& name, int pid) {
  return error{sqlstate::object_in_use, "replication slot \"" + name +
                                            "\" is active for PID " +
                                            std::to_string(pid)};
}

} // namespace

status validate_slot_name(const std::string& name) {
  if (name.empty())
    return error{invalid_name,
                 "replication slot name \"" + name + "\" is too short"};
  if (name.size() >= 64)
    return error{invalid_name,
                 "replication slot name \"" + name + "\" is too long"};
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return error{invalid_name, "replication slot name \"" + name +
                                     "\" contains invalid character"}
          .with_hint("Replication slot names may only contain lower case "
                     "letters, numbers, and the underscore character.");
  return ok();
}

slot_manager::slot_manager(storage::catalog& cat, int max_slots)
    : catalog_(cat)
    , max_slots_(max_slots) {}

status slot_manager::load() {
  auto stored = catalog_.list_slots();
  if (!stored)
    return std::move(stored).err();
  std::lock_guard g(mu_);
  for (auto& s : *stored) {
    std::string name = s.name;
    slots_[name] = entry{std::move(s), 0, 0, false};
  }
  return ok();
}

status slot_manager::create(const storage::slot_record& slot, int pid) {
  if (auto st = validate_slot_name(slot.name); !st)
    return st;
  std::lock_guard g(mu_);
  if (slots_.count(slot.name))
    return error{sqlstate::duplicate_object,
                 "replication slot \"" + slot.name + "\" already exists"};
  if (static_cast<int>(slots_.size()) >= max_slots_)
    return error{"53400", "all replication slots are in use"}.with_hint(
        "Free one or increase max_replication_slots.");
  if (!slot.temporary) {
    storage::catalog_batch b;
    b.put_slot(slot);
    if (auto st = catalog_.apply(b, true); !st)
      return st;
  }
  entry e{slot, slot.temporary ? pid : 0, slot.temporary ? pid : 0, false};
  slots_.emplace(slot.name, std::move(e));
  return ok();
}

status slot_manager::drop(const std::string& name, bool wait, int pid) {
  while (true) {
    {
      std::lock_guard g(mu_);
      auto it = slots_.find(name);
      if (it == slots_.end())
        return slot_missing(name);
      entry& e = it->second;
      if (e.active_pid == 0 || e.active_pid == pid) {
        if (!e.record.temporary) {
          storage::catalog_batch b;
          b.delete_slot(name);
          if (auto st = catalog_.apply(b, true); !st)
            return st;
        }
        slots_.erase(it);
        return ok();
      }
      if (!wait)
        return slot_active(name, e.active_pid);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

expected<storage::slot_record> slot_manager::acquire(const std::string& name,
                                                     int pid) {
  std::lock_guard g(mu_);
  auto it = slots_.find(name);
  if (it == slots_.end())
    return slot_missing(name);
  entry& e = it->second;
  if (e.active_pid != 0 && e.active_pid != pid)
    return slot_active(name, e.active_pid);
  e.active_pid = pid;
  return e.record;
}

void slot_manager::release(const std::string& name, int pid) {
  std::lock_guard g(mu_);
  auto it = slots_.find(name);
  if (it == slots_.end() || it->second.active_pid != pid)
    return;
  if (it->second.record.temporary && it->second.owner_pid != pid)
    return;
  if (it->second.record.temporary)
    return; // kept until the owning session ends (release_session)
  it->second.active_pid = 0;
}

void slot_manager::release_session(int pid) {
  std::lock_guard g(mu_);
  for (auto it = slots_.begin(); it != slots_.end();) {
    entry& e = it->second;
    if (e.record.temporary && e.owner_pid == pid) {
      it = slots_.erase(it);
      continue;
    }
    if (e.active_pid == pid)
      e.active_pid = 0;
    ++it;
  }
}

void slot_manager::confirm(const std::string& name, lsn flush) {
  if (!flush.valid())
    return;
  std::lock_guard g(mu_);
  auto it = slots_.find(name);
  if (it == slots_.end() || flush <= it->second.record.confirmed_flush)
    return;
  it->second.record.confirmed_flush = flush;
  it->second.dirty = !it->second.record.temporary;
}

status slot_manager::set_consistent_point(const std::string& name, lsn point) {
  std::lock_guard g(mu_);
  auto it = slots_.find(name);
  if (it == slots_.end())
    return slot_missing(name);
  storage::slot_record updated = it->second.record;
  if (point < updated.confirmed_flush)
    return error{sqlstate::internal_error,
                 "consistent point " + lsn_to_string(point) +
                     " of replication slot \"" + name + "\" is before its " +
                     "creation point " +
                     lsn_to_string(updated.confirmed_flush)};
  updated.confirmed_flush = point;
  updated.restart_lsn = point;
  if (!updated.temporary) {
    storage::catalog_batch b;
    b.put_slot(updated);
    if (auto st = catalog_.apply(b, true); !st)
      return st;
  }
  it->second.record = std::move(updated);
  return ok();
}

void slot_manager::invalidate(const std::string& name,
                              const std::string& reason) {
  std::lock_guard g(mu_);
  auto it = slots_.find(name);
  if (it == slots_.end())
    return;
  it->second.record.invalidation_reason = reason;
  it->second.dirty = !it->second.record.temporary;
}

status slot_manager::persist(bool sync) {
  storage::catalog_batch b;
  std::vector<std::string> written;
  {
    std::lock_guard g(mu_);
    for (auto& [name, e] : slots_)
      if (e.dirty) {
        b.put_slot(e.record);
        written.push_back(name);
        e.dirty = false;
      }
  }
  if (written.empty())
    return ok();
  if (auto st = catalog_.apply(b, sync); !st) {
    std::lock_guard g(mu_);
    for (const auto& name : written)
      if (auto it = slots_.find(name); it != slots_.end())
        it->second.dirty = true;
    return st;
  }
  return ok();
}

bool slot_manager::invalidated(const std::string& name) const {
  std::lock_guard g(mu_);
  auto it = slots_.find(name);
  return it != slots_.end() && !it->second.record.invalidation_reason.empty();
}

std::vector<slot_view> slot_manager::list() const {
  std::lock_guard g(mu_);
  std::vector<slot_view> out;
  for (const auto& [name, e] : slots_)
    out.push_back({e.record, e.active_pid});
  return out;
}

std::optional<slot_view> slot_manager::get(const std::string& name) const {
  std::lock_guard g(mu_);
  auto it = slots_.find(name);
  if (it == slots_.end())
    return std::nullopt;
  return slot_view{it->second.record, it->second.active_pid};
}

} // namespace walmux::actors
