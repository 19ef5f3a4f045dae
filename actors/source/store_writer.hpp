// store_writer.hpp: the WAL store's writer thread, behind the source.
//
// The source's reader queues each received transaction here and goes back
// to the socket at once; this thread appends what is queued and makes it
// durable with one sync per batch (group commit). An fsync therefore never
// stops the reading of the upstream socket, which would fill the socket
// buffers and push the upstream walsender onto its slow path (a poll and a
// recv per message).
//
// Ordering and what is published: items are handled in queue order. A mark
// (an upstream keepalive position received outside a transaction) follows
// everything received before it; once that is durable, upstream_state's
// confirmed moves to max(last stored end LSN, mark). The reader reports
// exactly that to the upstream as flush.
//
// Bounds: push() blocks while `max_queued_bytes` are queued: the reader then
// stops reading and the upstream keeps the WAL (back-pressure, no growth).
// A failed sync (ENOSPC) is retried every second while the queue waits (and
// abandoned at shutdown: the upstream still has the data); an fsync failure
// leaves the store unusable and is reported by every push().
#pragma once

#include "actors/source/upstream_state.hpp"
#include "storage/wal_store.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace walmux::actors {

class store_writer {
 public:
  // REQUIRES: store and state outlive the writer; no other thread writes
  // the store.
  store_writer(storage::wal_store& store, upstream_state& state,
               size_t max_queued_bytes);
  // Writes and syncs everything queued, then stops the thread.
  ~store_writer();

  // Queues a transaction, or the last part of one begun with push_part().
  // Error: the store failed (the item is dropped; the upstream will send
  // it again after a reconnect).
  status push(const storage::commit_record& commit,
              std::vector<storage::stored_message> messages);
  // Queues messages of a transaction not received whole yet, so that the
  // reader holds a bounded part of it (wal_store::append_part).
  status push_part(std::vector<storage::stored_message> messages);
  // Queues the voiding of the parts pushed since the last transaction:
  // the upstream connection broke before its commit.
  void abandon_part();
  // Queues a position to publish once everything before it is durable.
  void mark(lsn position);
  // Waits until everything queued so far is durable (or failed), at most
  // `timeout`; 57014 when it runs out (e.g. the disk is full).
  status drain(std::chrono::milliseconds timeout);

 private:
  enum class kind { transaction, part, abandon, mark };
  struct item {
    kind what = kind::transaction;
    storage::commit_record commit;
    std::vector<storage::stored_message> messages;
    lsn mark;
    size_t bytes = 0;
  };
  // Queues `it`, waiting for room.
  status queue(item it);
  void run();
  status write_batch(std::deque<item>& batch);

  storage::wal_store& store_;
  upstream_state& state_;
  const size_t max_queued_bytes_;

  std::mutex mu_;
  std::condition_variable changed_; // items queued, taken, or written
  std::deque<item> queue_;
  size_t queued_bytes_ = 0;
  uint64_t pushed_ = 0;  // items queued so far
  uint64_t written_ = 0; // items durable so far
  bool stopping_ = false;
  std::optional<error> failed_;
  lsn pending_mark_; // writer thread only: newest mark taken
  std::thread thread_;
};

} // namespace walmux::actors
