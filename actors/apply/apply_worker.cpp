// apply_worker.cpp: one subscription's apply worker (apply_worker.hpp).
#include "actors/apply/apply_worker.hpp"

#include "actors/apply/initial_copy.hpp"
#include "actors/apply/target_session.hpp"
#include "actors/common/atoms.hpp"
#include "actors/common/clock.hpp"
#include "actors/common/pq_session.hpp"
#include "actors/source/source.hpp"
#include "common/log.hpp"
#include "protocol/pgoutput.hpp"
#include "protocol/stream.hpp"

#include <chrono>
#include <poll.h>

#include <caf/all.hpp>
#include <libpq-fe.h>

namespace walmux::actors::apply {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// A group of upstream transactions closes at the first of these.
constexpr size_t group_max_transactions = 5000;
constexpr size_t group_max_bytes = 8 << 20;
constexpr auto group_max_age = 200ms;
constexpr auto status_interval = 1s;
constexpr auto flush_check_interval = 200ms;
// After a step that found data, the worker waits this long before it reads
// again, so that the publisher's messages pile up in the socket: its
// walsender then sends in large writes instead of one per message (see
// source.cpp). With 10ms the walsender spent 1.75 s of CPU on 100,000
// single-row transactions, with 100ms 1.1-1.4 s, as for a native
// subscriber; the walsender bounds the apply speed. It bounds the extra
// latency of a busy stream (an idle worker reads at once).
constexpr auto drain_interval = 100ms;
// Bytes one step takes from the source before it looks at time and stop.
constexpr size_t max_bytes_per_step = 16 << 20;
// A step under a stream that never pauses ends after this long, so that
// status replies, the views and the flush check keep their pace.
constexpr auto max_step_time = 1s;

const char* message_type_name(char kind) {
  switch (kind) {
  case 'I':
    return "INSERT";
  case 'U':
    return "UPDATE";
  case 'D':
    return "DELETE";
  case 'T':
    return "TRUNCATE";
  default:
    return "COMMIT";
  }
}

class apply_session {
 public:
  apply_session(subscription_manager& m, std::string name,
                std::shared_ptr<worker_control> control)
      : manager_(m)
      , name_(std::move(name))
      , control_(std::move(control)) {}

  // Copies if needed, connects both sides and starts streaming.
  status start();
  // One step: waits up to `timeout` for data and applies it; true when
  // data arrived.
  expected<bool> step(std::chrono::milliseconds timeout);
  void close() {
    source_.reset();
    target_.reset();
  }
  // Counts and logs a failure; true when the subscription is disabled.
  bool failed(const error& e);
  const std::string& name() const { return name_; }
  // Whether this connection has committed anything: only then does a
  // later failure start the backoff again from its shortest wait.
  bool advanced() const { return target_ && target_->progress() > started_at_; }

 private:
  enum class skip_reason { none, applied, origin, skip_lsn };

  status copy_phase(const subscription_view& v);
  // Records a table's copy state (and its target OID when known).
  void set_table_state(const std::string& schema, const std::string& table,
                       char state, uint32_t target_oid);
  // Copies the tables REFRESH PUBLICATION added ('i', or 'd' when a copy
  // was interrupted) in the snapshot of a temporary slot at point P; they
  // become 's' at P: their changes apply from transactions committing at or
  // after P, and they are 'r' once the target has flushed progress at or
  // past P (promote_synced).
  status sync_phase(const subscription_view& v);
  // Marks 's' tables whose point is at or before `flushed` 'r'. Only
  // progress the target has flushed counts: were the state ahead of the
  // target's progress after a target crash, transactions before P would
  // apply again on top of the copy.
  status promote_synced(lsn flushed);
  // Reads the target's flush position again (at most every
  // flush_check_interval, between groups) and promotes what it allows;
  // after every group and every step, so that a busy stream does not hold
  // it back.
  status check_flushed();
  // On a quiet publisher, moves the target's progress to what the stream
  // has passed (idle_end_) when a copied table waits for it, as
  // PostgreSQL's apply worker promotes tables on the last received
  // position.
  status advance_idle_progress();
  void load_table_states(const storage::subscription_record& r);
  // Whether a change of the relation applies in the current transaction
  // (PostgreSQL's should_apply_changes_for_rel).
  bool applies_to(uint32_t oid) const;
  status handle(const stream::xlog_data& x);
  status end_transaction(const pgoutput::commit& c);
  status close_group();
  status send_status(bool force);
  error with_context(error e) const;
  change_context context(char kind, const std::string& relation) const {
    return {kind, relation, xid_, final_lsn_, {}};
  }
  std::string relation_name(uint32_t oid) const {
    auto it = relation_names_.find(oid);
    return it == relation_names_.end() ? std::to_string(oid) : it->second;
  }

  subscription_manager& manager_;
  std::string name_;
  std::shared_ptr<worker_control> control_;
  subddl::subscription_options options_;
  lsn skip_lsn_;
  std::unique_ptr<pq_session> source_;
  std::unique_ptr<target_session> target_;
  pgoutput::stream_decoder decoder_;
  std::map<uint32_t, std::string> relation_names_;
  // schema.table -> (state, state LSN) of the subscription's tables.
  std::map<std::string, std::pair<char, lsn>> table_states_;
  bool any_synced_ = false; // a table is in state 's'

  bool in_txn_ = false;
  skip_reason skip_ = skip_reason::none;
  uint32_t xid_ = 0;
  lsn final_lsn_;
  bool copying_ = false;
  // After a failure, transactions up to the failing one commit one by
  // one, so that those before it are not held back with it.
  lsn solo_until_;
  lsn started_at_;
  // Everything up to here is handled when nothing waits for the target.
  lsn idle_end_;
  lsn received_;
  int64_t last_send_time_ = 0;
  steady::time_point group_started_;
  steady::time_point last_status_ = steady::now() - status_interval;
  steady::time_point last_flush_check_ = steady::now();
  lsn reported_flush_;
  bool reply_requested_ = false;
};

error apply_session::with_context(error e) const {
  const change_context& c =
      target_ && target_->failed_change().final_lsn.valid()
          ? target_->failed_change()
          : change_context{0, {}, xid_, final_lsn_, {}};
  if (!c.final_lsn.valid())
    return e;
  std::string where = "processing remote data for replication origin \"" +
                      target_origin_name(name_) + "\" during message type \"" +
                      message_type_name(c.kind) + "\"";
  if (!c.relation.empty())
    where += " for replication target relation \"" + c.relation + "\"";
  if (c.first_final_lsn.valid())
    where += " in one of the transactions finished from " +
             lsn_to_string(c.first_final_lsn) + " to " +
             lsn_to_string(c.final_lsn) +
             " (applied together; they are retried one by one)";
  else
    where += " in transaction " + std::to_string(c.xid) + ", finished at " +
             lsn_to_string(c.final_lsn);
  e.context = where;
  return e;
}

bool apply_session::failed(const error& raw) {
  const error e = copying_ ? raw : with_context(raw);
  if (!copying_ && target_)
    solo_until_ = target_->failed_change().final_lsn.valid()
                      ? target_->failed_change().final_lsn
                      : final_lsn_;
  manager_.activity(name_, [&](subscription_activity& a) {
    (copying_ ? a.counts.sync_error_count : a.counts.apply_error_count)++;
    if (e.code == "23505")
      a.counts.confl_insert_exists++;
  });
  log_error(elevel::error, e);
  close();
  if (options_.disable_on_error) {
    manager_.disable_after_error(name_);
    return true;
  }
  return false;
}

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
  auto target = target_session::connect(
      {v.options.target, name_, v.options.synchronous_commit});
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

status apply_session::start() {
  auto v = manager_.get(name_);
  if (!v || !v->record.enabled)
    return error{"57P01", "subscription \"" + name_ + "\" is not enabled"};
  options_ = v->options;
  skip_lsn_ = v->record.skip_lsn;
  copying_ = false;
  decoder_ = pgoutput::stream_decoder();
  relation_names_.clear();
  in_txn_ = false;
  if (!v->record.copy_done)
    if (auto st = copy_phase(*v); !st)
      return st;
  if (auto st = sync_phase(*manager_.get(name_)); !st)
    return st;
  load_table_states(manager_.get(name_)->record);
  if (!target_) {
    auto target = target_session::connect(
        {options_.target, name_, options_.synchronous_commit});
    if (!target)
      return std::move(target).err();
    target_ = std::move(*target);
  }
  auto src = pq_session::connect(
      v->record.conninfo,
      {{"replication", "database"}, {"application_name", name_}}, "publisher");
  if (!src)
    return std::move(src).err();
  source_ = std::move(*src);
  const int server = source_->server_version();
  std::string pubs;
  for (const auto& p : v->record.publications)
    pubs += (pubs.empty() ? "" : ",") + pq_quote_identifier(p);
  std::string cmd = "START_REPLICATION SLOT " +
                    pq_quote_identifier(v->options.slot_name.value_or(name_)) +
                    " LOGICAL " + lsn_to_string(target_->progress()) +
                    " (proto_version '" +
                    std::to_string(std::min(3, pgoutput_version_for(server))) +
                    "', publication_names " + pq_quote_literal(pubs);
  if (server >= 160000 && options_.origin == "none")
    cmd += ", origin 'none'";
  cmd += ")";
  PGresult* res = PQexec(source_->raw(), cmd.c_str());
  const bool streaming = res && PQresultStatus(res) == PGRES_COPY_BOTH;
  error e = streaming ? error{} : pq_error(source_->raw(), res);
  if (res)
    PQclear(res);
  if (!streaming)
    return e;
  idle_end_ = target_->progress();
  started_at_ = target_->progress();
  reported_flush_ = lsn{};
  log_message(elevel::log, "logical replication apply worker for subscription "
                           "\"" +
                               name_ + "\" has started at " +
                               lsn_to_string(target_->progress()));
  manager_.mirror_origin(target_origin_name(name_), target_->progress(),
                         target_->local_lsn());
  return ok();
}

status apply_session::handle(const stream::xlog_data& x) {
  auto decoded = decoder_.decode(x.data);
  if (!decoded)
    return std::move(decoded).err();
  auto& m = *decoded;
  if (auto* b = std::get_if<pgoutput::begin>(&m)) {
    in_txn_ = true;
    xid_ = b->xid;
    final_lsn_ = b->final_lsn;
    skip_ = skip_reason::none;
    if (b->final_lsn < target_->progress()) {
      skip_ = skip_reason::applied;
    } else if (skip_lsn_.valid() && b->final_lsn == skip_lsn_) {
      skip_ = skip_reason::skip_lsn;
      log_message(elevel::log,
                  "logical replication starts skipping transaction at LSN " +
                      lsn_to_string(skip_lsn_));
    }
    if (!target_->group_open())
      group_started_ = steady::now();
    return ok();
  }
  if (auto* c = std::get_if<pgoutput::commit>(&m))
    return end_transaction(*c);
  if (auto* o = std::get_if<pgoutput::origin>(&m)) {
    if (options_.origin == "none" && !o->name.empty() &&
        skip_ == skip_reason::none)
      skip_ = skip_reason::origin;
    return ok();
  }
  if (auto* r = std::get_if<pgoutput::relation>(&m)) {
    relation_names_[r->oid] = r->nspname + "." + r->relname;
    target_->relation(*r);
    return ok();
  }
  if (std::holds_alternative<pgoutput::type>(m) ||
      std::holds_alternative<pgoutput::message>(m))
    return ok();
  const bool applying = skip_ == skip_reason::none;
  if (auto* i = std::get_if<pgoutput::insert>(&m))
    return applying && applies_to(i->relation_oid)
               ? target_->insert(*i,
                                 context('I', relation_name(i->relation_oid)))
               : status(ok());
  if (auto* u = std::get_if<pgoutput::update>(&m))
    return applying && applies_to(u->relation_oid)
               ? target_->update(*u,
                                 context('U', relation_name(u->relation_oid)))
               : status(ok());
  if (auto* d = std::get_if<pgoutput::delete_>(&m))
    return applying && applies_to(d->relation_oid)
               ? target_->remove(*d,
                                 context('D', relation_name(d->relation_oid)))
               : status(ok());
  if (auto* t = std::get_if<pgoutput::truncate>(&m)) {
    pgoutput::truncate wanted = *t;
    wanted.relation_oids.clear();
    std::string names;
    for (uint32_t oid : t->relation_oids)
      if (applies_to(oid)) {
        wanted.relation_oids.push_back(oid);
        names += (names.empty() ? "" : ", ") + relation_name(oid);
      }
    return applying && !wanted.relation_oids.empty()
               ? target_->truncate(wanted, context('T', names))
               : status(ok());
  }
  return error{sqlstate::protocol_violation,
               "walmux does not apply streamed or prepared transactions, but "
               "the publisher sent one"};
}

status apply_session::end_transaction(const pgoutput::commit& c) {
  in_txn_ = false;
  if (skip_ == skip_reason::applied) {
    // Applied before a restart: the target holds it.
    if (!target_->group_open())
      idle_end_ = std::max(idle_end_, c.end_lsn);
    return ok();
  }
  if (skip_ == skip_reason::skip_lsn)
    log_message(elevel::log,
                "logical replication completed skipping transaction at LSN " +
                    lsn_to_string(final_lsn_));
  if (target_->group_open())
    target_->transaction_done(c.end_lsn, c.commit_time);
  else
    idle_end_ = std::max(idle_end_, c.end_lsn);
  if (target_->group_open() &&
      (final_lsn_ <= solo_until_ ||
       target_->group_transactions() >= group_max_transactions ||
       target_->group_bytes() >= group_max_bytes ||
       steady::now() - group_started_ >= group_max_age))
    return close_group();
  return ok();
}

status apply_session::close_group() {
  if (!target_->group_open())
    return ok();
  if (auto st = target_->commit_group(); !st)
    return st;
  const lsn progress = target_->progress();
  idle_end_ = std::max(idle_end_, progress);
  const conflict_counts conflicts = target_->take_conflicts();
  manager_.activity(name_, [&](subscription_activity& a) {
    a.applied_lsn = progress;
    a.counts.confl_update_missing += conflicts.update_missing;
    a.counts.confl_delete_missing += conflicts.delete_missing;
  });
  if (auto st = check_flushed(); !st)
    return st;
  if (skip_lsn_.valid() && progress > skip_lsn_) {
    // The skipped transaction is behind the committed progress now.
    const lsn cleared = skip_lsn_;
    skip_lsn_ = lsn{};
    return manager_.update(name_, [cleared](storage::subscription_record& r) {
      if (r.skip_lsn == cleared)
        r.skip_lsn = lsn{};
    });
  }
  return ok();
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

status apply_session::send_status(bool force) {
  const auto now = steady::now();
  if (!force && now - last_status_ < status_interval)
    return ok();
  lsn flush = target_->confirmed();
  // With nothing applied and unflushed, and no transaction in progress,
  // everything received so far is handled.
  if (!in_txn_ && !target_->group_open() &&
      target_->confirmed() == target_->progress())
    flush = std::max(flush, idle_end_);
  std::string body;
  stream::encode(body, stream::status_update{std::max(received_, flush), flush,
                                             flush, pg_micros_now(), false});
  PGconn* c = source_->raw();
  if (PQputCopyData(c, body.data(), static_cast<int>(body.size())) != 1 ||
      PQflush(c) < 0)
    return pq_error(c, nullptr);
  last_status_ = now;
  reported_flush_ = flush;
  manager_.mirror_origin(target_origin_name(name_), target_->progress(),
                         target_->local_lsn());
  return ok();
}

expected<bool> apply_session::step(std::chrono::milliseconds timeout) {
  int64_t receipt = 0;
  lsn latest_end;
  int64_t latest_end_time = 0;
  auto taken = pq_read_stream(
      source_->raw(), timeout, max_bytes_per_step,
      [&](const stream::server_message& msg) -> status {
        receipt = pg_micros_now();
        if (auto* x = std::get_if<stream::xlog_data>(&msg)) {
          received_ = std::max(received_, x->wal_end);
          last_send_time_ = x->send_time;
          return handle(*x);
        }
        const auto& k = std::get<stream::keepalive>(msg);
        received_ = std::max(received_, k.wal_end);
        latest_end = k.wal_end;
        latest_end_time = k.send_time;
        if (!in_txn_ && !target_->group_open())
          idle_end_ = std::max(idle_end_, k.wal_end);
        reply_requested_ = reply_requested_ || k.reply_requested;
        return ok();
      },
      "the publisher ended the stream",
      [this, began = steady::now()] {
        return control_->stop.load() || steady::now() - began >= max_step_time;
      });
  if (!taken)
    return std::move(taken).err();
  // Nothing more to read now: a finished group commits.
  if (!in_txn_ && target_->group_open())
    if (auto st = close_group(); !st)
      return std::move(st).err();
  if (auto st = advance_idle_progress(); !st)
    return std::move(st).err();
  if (auto st = check_flushed(); !st)
    return std::move(st).err();
  if (receipt != 0 || latest_end.valid())
    manager_.activity(name_, [&](subscription_activity& a) {
      a.received_lsn = received_;
      if (receipt != 0) {
        a.last_msg_receipt_time = receipt;
        a.last_msg_send_time = last_send_time_;
      }
      if (latest_end.valid()) {
        a.latest_end_lsn = latest_end;
        a.latest_end_time = latest_end_time;
      }
    });
  const bool force =
      reply_requested_ || (target_->confirmed() != reported_flush_ &&
                           steady::now() - last_status_ >= 100ms);
  reply_requested_ = false;
  if (auto st = send_status(force); !st)
    return std::move(st).err();
  return *taken > 0;
}

struct worker_state {
  std::unique_ptr<apply_session> session;
  std::chrono::milliseconds backoff{1000};
  static inline const char* name = "apply_worker";
};

caf::behavior apply_worker(caf::stateful_actor<worker_state>* self,
                           subscription_manager* manager, std::string name,
                           std::shared_ptr<worker_control> control) {
  self->attach_functor([control] { control->done = true; });
  self->state.session =
      std::make_unique<apply_session>(*manager, std::move(name), control);
  self->send(self, connect_atom::value);
  // Returns false when the worker should end.
  auto retry = [self, control](const error& e) {
    if (control->stop.load())
      return false;
    if (self->state.session->failed(e))
      return false;
    log_message(elevel::log,
                "logical replication apply worker for subscription \"" +
                    self->state.session->name() + "\" will restart in " +
                    std::to_string(self->state.backoff.count()) + " ms");
    self->delayed_send(self, self->state.backoff, connect_atom::value);
    self->state.backoff = std::min<std::chrono::milliseconds>(
        self->state.backoff * 2, std::chrono::milliseconds(30000));
    return true;
  };
  return {
      [=](connect_atom) {
        if (control->stop.load()) {
          self->quit();
          return;
        }
        if (auto st = self->state.session->start(); !st) {
          if (st.err().code == "57P01" || !retry(st.err()))
            self->quit();
          return;
        }
        self->send(self, pump_atom::value);
      },
      [=](pump_atom) {
        if (control->stop.load()) {
          self->quit();
          return;
        }
        auto got = self->state.session->step(100ms);
        if (!got) {
          if (!retry(got.err()))
            self->quit();
          return;
        }
        if (self->state.session->advanced())
          self->state.backoff = std::chrono::milliseconds(1000);
        if (*got)
          self->delayed_send(self, drain_interval, pump_atom::value);
        else
          self->send(self, pump_atom::value);
      },
  };
}

} // namespace

caf::actor spawn_apply_worker(caf::actor_system& system,
                              subscription_manager& manager, std::string name,
                              std::shared_ptr<worker_control> control) {
  return system.spawn<caf::detached>(apply_worker, &manager, std::move(name),
                                     std::move(control));
}

} // namespace walmux::actors::apply
