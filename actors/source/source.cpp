// source.cpp: the upstream replication connection (source.hpp).
#include "actors/source/source.hpp"

#include "actors/common/atoms.hpp"
#include "actors/common/clock.hpp"
#include "actors/common/pq_session.hpp"
#include "actors/source/store_writer.hpp"
#include "common/log.hpp"
#include "protocol/pgoutput.hpp"
#include "protocol/stream.hpp"

#include <chrono>
#include <poll.h>

#include <caf/all.hpp>
#include <libpq-fe.h>

namespace walmux::actors {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

// Bytes of received transactions the store writer may hold before the
// reader stops reading (back-pressure onto the upstream).
constexpr size_t max_queued_bytes = 64 << 20;
constexpr auto status_interval = 10s;
// A moved flush position is reported at most this often (unless the
// upstream asks): every report costs the upstream walsender a slot update.
constexpr auto status_min_interval = 100ms;
// After a read that found data, the source sleeps this long before it looks
// at the socket again. A reader that waits on the socket while the upstream
// walsender sends makes the kernel wake it for every message, and that
// wake-up is charged to the walsender (PostgreSQL's walsender spends 2.3-2.6x
// the CPU on pg_recvlogical, which drains eagerly, than on a busy apply
// worker). Sleeping lets the messages pile up in the socket buffer instead:
// the walsender's sends stay cheap, and one wake-up serves a batch. The
// delay bounds the extra latency.
constexpr auto drain_interval = 10ms;
// A received transaction goes to the store writer in parts of about this
// size, so that neither the source nor the store holds a large one whole
// (the store syncs its parts before the commit arrives; readers wait for
// the commit).
constexpr size_t max_part_bytes = 1 << 20;
// Bytes one poll() takes from the socket before it reports progress.
constexpr size_t max_bytes_per_poll = 16 << 20;

class source_session {
 public:
  source_session(source_config cfg, storage::wal_store& store,
                 storage::catalog& cat, upstream_state& state)
      : cfg_(std::move(cfg))
      , store_(store)
      , catalog_(cat)
      , state_(state)
      , writer_(std::make_unique<store_writer>(store, state, max_queued_bytes))
      , last_queued_end_(store.last_end_lsn()) {}

  ~source_session() { stop(); }

  status start();
  // Waits up to `timeout` for data, stores what arrived, reports progress;
  // true when data arrived.
  expected<bool> poll(std::chrono::milliseconds timeout);
  // A walEnd and send time from the upstream (XLogData or keepalive).
  void note_upstream_end(lsn wal_end, int64_t send_time) {
    state_.last_send_time.store(send_time, std::memory_order_relaxed);
    if (wal_end.value > state_.wal_end.load()) {
      state_.wal_end = wal_end.value;
      state_.wal_end_time.store(send_time, std::memory_order_relaxed);
    }
  }
  // Waits for the writer, reports the final position and disconnects.
  void stop();

 private:
  status ensure_slot(pq_session& conn);
  status handle_xlog(const stream::xlog_data& x);
  status store_transaction(const storage::commit_record& c);
  status send_status(bool force);

  source_config cfg_;
  storage::wal_store& store_;
  storage::catalog& catalog_;
  upstream_state& state_;
  std::unique_ptr<store_writer> writer_;
  lsn last_queued_end_; // end LSN of the last transaction given to writer_
  std::unique_ptr<pq_session> conn_;
  std::string slot_;

  // Adds a message of the transaction being received; hands a part of it
  // to the writer when it has grown large.
  status add_message(const stream::xlog_data& x);

  bool in_txn_ = false;
  bool stored_before_ = false; // the transaction being received is stored
  bool parts_pushed_ = false;  // the writer has parts of it
  storage::commit_record txn_;
  std::vector<storage::stored_message> messages_;
  size_t message_bytes_ = 0; // of messages_
  lsn marked_;   // newest keepalive walEnd given to writer_ as a mark
  lsn reported_; // last flush position sent upstream
  clock::time_point last_status_;
  bool reply_requested_ = false;
};

status source_session::ensure_slot(pq_session& conn) {
  auto meta = catalog_.read_node_meta();
  if (!meta)
    return std::move(meta).err();
  slot_ = meta->upstream_slot.empty()
              ? "walmux_" + std::to_string(cfg_.system_identifier)
              : meta->upstream_slot;
  if (!meta->upstream_slot.empty())
    return ok();
  std::string cmd = "CREATE_REPLICATION_SLOT " + pq_quote_identifier(slot_) +
                    " LOGICAL pgoutput" +
                    (conn.server_version() >= 150000 ? " (SNAPSHOT 'nothing')"
                                                     : " NOEXPORT_SNAPSHOT");
  auto created = conn.exec(cmd);
  if (!created && created.err().code != sqlstate::duplicate_object)
    return std::move(created).err();
  log_message(elevel::log,
              created ? "created upstream replication slot \"" + slot_ + "\""
                      : "adopted existing upstream replication "
                        "slot \"" +
                            slot_ + "\"");
  meta->upstream_slot = slot_;
  return catalog_.write_node_meta(*meta);
}

status source_session::start() {
  auto conn =
      pq_session::connect(cfg_.conninfo, {{"replication", "database"},
                                          {"application_name", "walmux"}});
  if (!conn)
    return std::move(conn).err();
  auto& c = **conn;
  state_.set_server_version(c.parameter("server_version"), c.server_version());
  if (auto st = ensure_slot(c); !st)
    return st;
  const int proto = pgoutput_version_for(c.server_version());
  std::string pubs;
  for (const auto& p : cfg_.publications)
    pubs += (pubs.empty() ? "" : ",") + pq_quote_identifier(p);
  const lsn resume = last_queued_end_;
  std::string cmd = "START_REPLICATION SLOT " + pq_quote_identifier(slot_) +
                    " LOGICAL " + lsn_to_string(resume) + " (proto_version '" +
                    std::to_string(proto) + "', publication_names " +
                    pq_quote_literal(pubs) + ", messages 'true')";
  if (PQsendQuery(c.raw(), cmd.c_str()) == 0)
    return pq_error(c.raw(), nullptr);
  // Wait for CopyBothResponse (or the error that replaces it).
  while (true) {
    PGresult* res = PQgetResult(c.raw());
    if (res == nullptr)
      return error{"08P01", "upstream did not start the replication stream"};
    auto st = PQresultStatus(res);
    if (st == PGRES_COPY_BOTH) {
      PQclear(res);
      break;
    }
    error e = pq_error(c.raw(), res);
    PQclear(res);
    return e;
  }
  if (PQsetnonblocking(c.raw(), 1) != 0)
    return pq_error(c.raw(), nullptr);

  conn_ = std::move(*conn);
  // A transaction cut off by the last connection comes again whole.
  if (parts_pushed_) {
    writer_->abandon_part();
    log_message(elevel::log,
                "discarding the part of transaction " +
                    std::to_string(txn_.xid) +
                    " stored before the upstream connection was lost: the "
                    "upstream sends it again");
  }
  parts_pushed_ = false;
  in_txn_ = false;
  messages_.clear();
  message_bytes_ = 0;
  reported_ = lsn{};
  last_status_ = clock::now() - status_interval;
  state_.start_lsn = resume.value;
  state_.set_connection(
      slot_, PQhost(conn_->raw()) ? PQhost(conn_->raw()) : "",
      std::atoi(PQport(conn_->raw()) ? PQport(conn_->raw()) : "0"));
  state_.streaming = true;
  log_message(elevel::log, "started streaming from upstream slot \"" + slot_ +
                               "\" at " + lsn_to_string(resume) +
                               " with pgoutput protocol version " +
                               std::to_string(proto));
  return ok();
}

status source_session::store_transaction(const storage::commit_record& c) {
  message_bytes_ = 0;
  const bool stored = stored_before_ || (last_queued_end_.valid() &&
                                         c.end_lsn <= last_queued_end_);
  stored_before_ = false;
  if (stored) {
    messages_.clear(); // sent again after a reconnect: already stored
    if (parts_pushed_)
      writer_->abandon_part();
    parts_pushed_ = false;
    return ok();
  }
  last_queued_end_ = c.end_lsn;
  parts_pushed_ = false;
  return writer_->push(c, std::move(messages_));
}

status source_session::add_message(const stream::xlog_data& x) {
  if (stored_before_)
    return ok(); // dropped at its Commit
  messages_.push_back({x.data_start, std::string(x.data)});
  message_bytes_ += x.data.size();
  if (message_bytes_ < max_part_bytes)
    return ok();
  message_bytes_ = 0;
  parts_pushed_ = true;
  auto st = writer_->push_part(std::move(messages_));
  messages_.clear();
  return st;
}

status source_session::handle_xlog(const stream::xlog_data& x) {
  auto kind = pgoutput::peek_kind(x.data);
  if (!kind)
    return std::move(kind).err();
  const pgoutput::decode_context plain{};
  switch (*kind) {
  case pgoutput::kind::begin: {
    auto info = pgoutput::scan(x.data, plain);
    if (!info)
      return std::move(info).err();
    if (in_txn_) // the reconnect voids what was stored of the open one
      return error{"08P01", "upstream sent a pgoutput 'B' message inside a "
                            "transaction"};
    in_txn_ = true;
    messages_.clear();
    message_bytes_ = 0;
    txn_ = storage::commit_record{};
    txn_.xid = info->xid;
    // Its commit LSN is before the end of the last stored transaction:
    // sent again after a reconnect, and not kept.
    stored_before_ = last_queued_end_.valid() && info->lsn1 < last_queued_end_;
    return add_message(x);
  }
  case pgoutput::kind::commit: {
    auto m = pgoutput::decode(x.data, plain);
    if (!m)
      return std::move(m).err();
    const auto& c = std::get<pgoutput::commit>(*m);
    messages_.push_back({x.data_start, std::string(x.data)});
    txn_.commit_lsn = c.commit_lsn;
    txn_.end_lsn = c.end_lsn;
    txn_.commit_time = c.commit_time;
    in_txn_ = false;
    auto st = store_transaction(txn_);
    messages_.clear();
    return st;
  }
  case pgoutput::kind::message:
    if (!in_txn_) {
      // A non-transactional message is stored as its own unit.
      auto info = pgoutput::scan(x.data, plain);
      if (!info)
        return std::move(info).err();
      messages_.assign(1, {x.data_start, std::string(x.data)});
      storage::commit_record c;
      c.flags = storage::commit_flag_non_transactional;
      c.commit_lsn = info->lsn1;
      c.end_lsn = info->lsn1;
      c.commit_time = 0;
      auto st = store_transaction(c);
      messages_.clear();
      return st;
    }
    break;
  default:
    if (!in_txn_)
      return error{"08P01", std::string("upstream sent a pgoutput '") +
                                static_cast<char>(*kind) +
                                "' message outside a transaction"};
    break;
  }
  return add_message(x);
}

status source_session::send_status(bool force) {
  const lsn flush{state_.confirmed.load()};
  const auto now = clock::now();
  if (!force && (flush == reported_ ? now - last_status_ < status_interval
                                    : now - last_status_ < status_min_interval))
    return ok();
  std::string body;
  stream::encode(
      body, stream::status_update{flush, flush, flush, pg_micros_now(), false});
  if (PQputCopyData(conn_->raw(), body.data(), static_cast<int>(body.size())) !=
      1)
    return pq_error(conn_->raw(), nullptr);
  // Nonblocking: what does not go out now goes with the next flush.
  if (PQflush(conn_->raw()) < 0)
    return pq_error(conn_->raw(), nullptr);
  reported_ = flush;
  last_status_ = now;
  return ok();
}

expected<bool> source_session::poll(std::chrono::milliseconds timeout) {
  if (!conn_)
    return error{"08003", "no upstream connection"};
  PGconn* c = conn_->raw();
  auto taken = pq_read_stream(
      c, timeout, max_bytes_per_poll,
      [this](const stream::server_message& msg) -> status {
        if (auto* x = std::get_if<stream::xlog_data>(&msg)) {
          note_upstream_end(x->wal_end, x->send_time);
          if (x->data_start.valid())
            state_.received.store(x->data_start.value,
                                  std::memory_order_relaxed);
          return handle_xlog(*x);
        }
        const auto& k = std::get<stream::keepalive>(msg);
        note_upstream_end(k.wal_end, k.send_time);
        if (!in_txn_ && k.wal_end > marked_) {
          marked_ = k.wal_end;
          writer_->mark(k.wal_end);
        }
        reply_requested_ = reply_requested_ || k.reply_requested;
        return ok();
      },
      "upstream ended the replication stream");
  if (!taken)
    return std::move(taken).err();
  const bool got = *taken > 0;
  if (got)
    state_.last_receipt_time.store(unix_micros_now(),
                                   std::memory_order_relaxed);
  const bool force = reply_requested_;
  reply_requested_ = false;
  if (auto st = send_status(force); !st)
    return std::move(st).err();
  return got;
}

void source_session::stop() {
  if (!conn_)
    return;
  state_.streaming = false;
  if (writer_->drain(std::chrono::seconds(10)))
    (void)send_status(true);
  PQflush(conn_->raw());
  conn_.reset();
}

struct source_state {
  std::unique_ptr<source_session> session;
  std::chrono::milliseconds backoff{1000};
  static inline const char* name = "source";
};

caf::behavior source_actor(caf::stateful_actor<source_state>* self,
                           source_config cfg, storage::wal_store* store,
                           storage::catalog* cat, upstream_state* state) {
  self->state.session =
      std::make_unique<source_session>(std::move(cfg), *store, *cat, *state);
  self->send(self, connect_atom::value);
  auto retry = [self](const error& e) {
    log_error(elevel::log, e);
    self->state.session->stop();
    log_message(elevel::log, "retrying the upstream connection in " +
                                 std::to_string(self->state.backoff.count()) +
                                 " ms");
    self->delayed_send(self, self->state.backoff, connect_atom::value);
    self->state.backoff = std::min<std::chrono::milliseconds>(
        self->state.backoff * 2, std::chrono::milliseconds(30000));
  };
  return {
      [=](connect_atom) {
        if (auto st = self->state.session->start(); !st) {
          retry(st.err());
          return;
        }
        self->state.backoff = std::chrono::milliseconds(1000);
        self->send(self, pump_atom::value);
      },
      [=](pump_atom) {
        auto got = self->state.session->poll(100ms);
        if (!got) {
          retry(got.err());
          return;
        }
        if (*got)
          self->delayed_send(self, drain_interval, pump_atom::value);
        else
          self->send(self, pump_atom::value);
      },
  };
}

} // namespace

int pgoutput_version_for(int server_version_num) {
  if (server_version_num >= 160000)
    return 4;
  if (server_version_num >= 150000)
    return 3;
  if (server_version_num >= 140000)
    return 2;
  return 1;
}

caf::actor spawn_source(caf::actor_system& system, source_config config,
                        storage::wal_store& store, storage::catalog& catalog,
                        upstream_state& state) {
  return system.spawn<caf::detached>(source_actor, std::move(config), &store,
                                     &catalog, &state);
}

} // namespace walmux::actors
