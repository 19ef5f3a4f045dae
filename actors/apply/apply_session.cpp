// apply_session.cpp: connecting, streaming and applying transactions,
// grouped, with their progress (apply_session.hpp).
#include "actors/apply/apply_session.hpp"

#include "actors/common/clock.hpp"
#include "actors/source/source.hpp"
#include "common/log.hpp"

#include <libpq-fe.h>

namespace walmux::actors::apply {
namespace {

using namespace std::chrono_literals;

// A group of upstream transactions closes at the first of these.
constexpr size_t group_max_transactions = 5000;
constexpr size_t group_max_bytes = 8 << 20;
constexpr auto group_max_age = 200ms;
constexpr auto status_interval = 1s;
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

} // namespace

error apply_session::with_context(error e) const {
  const change_context& c =
      target_ && target_->failed_change().final_lsn.valid()
          ? target_->failed_change()
          : change_context{0, {}, xid_, final_lsn_, {}};
  if (!c.final_lsn.valid())
    return e;
  std::string where = "processing remote data for replication origin \"" +
                      target_origin_name(target_key_) +
                      "\" during message type \"" + message_type_name(c.kind) +
                      "\"";
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

status apply_session::start() {
  auto v = manager_.get(name_);
  if (!v || !v->record.enabled)
    return error{"57P01", "subscription \"" + name_ + "\" is not enabled"};
  options_ = v->options;
  target_key_ = v->record.target_key;
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
        {options_.target, name_, target_key_, options_.synchronous_commit});
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
  if (options_.streaming == "on") {
    if (!spool_)
      spool_ = std::make_unique<stream_spool>(
          manager_.spool_dir(), "sub" + std::to_string(v->record.oid));
    // The publisher streams what was in progress again from its start.
    if (auto st = spool_->remove_all(); !st)
      return st;
  } else {
    spool_.reset(); // streaming was turned off: its files go
  }
  std::string cmd = "START_REPLICATION SLOT " +
                    pq_quote_identifier(v->options.slot_name.value_or(name_)) +
                    " LOGICAL " + lsn_to_string(target_->progress()) +
                    " (proto_version '" +
                    std::to_string(std::min(3, pgoutput_version_for(server))) +
                    "', publication_names " + pq_quote_literal(pubs);
  if (server >= 160000 && options_.origin == "none")
    cmd += ", origin 'none'";
  if (options_.streaming == "on")
    cmd += ", streaming 'on'";
  if (options_.binary)
    cmd += ", binary 'true'";
  two_phase_pending_ = false;
  if (options_.two_phase) {
    if (two_phase_ready())
      cmd += ", two_phase 'on'";
    else
      two_phase_pending_ = true;
  }
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
  manager_.mirror_origin(target_origin_name(target_key_), target_->progress(),
                         target_->local_lsn());
  return ok();
}

status apply_session::handle(const stream::xlog_data& x) {
  if (spool_ && decoder_.in_stream()) {
    auto spooled = spool_change(x.data);
    if (!spooled)
      return std::move(spooled).err();
    if (*spooled)
      return ok();
  }
  auto decoded = decoder_.decode(x.data);
  if (!decoded)
    return std::move(decoded).err();
  const auto& m = *decoded;
  if (auto* b = std::get_if<pgoutput::begin>(&m)) {
    begin_transaction(b->xid, b->final_lsn);
    return ok();
  }
  if (auto* c = std::get_if<pgoutput::commit>(&m))
    return end_transaction(*c);
  if (auto* b = std::get_if<pgoutput::begin_prepare>(&m))
    return begin_prepared(*b);
  if (auto* p = std::get_if<pgoutput::prepare>(&m); p && !p->streamed)
    return end_prepared(*p);
  if (auto* k = std::get_if<pgoutput::commit_prepared>(&m))
    return finish_prepared(k->xid, true, k->commit_lsn, k->end_lsn,
                           k->commit_time);
  if (auto* r = std::get_if<pgoutput::rollback_prepared>(&m))
    return finish_prepared(r->xid, false, r->prepare_end_lsn,
                           r->rollback_end_lsn, r->rollback_time);
  auto streamed = handle_streamed(m);
  if (!streamed)
    return std::move(streamed).err();
  if (*streamed)
    return ok();
  return apply_change(m);
}

void apply_session::begin_transaction(uint32_t xid, lsn final_lsn) {
  in_txn_ = true;
  xid_ = xid;
  final_lsn_ = final_lsn;
  skip_ = skip_reason::none;
  if (final_lsn < target_->progress()) {
    skip_ = skip_reason::applied;
  } else if (skip_lsn_.valid() && final_lsn == skip_lsn_) {
    skip_ = skip_reason::skip_lsn;
    log_message(elevel::log,
                "logical replication starts skipping transaction at LSN " +
                    lsn_to_string(skip_lsn_));
  }
  if (!target_->group_open())
    group_started_ = steady::now();
}

expected<bool> apply_session::handle_streamed(const pgoutput::any_message& m) {
  if (!spool_)
    return false;
  if (auto* s = std::get_if<pgoutput::stream_start>(&m)) {
    if (auto st = spool_->begin_block(s->xid, s->first_segment != 0); !st)
      return std::move(st).err();
    return true;
  }
  if (std::holds_alternative<pgoutput::stream_stop>(m)) {
    if (auto st = spool_->end_block(); !st)
      return std::move(st).err();
    return true;
  }
  if (auto* a = std::get_if<pgoutput::stream_abort>(&m)) {
    if (auto st = spool_->abort(a->xid, a->subxid); !st)
      return std::move(st).err();
    return true;
  }
  // The whole transaction, applied as one received at its commit (or its
  // prepare).
  auto replay = [this](uint32_t xid) {
    const pgoutput::decode_context in_stream{true, false};
    return spool_->replay(xid, [&](std::string_view spooled) -> status {
      auto change = pgoutput::decode(spooled, in_stream);
      if (!change)
        return std::move(change).err();
      return apply_change(*change);
    });
  };
  if (auto* c = std::get_if<pgoutput::stream_commit>(&m)) {
    begin_transaction(c->xid, c->commit_lsn);
    if (auto st = replay(c->xid); !st)
      return std::move(st).err();
    if (auto end = end_transaction(
            {c->flags, c->commit_lsn, c->end_lsn, c->commit_time});
        !end)
      return std::move(end).err();
    return true;
  }
  if (auto* p = std::get_if<pgoutput::prepare>(&m); p && p->streamed) {
    if (auto st = begin_prepared(
            {p->prepare_lsn, p->end_lsn, p->prepare_time, p->xid, p->gid});
        !st)
      return std::move(st).err();
    if (auto st = skip_ == skip_reason::applied ? spool_->abort(p->xid, p->xid)
                                                : replay(p->xid);
        !st)
      return std::move(st).err();
    if (auto st = end_prepared(*p); !st)
      return std::move(st).err();
    return true;
  }
  return false;
}

expected<bool> apply_session::spool_change(std::string_view bytes) {
  auto k = pgoutput::peek_kind(bytes);
  if (!k)
    return std::move(k).err();
  using pgoutput::kind;
  switch (*k) {
  case kind::origin:
  case kind::relation:
  case kind::type:
  case kind::insert:
  case kind::update:
  case kind::delete_:
  case kind::truncate:
  case kind::message:
    break;
  default:
    return false; // Stream Stop and the rest go through the decoder
  }
  // Kept as it came and decoded once, when its Stream Commit applies it.
  // R Y I U D T M inside a block carry the (sub)transaction's xid; an
  // Origin (after a first Stream Start) belongs to the transaction.
  auto info = pgoutput::scan(bytes, {true, false});
  if (!info)
    return std::move(info).err();
  if (auto st = spool_->append(info->has_xid ? info->xid : 0, bytes); !st)
    return std::move(st).err();
  return true;
}

status apply_session::apply_change(const pgoutput::any_message& m) {
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
               "the publisher sent a streamed transaction, which walmux did "
               "not ask for"};
}

bool apply_session::leave_transaction(lsn end) {
  in_txn_ = false;
  if (skip_ == skip_reason::applied) {
    // Applied before a restart: the target holds it.
    if (!target_->group_open())
      idle_end_ = std::max(idle_end_, end);
    return true;
  }
  if (skip_ == skip_reason::skip_lsn)
    log_message(elevel::log,
                "logical replication completed skipping transaction at LSN " +
                    lsn_to_string(final_lsn_));
  return false;
}

status apply_session::end_transaction(const pgoutput::commit& c) {
  if (leave_transaction(c.end_lsn))
    return ok();
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
  return group_committed();
}

status apply_session::group_committed() {
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
  manager_.mirror_origin(target_origin_name(target_key_), target_->progress(),
                         target_->local_lsn());
  return ok();
}

expected<size_t> apply_session::step(std::chrono::milliseconds timeout) {
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
  if (two_phase_pending_ && !any_synced_ && !in_txn_ &&
      !target_->group_open() && two_phase_ready()) {
    // As PostgreSQL's apply worker does once every table is ready.
    log_message(elevel::log,
                "logical replication apply worker for subscription \"" + name_ +
                    "\" will restart so that two_phase can be enabled");
    source_.reset();
    if (auto st = start(); !st)
      return std::move(st).err();
    return *taken;
  }
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
  return *taken;
}

} // namespace walmux::actors::apply
