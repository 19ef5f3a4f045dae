// subscription_statements.cpp: the SQL statements that change
// subscriptions (CREATE, ALTER in all its forms, DROP), as PostgreSQL
// checks and answers them; see subscription_manager.hpp. The manager's
// lifecycle (loading, workers, activity) is subscription_manager.cpp.
#include "actors/apply/apply_worker.hpp"
#include "actors/apply/initial_copy.hpp"
#include "actors/apply/subscription_manager.hpp"
#include "actors/apply/target_session.hpp"
#include "actors/common/clock.hpp"
#include "actors/common/pq_session.hpp"
#include "common/log.hpp"

#include <chrono>
#include <thread>

#include <caf/all.hpp>

namespace walmux::actors::apply {
namespace {

constexpr uint32_t first_subscription_oid = 16400;

std::vector<std::pair<std::string, std::string>>
options_to_record(const subddl::subscription_options& o) {
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  return {{"target", o.target},
          {"create_slot", b(o.create_slot)},
          {"slot_name", o.slot_name_none ? "none" : o.slot_name.value_or("")},
          {"copy_data", b(o.copy_data)},
          {"binary", b(o.binary)},
          {"streaming", o.streaming},
          {"synchronous_commit", o.synchronous_commit},
          {"two_phase", b(o.two_phase)},
          {"disable_on_error", b(o.disable_on_error)},
          {"origin", o.origin}};
}

// What walmux's apply does not do (yet) is refused, not ignored.
status check_supported(const subddl::subscription_options& o) {
  if (o.streaming == "parallel")
    return error{sqlstate::feature_not_supported,
                 "walmux applies a streamed transaction when it commits: "
                 "streaming = parallel is not supported"}
        .with_hint("Use streaming = on.");
  if (o.target.empty())
    return error{sqlstate::syntax_error,
                 "walmux's CREATE SUBSCRIPTION needs the target option"}
        .with_hint("Add WITH (target = 'conninfo of the database to apply "
                   "into').");
  return ok();
}

status check_connection(const std::string& conninfo, bool replication,
                        const char* what) {
  std::vector<std::pair<std::string, std::string>> extra;
  if (replication)
    extra.emplace_back("replication", "database");
  auto s = pq_session::connect(conninfo, extra, what);
  if (!s) {
    error e = std::move(s).err();
    e.code = "08006";
    return e;
  }
  return ok();
}

std::string slot_of(const storage::subscription_record& r,
                    const subddl::subscription_options& o) {
  return o.slot_name_none ? "" : o.slot_name.value_or(r.name);
}

} // namespace

expected<std::string> subscription_manager::execute(const subddl::statement& s,
                                                    bool in_block) {
  if (auto* c = std::get_if<subddl::create_subscription>(&s))
    return create(*c, in_block);
  if (auto* a = std::get_if<subddl::alter_subscription>(&s))
    return alter(*a, in_block);
  return drop(std::get<subddl::drop_subscription>(s), in_block);
}

expected<std::string>
subscription_manager::create(const subddl::create_subscription& c,
                             bool in_block) {
  auto opts =
      subddl::interpret_options(c.options, subddl::option_context::create, {});
  if (!opts)
    return std::move(opts).err();
  if (auto st = check_supported(*opts); !st)
    return std::move(st).err();
  if (in_block && opts->create_slot)
    return error{"25001", "CREATE SUBSCRIPTION ... WITH (create_slot = true) "
                          "cannot run inside a transaction block"};
  if (opts->copy_data && !opts->create_slot)
    return error{sqlstate::feature_not_supported,
                 "walmux copies tables in the snapshot of the slot it creates:"
                 " copy_data = true needs create_slot = true"};
  {
    std::lock_guard g(lock_);
    if (subs_.count(c.name))
      return error{sqlstate::duplicate_object,
                   "subscription \"" + c.name + "\" already exists"};
  }
  if (opts->connect) {
    if (auto st = check_connection(c.conninfo, true, "publisher"); !st)
      return std::move(st).err();
    if (auto st = check_connection(opts->target, false, "target database"); !st)
      return std::move(st).err();
  }
  storage::subscription_record r;
  r.name = c.name;
  r.conninfo = c.conninfo;
  r.publications = c.publications;
  r.options = options_to_record(*opts);
  r.enabled = opts->enabled;
  // Without create_slot the named slot is taken to exist already.
  r.slot_created = !opts->create_slot;
  r.copy_done = !opts->create_slot;
  if (opts->connect && opts->create_slot && !opts->copy_data) {
    // As PostgreSQL does, the slot is made now, so that the source keeps
    // every change from here on even while the subscription is disabled.
    // (A copy needs the slot's snapshot: then the worker makes the slot.)
    copy_plan plan;
    plan.subscription = c.name;
    plan.source_conninfo = c.conninfo;
    plan.slot_name = opts->slot_name.value_or(c.name);
    plan.publications = c.publications;
    plan.copy_data = false;
    copy_hooks hooks;
    hooks.tables =
        [&r](const std::vector<std::pair<std::string, std::string>>& tables)
        -> status {
      for (const auto& [schema, table] : tables)
        r.tables.push_back({schema, table, 'r', {}, 0});
      return ok();
    };
    hooks.slot_created = [](lsn) -> status { return ok(); };
    hooks.table_state = [](const std::string&, const std::string&, char,
                           uint32_t) {};
    auto point = run_initial_copy(plan, hooks);
    if (!point)
      return std::move(point).err();
    for (auto& t : r.tables)
      t.state_lsn = *point;
    r.slot_created = true;
    r.copy_done = true;
  } else if (opts->connect && !opts->create_slot) {
    // The slot exists already; the published tables stream from it.
    auto listed = refreshed_tables(r, false);
    if (!listed)
      return std::move(listed).err();
    r.tables = std::move(listed->first);
  }
  std::lock_guard g(lock_);
  if (subs_.count(c.name))
    return error{sqlstate::duplicate_object,
                 "subscription \"" + c.name + "\" already exists"};
  uint32_t oid = first_subscription_oid;
  for (const auto& [n, e] : subs_)
    oid = std::max(oid, e.record.oid + 1);
  r.oid = oid;
  // The target knows a subscription by the name it was created with; a
  // renamed one keeps that key, so a new subscription of the old name
  // takes a key of its own.
  r.target_key = c.name;
  for (const auto& [n, e] : subs_)
    if (e.record.target_key == r.target_key)
      r.target_key = c.name + "_" + std::to_string(oid);
  if (auto st = persist(r); !st)
    return std::move(st).err();
  subs_[c.name].record = r;
  if (!opts->enabled)
    log_message(elevel::warning,
                "subscription \"" + c.name +
                    "\" was created, but is not enabled: to start "
                    "replicating, run ALTER SUBSCRIPTION ... ENABLE");
  reconcile_locked();
  return std::string("CREATE SUBSCRIPTION");
}

expected<std::string>
subscription_manager::alter(const subddl::alter_subscription& a,
                            bool in_block) {
  using action = subddl::alter_subscription::action;
  std::unique_lock held(lock_);
  auto it = subs_.find(a.name);
  if (it == subs_.end())
    return error{sqlstate::undefined_object,
                 "subscription \"" + a.name + "\" does not exist"};
  storage::subscription_record r = it->second.record;
  auto opts = options_of(r);
  bool restart = false;
  switch (a.what) {
  case action::rename:
    return rename(held, it, a.new_name);
  case action::enable:
    if (opts.slot_name_none)
      return error{"55000", "cannot enable subscription that does not have a "
                            "slot name"};
    r.enabled = true;
    break;
  case action::disable:
    r.enabled = false;
    break;
  case action::connection:
    r.conninfo = a.conninfo;
    restart = true;
    break;
  case action::set: {
    auto changed =
        subddl::interpret_options(a.options, subddl::option_context::set, opts);
    if (!changed)
      return std::move(changed).err();
    if (auto st = check_supported(*changed); !st)
      return std::move(st).err();
    if (changed->slot_name_none && r.enabled)
      return error{"55000", "cannot set slot_name = NONE for enabled "
                            "subscription"};
    r.options = options_to_record(*changed);
    restart = true;
    break;
  }
  case action::skip: {
    auto at = subddl::interpret_skip(a.options);
    if (!at)
      return std::move(at).err();
    r.skip_lsn = *at;
    restart = true; // a worker retrying the transaction picks it up
    break;
  }
  case action::refresh:
  case action::set_publication:
  case action::add_publication:
  case action::drop_publication: {
    // REFRESH's copy_data defaults to true; SET/ADD/DROP PUBLICATION also
    // take refresh (default true).
    subddl::subscription_options given = opts;
    given.copy_data = true;
    given.refresh = true;
    auto o = subddl::interpret_options(
        a.options,
        a.what == action::refresh ? subddl::option_context::refresh
                                  : subddl::option_context::publication,
        given);
    if (!o)
      return std::move(o).err();
    if (a.what != action::refresh) {
      auto merged = subddl::merge_publications(r.publications, a);
      if (!merged)
        return std::move(merged).err();
      r.publications = std::move(*merged);
      restart = true; // the worker streams the new publications
    }
    if (a.what != action::refresh && !o->refresh)
      break;
    const char* what = a.what == action::refresh
                           ? "ALTER SUBSCRIPTION ... REFRESH"
                           : "ALTER SUBSCRIPTION with refresh";
    if (!r.enabled) {
      error e{"55000",
              std::string(what) + " is not allowed for disabled subscriptions"};
      if (a.what == action::refresh)
        return e;
      return std::move(e).with_hint("Use ALTER SUBSCRIPTION ... SET "
                                    "PUBLICATION ... WITH (refresh = false).");
    }
    // A transaction prepared before a new table's copy point and
    // committed after it would reach the target without that table's
    // changes (they were not subscribed when it was prepared there).
    if (o->copy_data && subscription_two_phase_state(r, opts) == 'e') {
      if (a.what == action::refresh)
        return error{"55000", "ALTER SUBSCRIPTION ... REFRESH with copy_data "
                              "is not allowed when two_phase is enabled"}
            .with_hint("Use ALTER SUBSCRIPTION ... REFRESH with copy_data = "
                       "false, or use DROP/CREATE SUBSCRIPTION.");
      return error{"55000", "ALTER SUBSCRIPTION with refresh and copy_data is "
                            "not allowed when two_phase is enabled"}
          .with_hint("Use ALTER SUBSCRIPTION ... SET PUBLICATION with refresh "
                     "= false, or with copy_data = false, or use DROP/CREATE "
                     "SUBSCRIPTION.");
    }
    if (in_block)
      return error{"25001", std::string(what) +
                                " cannot run inside a transaction block"};
    held.unlock();
    auto now = refreshed_tables(r, o->copy_data);
    if (!now)
      return std::move(now).err();
    held.lock();
    it = subs_.find(a.name);
    if (it == subs_.end())
      return error{sqlstate::undefined_object,
                   "subscription \"" + a.name + "\" does not exist"};
    const auto publications = r.publications;
    r = it->second.record;
    r.publications = publications;
    // The worker copies added tables first.
    restart = restart || now->second;
    r.tables = std::move(now->first);
    break;
  }
  }
  if (auto st = persist(r); !st)
    return std::move(st).err();
  it->second.record = r;
  if (restart || !r.enabled)
    stop_worker(held, a.name);
  reconcile_locked();
  return std::string("ALTER SUBSCRIPTION");
}

expected<std::string>
subscription_manager::rename(std::unique_lock<std::mutex>& held,
                             std::map<std::string, entry>::iterator it,
                             const std::string& new_name) {
  const std::string old_name = it->first;
  if (subs_.count(new_name))
    return error{sqlstate::duplicate_object,
                 "subscription \"" + new_name + "\" already exists"};
  storage::subscription_record r = it->second.record;
  r.name = new_name;
  // The publisher's slot keeps its name, as on PostgreSQL: a slot named
  // after the subscription by default is now named explicitly.
  auto opts = options_of(r);
  if (!opts.slot_name_none && !opts.slot_name) {
    opts.slot_name = old_name;
    r.options = options_to_record(opts);
  }
  // The worker runs under the old name: stopped first, started again
  // under the new one (PostgreSQL's worker restarts on a rename too).
  if (it->second.control)
    log_message(elevel::log, "logical replication apply worker for "
                             "subscription \"" +
                                 old_name +
                                 "\" will restart because of a parameter "
                                 "change");
  stop_worker(held, old_name);
  it = subs_.find(old_name);
  if (it == subs_.end())
    return error{sqlstate::undefined_object,
                 "subscription \"" + old_name + "\" does not exist"};
  if (subs_.count(new_name))
    return error{sqlstate::duplicate_object,
                 "subscription \"" + new_name + "\" already exists"};
  storage::catalog_batch b;
  b.delete_subscription(old_name);
  b.put_subscription(r);
  if (auto st = catalog_.apply(b, true); !st)
    return std::move(st).err();
  entry moved = std::move(it->second);
  subs_.erase(it);
  moved.record = std::move(r);
  subs_.emplace(new_name, std::move(moved));
  reconcile_locked();
  return std::string("ALTER SUBSCRIPTION");
}

expected<std::pair<std::vector<storage::subscription_table>, bool>>
subscription_manager::refreshed_tables(const storage::subscription_record& r,
                                       bool copy_data) {
  // The tables now published: known ones keep their state, new ones are
  // copied by the worker ('i') or stream from now on ('r'), and tables no
  // longer published leave the subscription.
  auto repl = pq_session::connect(r.conninfo, {{"replication", "database"}},
                                  "publisher");
  if (!repl)
    return std::move(repl).err();
  auto listed = (*repl)->exec(publication_tables_query(r.publications));
  if (!listed)
    return std::move(listed).err();
  std::vector<storage::subscription_table> now;
  bool added = false;
  for (const auto& row : listed->rows) {
    if (row.size() < 2 || !row[0] || !row[1])
      continue;
    storage::subscription_table t{
        *row[0], *row[1], copy_data ? 'i' : 'r', {}, 0};
    bool known = false;
    for (const auto& old : r.tables)
      if (old.schema == t.schema && old.name == t.name) {
        t = old;
        known = true;
      }
    added = added || !known;
    now.push_back(std::move(t));
  }
  return std::pair{std::move(now), added};
}

expected<std::string>
subscription_manager::drop(const subddl::drop_subscription& d, bool in_block) {
  std::unique_lock held(lock_);
  auto it = subs_.find(d.name);
  if (it == subs_.end()) {
    if (d.if_exists) {
      log_message(elevel::notice,
                  "subscription \"" + d.name + "\" does not exist, skipping");
      return std::string("DROP SUBSCRIPTION");
    }
    return error{sqlstate::undefined_object,
                 "subscription \"" + d.name + "\" does not exist"};
  }
  const storage::subscription_record r = it->second.record;
  const auto opts = options_of(r);
  const std::string slot = slot_of(r, opts);
  if (in_block && !slot.empty())
    return error{"25001", "DROP SUBSCRIPTION cannot run inside a transaction "
                          "block"};
  stop_worker(held, d.name);
  held.unlock();
  if (!slot.empty() && r.slot_created) {
    auto repl = pq_session::connect(r.conninfo, {{"replication", "database"}},
                                    "publisher");
    if (!repl)
      return error{"08006", "could not connect to publisher when attempting "
                            "to drop replication slot \"" +
                                slot + "\": " + repl.err().message}
          .with_hint("Use ALTER SUBSCRIPTION ... DISABLE to disable the "
                     "subscription, and then use ALTER SUBSCRIPTION ... SET "
                     "(slot_name = NONE) to disassociate it from the slot.");
    auto dropped = (*repl)->exec("DROP_REPLICATION_SLOT " +
                                 pq_quote_identifier(slot) + " WAIT");
    if (!dropped && dropped.err().code != sqlstate::undefined_object)
      return std::move(dropped).err();
    log_message(elevel::notice, dropped ? "dropped replication slot \"" + slot +
                                              "\" on publisher"
                                        : "replication slot \"" + slot +
                                              "\" does not exist on publisher");
  }
  // The target's progress goes with the subscription, as PostgreSQL drops
  // the subscription's origin.
  const std::string origin = target_origin_name(r.target_key);
  if (auto tgt = pq_session::connect(opts.target, {}, "target database")) {
    auto gone = (*tgt)->exec(
        "SELECT pg_catalog.pg_replication_origin_drop(roname) FROM "
        "pg_catalog.pg_replication_origin WHERE roname = " +
        pq_quote_literal(origin));
    if (!gone)
      (void)(*tgt)->exec(
          "DELETE FROM public.walmux_apply_progress WHERE subname = " +
          pq_quote_literal(r.target_key));
  } else {
    log_message(elevel::warning,
                "could not connect to the target to drop the progress of "
                "subscription \"" +
                    r.name + "\": " + tgt.err().message);
  }
  held.lock();
  storage::catalog_batch b;
  b.delete_subscription(r.name);
  b.delete_origin(origin);
  if (auto st = catalog_.apply(b, true); !st)
    return std::move(st).err();
  subs_.erase(r.name);
  origins_.erase(origin);
  reconcile_locked();
  return std::string("DROP SUBSCRIPTION");
}

} // namespace walmux::actors::apply
