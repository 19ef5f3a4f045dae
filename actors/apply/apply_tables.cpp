// apply_tables.cpp: the initial copy, the copy of tables a refresh adds,
// and the tables' states ('i' 'd' 's' 'r') until the target has flushed
// the progress that makes them ready (apply_session.hpp).
#include "actors/apply/apply_session.hpp"
#include "actors/apply/initial_copy.hpp"
#include "actors/common/clock.hpp"
#include "common/log.hpp"

namespace walmux::actors::apply {
namespace {

using namespace std::chrono_literals;

constexpr auto flush_check_interval = 200ms;

} // namespace

void apply_session::set_table_state(const std::string& schema,
                                    const std::string& table, char state,
                                    uint32_t target_oid) {
  auto st = manager_.update(name_, [&](storage::subscription_record& rec) {
    for (auto& t : rec.tables)
      if (t.schema == schema && t.name == table) {
        t.state = state;
        if (target_oid != 0)
          t.target_oid = target_oid;
      }
  });
  if (!st)
    log_error(elevel::warning, st.err());
}

status apply_session::copy_phase(const subscription_view& v) {
  copying_ = true;
  const auto& r = v.record;
  const std::string slot = v.options.slot_name.value_or(r.name);
  if (r.copy_attempts > 0 && r.slot_created) {
    // An earlier copy was interrupted: its snapshot is gone, so it is
    // redone from a new slot.
    auto repl = pq_session::connect(r.conninfo, {{"replication", "database"}},
                                    "publisher");
    if (!repl)
      return std::move(repl).err();
    auto d =
        (*repl)->exec("DROP_REPLICATION_SLOT " + pq_quote_identifier(slot));
    if (!d && d.err().code != sqlstate::undefined_object)
      return std::move(d).err();
  }
  const bool redo = r.copy_attempts > 0;
  if (auto st = manager_.update(name_,
                                [](storage::subscription_record& rec) {
                                  rec.copy_attempts++;
                                  rec.slot_created = false;
                                });
      !st)
    return st;
  if (redo)
    log_message(elevel::log, "subscription \"" + name_ +
                                 "\": an earlier initial copy was interrupted;"
                                 " copying again, emptying each table first");
  copy_plan plan;
  plan.subscription = name_;
  plan.source_conninfo = r.conninfo;
  plan.target_conninfo = v.options.target;
  plan.slot_name = slot;
  plan.publications = r.publications;
  plan.copy_data = v.options.copy_data;
  plan.truncate_first = redo;
  plan.workers = manager_.max_sync_workers();
  plan.stop = &control_->stop;
  copy_hooks hooks;
  hooks.tables =
      [this](const std::vector<std::pair<std::string, std::string>>& tables) {
        return manager_.update(name_, [&](storage::subscription_record& rec) {
          rec.tables.clear();
          for (const auto& [schema, table] : tables)
            rec.tables.push_back({schema, table, 'i', {}, 0});
        });
      };
  hooks.slot_created = [this](lsn) {
    return manager_.update(name_, [](storage::subscription_record& rec) {
      rec.slot_created = true;
    });
  };
  hooks.table_state =
      [this](const std::string& schema, const std::string& table, char state,
             uint32_t oid) { set_table_state(schema, table, state, oid); };
  auto point = run_initial_copy(plan, hooks);
  if (!point)
    return std::move(point).err();
  auto target =
      target_session::connect({v.options.target, name_, v.record.target_key,
                               v.options.synchronous_commit});
  if (!target)
    return std::move(target).err();
  if (auto st = (*target)->set_progress(*point, 0); !st)
    return st;
  target_ = std::move(*target);
  copying_ = false;
  return manager_.update(name_, [&](storage::subscription_record& rec) {
    rec.copy_done = true;
    for (auto& t : rec.tables) {
      t.state = 'r';
      t.state_lsn = *point;
    }
  });
}

void apply_session::load_table_states(const storage::subscription_record& r) {
  table_states_.clear();
  any_synced_ = false;
  for (const auto& t : r.tables) {
    table_states_[t.schema + "." + t.name] = {t.state, t.state_lsn};
    any_synced_ = any_synced_ || t.state == 's';
  }
}

bool apply_session::applies_to(uint32_t oid) const {
  auto it = table_states_.find(relation_name(oid));
  if (it == table_states_.end())
    return false; // published, but not in the subscription until REFRESH
  const auto [state, at] = it->second;
  return state == 'r' || (state == 's' && final_lsn_ >= at);
}

status apply_session::sync_phase(const subscription_view& v) {
  std::vector<std::pair<std::string, std::string>> todo, redo;
  for (const auto& t : v.record.tables) {
    if (t.state == 'i' || t.state == 'd')
      todo.emplace_back(t.schema, t.name);
    if (t.state == 'd')
      redo.emplace_back(t.schema, t.name);
  }
  if (todo.empty())
    return ok();
  copying_ = true;
  copy_plan plan;
  plan.subscription = name_;
  plan.source_conninfo = v.record.conninfo;
  plan.target_conninfo = v.options.target;
  plan.slot_name = "walmux_sync_" + std::to_string(v.record.oid);
  plan.publications = v.record.publications;
  plan.temporary_slot = true;
  plan.only_tables = todo;
  plan.truncate_tables = redo;
  plan.workers = manager_.max_sync_workers();
  plan.stop = &control_->stop;
  copy_hooks hooks;
  hooks.tables = [](const auto&) -> status { return ok(); };
  hooks.slot_created = [](lsn) -> status { return ok(); };
  // A copied table stays 'd' until all are copied and the point is stored
  // with them: a table left 'd' by an interruption is emptied and copied
  // again.
  hooks.table_state = [this](const std::string& schema,
                             const std::string& table, char, uint32_t oid) {
    set_table_state(schema, table, 'd', oid);
  };
  auto point = run_initial_copy(plan, hooks);
  if (!point)
    return std::move(point).err();
  copying_ = false;
  return manager_.update(name_, [&](storage::subscription_record& rec) {
    for (auto& t : rec.tables)
      for (const auto& [schema, table] : todo)
        if (t.schema == schema && t.name == table) {
          t.state = 's';
          t.state_lsn = *point;
        }
  });
}

status apply_session::check_flushed() {
  if (!target_->group_open() && target_->confirmed() != target_->progress() &&
      steady::now() - last_flush_check_ >= flush_check_interval) {
    last_flush_check_ = steady::now();
    if (auto st = target_->refresh_confirmed(); !st)
      return st;
  }
  if (any_synced_)
    return promote_synced(target_->confirmed());
  return ok();
}

status apply_session::promote_synced(lsn flushed) {
  bool promoted = false;
  for (auto& [table, state] : table_states_)
    if (state.first == 's' && flushed >= state.second) {
      state.first = 'r';
      promoted = true;
    }
  if (!promoted)
    return ok();
  any_synced_ = false;
  for (const auto& [table, state] : table_states_)
    any_synced_ = any_synced_ || state.first == 's';
  return manager_.update(name_, [&](storage::subscription_record& r) {
    for (auto& t : r.tables)
      if (t.state == 's' && flushed >= t.state_lsn)
        t.state = 'r';
  });
}

status apply_session::advance_idle_progress() {
  if (!any_synced_ || in_txn_ || target_->group_open() ||
      idle_end_ <= target_->progress())
    return ok();
  bool waiting = false;
  for (const auto& [table, state] : table_states_)
    waiting = waiting || (state.first == 's' && idle_end_ >= state.second);
  if (!waiting)
    return ok();
  // Every transaction committing before idle_end_ has been received and
  // applied or had nothing for this subscription.
  return target_->set_progress(idle_end_, pg_micros_now());
}

} // namespace walmux::actors::apply
