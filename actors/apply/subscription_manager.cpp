// subscription_manager.cpp: the subscriptions' lifecycle: loading them,
// their workers (start, reconcile, stop), activity, statistics and the
// origin mirror; see subscription_manager.hpp. The statements that change
// them are subscription_statements.cpp.
#include "actors/apply/subscription_manager.hpp"

#include "actors/apply/apply_worker.hpp"
#include "actors/apply/initial_copy.hpp"
#include "actors/apply/target_session.hpp"
#include "actors/common/clock.hpp"
#include "actors/common/pq_session.hpp"
#include "common/log.hpp"

#include <chrono>
#include <thread>

#include <caf/all.hpp>

namespace walmux::actors::apply {
namespace {

// How long DROP / DISABLE wait for a worker to stop.
constexpr auto stop_wait = std::chrono::seconds(30);

} // namespace

subscription_manager::subscription_manager(storage::catalog& catalog, limits l,
                                           std::atomic<int>& next_pid,
                                           std::string spool_dir)
    : catalog_(catalog)
    , limits_(l)
    , spool_dir_(std::move(spool_dir))
    , next_pid_(next_pid) {}

subscription_manager::~subscription_manager() {
  shutdown();
}

char subscription_two_phase_state(const storage::subscription_record& r,
                                  const subddl::subscription_options& o) {
  if (!o.two_phase)
    return 'd';
  if (!r.copy_done)
    return 'p';
  for (const auto& t : r.tables)
    if (t.state != 'r')
      return 'p';
  return 'e';
}

subddl::subscription_options
subscription_manager::options_of(const storage::subscription_record& r) {
  std::vector<subddl::option> given;
  for (const auto& [k, v] : r.options)
    if (!(k == "slot_name" && v.empty()))
      given.push_back({k, v});
  subddl::subscription_options base;
  base.enabled = false; // enabled is the record's own field
  auto o =
      subddl::interpret_options(given, subddl::option_context::create, base);
  return o ? *o : base;
}

status subscription_manager::load() {
  auto subs = catalog_.list_subscriptions();
  if (!subs)
    return std::move(subs).err();
  auto origins = catalog_.list_origins();
  if (!origins)
    return std::move(origins).err();
  std::lock_guard g(lock_);
  for (auto& r : *subs) {
    const std::string name = r.name;
    subs_[name].record = std::move(r);
  }
  for (auto& o : *origins) {
    const std::string name = o.name;
    origins_[name] = std::move(o);
  }
  // Saved at the last clean shutdown; removed now, so that a crash from
  // here on does not bring back stale counters.
  auto stats = catalog_.read_subscription_stats();
  if (!stats)
    return std::move(stats).err();
  for (const auto& st : *stats) {
    auto it = subs_.find(st.name);
    if (it == subs_.end())
      continue;
    auto& a = it->second.activity;
    a.carried = {st.apply_error_count, st.sync_error_count,
                 st.confl_insert_exists, st.confl_update_missing,
                 st.confl_delete_missing};
    a.stats_reset = st.stats_reset;
  }
  if (!stats->empty()) {
    storage::catalog_batch b;
    b.delete_subscription_stats();
    if (auto st = catalog_.apply(b, true); !st)
      return st;
  }
  return ok();
}

void subscription_manager::start(caf::actor_system& system) {
  std::lock_guard g(lock_);
  system_ = &system;
  reconcile_locked();
}

void subscription_manager::shutdown() {
  std::unique_lock held(lock_);
  std::vector<std::string> running;
  for (auto& [name, e] : subs_)
    if (e.control)
      running.push_back(name);
  for (const auto& name : running)
    stop_worker(held, name);
  system_ = nullptr;
  // Once: the destructor calls this again, when the node may have closed
  // the catalog already.
  if (stats_saved_)
    return;
  stats_saved_ = true;
  std::vector<storage::subscription_stats_record> stats;
  for (const auto& [name, e] : subs_) {
    const subscription_counts c = e.activity.view_counts();
    stats.push_back({name, c.apply_error_count, c.sync_error_count,
                     c.confl_insert_exists, c.confl_update_missing,
                     c.confl_delete_missing, e.activity.stats_reset});
  }
  if (stats.empty())
    return;
  storage::catalog_batch b;
  b.put_subscription_stats(stats);
  if (auto st = catalog_.apply(b, true); !st)
    log_error(elevel::warning, st.err());
}

status subscription_manager::persist(const storage::subscription_record& r) {
  storage::catalog_batch b;
  b.put_subscription(r);
  return catalog_.apply(b, true);
}

bool subscription_manager::restart_worker(int pid) {
  std::unique_lock held(lock_);
  for (auto& [name, e] : subs_) {
    if (!e.control || e.activity.pid != pid)
      continue;
    const std::string which = name; // stop_worker may rehash subs_
    log_message(elevel::log, "restarting the apply worker of subscription \"" +
                                 which + "\" at an administrator's request");
    stop_worker(held, which);
    reconcile_locked();
    return true;
  }
  return false;
}

void subscription_manager::reconcile_locked() {
  if (system_ == nullptr)
    return;
  int running = 0;
  for (auto& [name, e] : subs_) {
    if (e.control && e.control->done.load()) {
      e.control.reset();
      e.worker = caf::actor();
      e.activity.pid = 0;
    }
    running += e.control ? 1 : 0;
  }
  for (auto& [name, e] : subs_) {
    if (!e.record.enabled || e.control)
      continue;
    if (running >= limits_.max_workers) {
      if (!warned_no_slots_)
        log_message(elevel::warning,
                    "out of logical replication worker slots: subscription \"" +
                        name +
                        "\" waits; you might need to increase "
                        "max_logical_replication_workers");
      warned_no_slots_ = true;
      continue;
    }
    e.control = std::make_shared<worker_control>();
    e.activity.pid = ++next_pid_;
    e.worker = spawn_apply_worker(*system_, *this, name, e.control);
    ++running;
  }
}

void subscription_manager::stop_worker(std::unique_lock<std::mutex>& held,
                                       const std::string& name) {
  auto it = subs_.find(name);
  if (it == subs_.end() || !it->second.control)
    return;
  auto control = it->second.control;
  auto worker = it->second.worker;
  control->stop = true;
  caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
  held.unlock();
  const auto until = std::chrono::steady_clock::now() + stop_wait;
  while (!control->done.load() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  held.lock();
  it = subs_.find(name);
  if (it != subs_.end() && it->second.control == control) {
    it->second.control.reset();
    it->second.worker = caf::actor();
    it->second.activity.pid = 0;
  }
}

std::vector<subscription_view> subscription_manager::list() const {
  std::lock_guard g(lock_);
  std::vector<subscription_view> out;
  for (const auto& [name, e] : subs_)
    out.push_back({e.record, options_of(e.record), e.activity});
  return out;
}

std::optional<subscription_view>
subscription_manager::get(const std::string& name) const {
  std::lock_guard g(lock_);
  auto it = subs_.find(name);
  if (it == subs_.end())
    return std::nullopt;
  return subscription_view{it->second.record, options_of(it->second.record),
                           it->second.activity};
}

status subscription_manager::update(
    const std::string& name,
    const std::function<void(storage::subscription_record&)>& f) {
  std::lock_guard g(lock_);
  auto it = subs_.find(name);
  if (it == subs_.end())
    return error{sqlstate::undefined_object,
                 "subscription \"" + name + "\" does not exist"};
  storage::subscription_record changed = it->second.record;
  f(changed);
  if (auto st = persist(changed); !st)
    return st;
  it->second.record = std::move(changed);
  return ok();
}

void subscription_manager::activity(
    const std::string& name,
    const std::function<void(subscription_activity&)>& f) {
  std::lock_guard g(lock_);
  auto it = subs_.find(name);
  if (it != subs_.end())
    f(it->second.activity);
}

void subscription_manager::reset_stats(std::optional<uint32_t> subid,
                                       int64_t now_unix_micros) {
  std::lock_guard g(lock_);
  for (auto& [name, e] : subs_) {
    if (subid && e.record.oid != *subid)
      continue;
    e.activity.counts_at_reset = e.activity.counts;
    e.activity.carried = {};
    e.activity.stats_reset = now_unix_micros;
  }
}

subscription_counts
subscription_counts::plus(const subscription_counts& more) const {
  return {apply_error_count + more.apply_error_count,
          sync_error_count + more.sync_error_count,
          confl_insert_exists + more.confl_insert_exists,
          confl_update_missing + more.confl_update_missing,
          confl_delete_missing + more.confl_delete_missing};
}

subscription_counts
subscription_counts::since(const subscription_counts& base) const {
  return {apply_error_count - base.apply_error_count,
          sync_error_count - base.sync_error_count,
          confl_insert_exists - base.confl_insert_exists,
          confl_update_missing - base.confl_update_missing,
          confl_delete_missing - base.confl_delete_missing};
}

void subscription_manager::mirror_origin(const std::string& name, lsn remote,
                                         lsn local) {
  storage::origin_record o;
  {
    std::lock_guard g(lock_);
    auto it = origins_.find(name);
    if (it == origins_.end()) {
      uint16_t id = 1;
      for (const auto& [n, r] : origins_)
        id = std::max<uint16_t>(id, static_cast<uint16_t>(r.id + 1));
      it = origins_.emplace(name, storage::origin_record{id, name, {}, {}})
               .first;
    }
    if (it->second.remote_lsn == remote && it->second.local_lsn == local &&
        remote.valid())
      return; // unchanged: no catalog write
    it->second.remote_lsn = remote;
    it->second.local_lsn = local;
    o = it->second;
  }
  storage::catalog_batch b;
  b.put_origin(o);
  if (auto st = catalog_.apply(b, false); !st)
    log_error(elevel::warning, st.err());
}

void subscription_manager::disable_after_error(const std::string& name) {
  auto st =
      update(name, [](storage::subscription_record& r) { r.enabled = false; });
  if (!st)
    log_error(elevel::warning, st.err());
  activity(name, [](subscription_activity& a) { a.pid = 0; });
  log_message(elevel::log, "subscription \"" + name +
                               "\" has been disabled because of an error");
}

} // namespace walmux::actors::apply
