// store_writer.cpp: group commit on the store's own thread
// (store_writer.hpp).
#include "actors/source/store_writer.hpp"

#include "common/log.hpp"
#include "storage/env.hpp"

#include <chrono>

namespace walmux::actors {

store_writer::store_writer(storage::wal_store& store, upstream_state& state,
                           size_t max_queued_bytes)
    : store_(store)
    , state_(state)
    , max_queued_bytes_(max_queued_bytes) {
  thread_ = std::thread([this] { run(); });
}

store_writer::~store_writer() {
  {
    std::lock_guard g(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

status store_writer::push(const storage::commit_record& commit,
                          std::vector<storage::stored_message> messages) {
  return queue({kind::transaction, commit, std::move(messages), {}, 0});
}

status store_writer::push_part(std::vector<storage::stored_message> messages) {
  return queue({kind::part, {}, std::move(messages), {}, 0});
}

status store_writer::queue(item it) {
  it.bytes = 64;
  for (const auto& m : it.messages)
    it.bytes += m.bytes.size() + 16;
  std::unique_lock g(mu_);
  changed_.wait(g, [&] {
    return failed_ || queued_bytes_ == 0 ||
           queued_bytes_ + it.bytes <= max_queued_bytes_;
  });
  if (failed_)
    return *failed_;
  queued_bytes_ += it.bytes;
  queue_.push_back(std::move(it));
  ++pushed_;
  g.unlock();
  changed_.notify_all();
  return ok();
}

void store_writer::abandon_part() {
  {
    std::lock_guard g(mu_);
    queue_.push_back({kind::abandon, {}, {}, {}, 0});
    ++pushed_;
  }
  changed_.notify_all();
}

void store_writer::mark(lsn position) {
  {
    std::lock_guard g(mu_);
    queue_.push_back({kind::mark, {}, {}, position, 0});
    ++pushed_;
  }
  changed_.notify_all();
}

status store_writer::drain(std::chrono::milliseconds timeout) {
  std::unique_lock g(mu_);
  const uint64_t target = pushed_;
  if (!changed_.wait_for(g, timeout,
                         [&] { return failed_ || written_ >= target; }))
    return error{"57014", "timed out waiting for the WAL store writer"};
  if (failed_)
    return *failed_;
  return ok();
}

status store_writer::write_batch(std::deque<item>& batch) {
  // Items leave the batch once appended, so a retry after running out of
  // disk space goes on where this attempt stopped.
  while (!batch.empty()) {
    item& it = batch.front();
    status appended = ok();
    switch (it.what) {
    case kind::mark:
      pending_mark_ = std::max(pending_mark_, it.mark);
      break;
    case kind::abandon:
      store_.abandon_part();
      break;
    case kind::part:
      appended = store_.append_part(it.messages);
      break;
    case kind::transaction:
      if (auto end = store_.append(it.commit, it.messages); !end)
        appended = std::move(end).err();
      break;
    }
    if (!appended) {
      if (appended.err().code != "53400")
        return appended;
      if (auto st = store_.sync(); !st) // buffer full: group commit now
        return st;
      continue;
    }
    batch.pop_front();
  }
  if (auto st = store_.sync(); !st)
    return st;
  const lsn published = std::max(pending_mark_, store_.last_end_lsn());
  if (published.value > state_.confirmed.load())
    state_.confirmed = published.value;
  return ok();
}

void store_writer::run() {
  while (true) {
    std::deque<item> batch;
    {
      std::unique_lock g(mu_);
      changed_.wait(g, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty())
        return; // stopping, nothing left
      batch.swap(queue_);
      queued_bytes_ = 0;
    }
    changed_.notify_all(); // room for the reader
    const size_t n = batch.size();
    auto st = write_batch(batch);
    while (!st && st.err().code == storage::disk_full_sqlstate) {
      // The store kept its buffer: retry until the data fits, or until
      // shutdown (nothing lost: the upstream was never told it is durable,
      // so it sends it again after the restart).
      log_error(elevel::warning, st.err());
      {
        std::unique_lock g(mu_);
        if (changed_.wait_for(g, std::chrono::seconds(1),
                              [&] { return stopping_; }))
          break;
      }
      st = write_batch(batch);
    }
    std::lock_guard g(mu_);
    if (!st) {
      log_error(elevel::log, st.err());
      failed_ = st.err();
    }
    written_ += n;
    changed_.notify_all();
  }
}

} // namespace walmux::actors
