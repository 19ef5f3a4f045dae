// walsender_stream.cpp: START_REPLICATION and the streaming pump of a
// walsender session (walsender_session.hpp): the start point, the learning
// scan, credit-bounded sending, keepalives, status updates and timeouts.
#include "actors/common/pq_session.hpp"
#include "actors/source/source.hpp"
#include "actors/walsender/slot_decoding.hpp"
#include "actors/walsender/walsender_session.hpp"
#include "common/log.hpp"

#include <mutex>
#include <shared_mutex>

namespace walmux::actors::walsender_detail {

status session::start_replication(const repl::start_replication& s) {
  if (!s.logical || !s.slot)
    return error{sqlstate::feature_not_supported,
                 "walmux does not support physical replication"};
  if (transaction_status() != 'I')
    return error{"25001",
                 "START_REPLICATION cannot run inside a transaction block"};
  // No more SQL until the stream ends: the upstream session (and with it
  // any snapshot slot) is not kept open meanwhile.
  close_upstream_session();
  auto slot = env_.slots->acquire(*s.slot, pid_);
  if (!slot)
    return std::move(slot).err();
  auto release = [&] { env_.slots->release(*s.slot, pid_); };
  if (slot->database != database_) {
    release();
    return error{"55000", "replication slot \"" + *s.slot +
                              "\" was not created in this database"};
  }
  if (!slot->invalidation_reason.empty()) {
    release();
    return slot_invalidated(*s.slot);
  }
  auto st = std::make_unique<streaming_state>();
  st->slot = *s.slot;
  st->lookup = std::make_unique<pq_upstream_lookup>(env_.upstream_conninfo,
                                                    empty_search_path_);
  // Learn the relation definitions stored before the start point without
  // counting cache use, then read on through the slot's cache reader.
  std::shared_lock no_removal(*env_.store_start_lock);
  uint64_t restart = 0;
  auto dec =
      open_slot_decoder(env_, *slot, std::max(s.start, slot->confirmed_flush),
                        s.options, st->lookup.get(), restart);
  if (!dec) {
    release();
    return std::move(dec).err();
  }
  st->dec = std::move(*dec);
  st->source = std::make_unique<wal_cache::reader_source>(
      env_.cache->reader_for(st->slot));
  st->reader = std::make_unique<storage::wal_reader>(
      *env_.store, std::max(restart, env_.store->start_position()), 256 << 10,
      st->source.get(),
      static_cast<size_t>(env_.transaction_piece_bytes.load()));
  st->processed_end = st->dec->start_point();
  st->sent_end = st->dec->start_point();
  st->last_reply = clock::now();
  log_message(elevel::log,
              "starting logical decoding for slot \"" + st->slot + "\"");
  log_message(elevel::debug1, "streaming transactions committing after " +
                                  lsn_to_string(st->dec->start_point()));
  env_.senders.update(pid_, [&](sender_status& s) {
    s.state = "catchup";
    s.slot = st->slot;
    s.sent = st->sent_end;
  });
  stream_ = std::move(st);
  link_->send(encoded(wire::copy_response{'W', 0, {}}));
  send_keepalive(false);
  return ok();
}

void session::send_keepalive(bool reply_requested) {
  auto& st = *stream_;
  lsn end = st.sent_end;
  if (st.pending_next >= st.pending.size())
    end = std::max({end, st.processed_end, st.idle_end});
  std::string body;
  stream::encode(body,
                 stream::keepalive{end, pg_micros_now(), reply_requested});
  link_->send(encoded(wire::copy_data{std::move(body)}));
  st.told_end = end;
  st.last_keepalive = clock::now();
}

void session::end_streaming() {
  if (!stream_)
    return;
  env_.senders.update(pid_, [](sender_status& s) {
    s.state = "startup";
    s.slot.clear();
  });
  for (const auto& c : env_.cache->counters())
    if (c.slot == stream_->slot)
      log_message(elevel::log,
                  "stopped logical decoding for slot \"" + c.slot +
                      "\": cache_hit " + std::to_string(c.counters.hits) +
                      ", cache_miss " + std::to_string(c.counters.misses) +
                      ", blks_read " + std::to_string(c.counters.blocks_read));
  env_.slots->release(stream_->slot, pid_);
  stream_.reset();
}

bool session::on_copy_data(const std::string& data) {
  if (!stream_)
    return true;
  auto m = stream::decode_client(data);
  if (!m) {
    send_error(m.err(), "FATAL");
    link_->close();
    return false;
  }
  if (auto* r = std::get_if<stream::status_update>(&*m)) {
    stream_->last_reply = clock::now();
    stream_->ping_sent = false;
    env_.slots->confirm(stream_->slot, r->flush);
    stream_->lags.replied(r->write, r->flush, r->apply, unix_micros_now());
    env_.senders.update(pid_, [&](sender_status& s) {
      for (int k = 0; k < 3; ++k)
        s.lag_us[k] = stream_->lags.lag_us(static_cast<lag_tracker::kind>(k));
      s.write = r->write;
      s.flush = r->flush;
      s.replay = r->apply;
      s.reply_time = unix_micros_now();
      if (r->flush >= s.sent)
        s.caught_up_at = s.reply_time;
    });
    if (r->reply_requested)
      send_keepalive(false);
  }
  return true;
}

bool session::pump() {
  if (!stream_)
    return true;
  auto& st = *stream_;
  const auto now = clock::now();
  const auto timeout =
      std::chrono::milliseconds(env_.wal_sender_timeout_ms.load());
  if (timeout.count() > 0) {
    if (now - st.last_reply > timeout) {
      log_message(elevel::log, "terminating walsender process due to "
                               "replication timeout");
      link_->close();
      return false;
    }
    if (!st.ping_sent && now - st.last_reply > timeout / 2) {
      send_keepalive(true);
      st.ping_sent = true;
    }
  }
  if (env_.slots->invalidated(st.slot)) {
    send_error(slot_invalidated(st.slot));
    link_->close();
    return false;
  }
  const size_t bound = static_cast<size_t>(env_.send_buffer_bytes.load());
  std::string batch;
  bool blocked = false;
  uint64_t step_bytes = 0, step_messages = 0;
  slot_counts step_counts;                // decoded for the client in this step
  const int64_t now_pg = pg_micros_now(); // one send time per step
  // Sends what is batched and then `e`, and ends the stream: false.
  auto fail = [&](const error& e) {
    link_->send(std::move(batch));
    send_error(e);
    link_->close();
    return false;
  };
  // Decodes a stored transaction (or piece) into st.pending; false after
  // an error, which has been sent.
  auto feed = [&](const storage::transaction_view& txn) {
    const size_t before = st.pending.size();
    if (auto f = st.dec->feed(txn, st.pending); !f)
      return fail(f.err());
    for (size_t i = before; i < st.pending.size(); ++i)
      st.txn_bytes += st.pending[i].payload.size();
    if (!txn.first_piece || !txn.last_piece) {
      // Read in pieces: pg_stat_replication_slots counts it as spilled.
      ++st.txn_pieces;
      for (const auto& m : txn.messages)
        st.txn_piece_bytes += m.bytes.size();
    }
    if (!txn.last_piece)
      return true; // a large transaction: its next piece follows
    if (st.txn_pieces > 0) {
      ++step_counts.spill_txns;
      step_counts.spill_count += st.txn_pieces;
      step_counts.spill_bytes += st.txn_piece_bytes;
      st.txn_pieces = st.txn_piece_bytes = 0;
    }
    if (st.txn_bytes > 0) {
      ++step_counts.total_txns;
      step_counts.total_bytes += st.txn_bytes;
      st.txn_bytes = 0;
    }
    st.processed_end = std::max(st.processed_end, txn.commit.end_lsn);
    return true;
  };
  while (true) {
    // Send what is decoded, as long as the client takes it.
    while (st.pending_next < st.pending.size()) {
      if (link_->queued() + batch.size() >= bound) {
        blocked = true;
        break;
      }
      auto& o = st.pending[st.pending_next++];
      stream::encode_xlog_copy_data(batch, o.data_start, o.wal_end, now_pg,
                                    o.payload);
      st.sent_end = std::max(st.sent_end, o.wal_end);
      ++step_messages;
      if (batch.size() >= send_batch_bytes) {
        step_bytes += batch.size();
        link_->send(std::move(batch));
        batch.clear();
      }
    }
    if (blocked)
      break;
    st.pending.clear();
    st.pending_next = 0;
    if (batch.size() >= send_batch_bytes)
      break;
    // Decode the next stored transaction. `confirmed` is read before the
    // store: at the durable end, everything committing before it is sent.
    const lsn confirmed{env_.upstream->confirmed.load()};
    storage::transaction_view txn;
    auto more = st.reader->next_view(txn);
    if (!more)
      return fail(more.err());
    if (!*more) {
      st.at_end = true;
      st.idle_end = std::max(st.idle_end, confirmed);
      break;
    }
    st.at_end = false;
    if (!st.dec->checks_rows() || !txn.first_piece || !txn.last_piece) {
      if (!feed(txn))
        return false;
      continue;
    }
    // The node checks the client's row filter: read on a run of small
    // transactions (copied: a view lasts until the next read), so that
    // their rows are checked in one upstream query per table.
    std::vector<storage::stored_transaction> run{storage::owned_copy(txn)};
    size_t run_bytes = txn.end_position - txn.commit.start_position;
    storage::transaction_view next; // a large one that ends the run
    bool has_next = false;
    while (run.size() < max_run_transactions && run_bytes < max_run_bytes) {
      auto got = st.reader->next_view(next);
      if (!got)
        return fail(got.err());
      if (!*got)
        break;
      if (!next.first_piece || !next.last_piece) {
        has_next = true;
        break;
      }
      run.push_back(storage::owned_copy(next));
      run_bytes += next.end_position - next.commit.start_position;
    }
    std::vector<storage::transaction_view> views;
    for (const auto& t : run)
      views.push_back(storage::view_of(t));
    if (auto checked = st.dec->check_rows_ahead(views); !checked)
      return fail(checked.err());
    bool fed = true;
    for (const auto& v : views)
      if (!(fed = feed(v)))
        break;
    st.dec->end_rows_ahead();
    if (!fed || (has_next && !feed(next)))
      return false;
  }
  step_bytes += batch.size();
  if (step_counts.total_txns > 0 || step_counts.spill_txns > 0)
    env_.slot_counts.add(st.slot, step_counts);
  if (!batch.empty())
    link_->send(std::move(batch));
  st.lags.sent(st.sent_end, unix_micros_now());
  env_.senders.update(pid_, [&](sender_status& s) {
    s.sent = st.sent_end;
    s.bytes_sent += step_bytes;
    s.messages_sent += step_messages;
    s.state = st.at_end ? "streaming" : "catchup";
  });
  // Tell the client how far the stream has gone when it is idle: tablesync
  // catch-up and pg_recvlogical --endpos wait for it.
  if (st.pending_next >= st.pending.size() &&
      std::max({st.processed_end, st.idle_end, st.sent_end}) > st.told_end &&
      now - st.last_keepalive >= keepalive_min_interval)
    send_keepalive(false);
  if (blocked)
    link_->wait_for_room(bound, pump_wait);
  else if (st.at_end)
    env_.store->wait_durable_past(st.reader->position(), pump_wait);
  return !link_->closed();
}

} // namespace walmux::actors::walsender_detail
