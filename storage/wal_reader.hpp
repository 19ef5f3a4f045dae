// wal_reader.hpp: walks the stored transactions of a WAL store in order,
// from a transaction start up to the durable position, reading ahead in
// large chunks and checking every record's CRC (a bad record is an error
// naming its segment file and offset).
#pragma once

#include "storage/read_ahead.hpp"
#include "storage/wal_store.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace walmux::storage {

// A stored transaction, or a piece of a large one, whose message bytes
// point into a reader's buffer, valid until the reader's next call.
struct message_view {
  lsn data_start;
  std::string_view bytes;
};
struct transaction_view {
  commit_record commit; // known from the first piece on
  std::vector<message_view> messages;
  uint64_t end_position = 0; // after the commit record
  // A transaction whose messages exceed the reader's piece size comes in
  // pieces, in order; a small one is a single piece, both first and last.
  bool first_piece = true;
  bool last_piece = true;
};

// An owned copy of a whole transaction's view, and a view of a copy.
stored_transaction owned_copy(const transaction_view& txn);
transaction_view view_of(const stored_transaction& txn);

// A reader's window on the store: bytes [start, start + size) at `offset`
// in a buffer that is reused, not zeroed, and grows only to what one
// transaction plus the read-ahead needs.
//
// With `ahead` set (a sequential reader), the chunks after the window are
// read on another thread while the window is parsed; at a refill the next
// chunk's buffer becomes the window, the few bytes kept from the old one
// copied in front of it (room for them is reserved there).
struct scan_window {
  std::unique_ptr<char[]> data;
  size_t capacity = 0; // of data
  size_t offset = 0;   // where `start` lies in data
  size_t size = 0;
  uint64_t start = 0;
  std::unique_ptr<read_ahead> ahead;
  // A buffer a long transaction made the window grow to, kept for the next
  // one so that pieces of long transactions do not allocate (and fault in)
  // fresh memory every time.
  std::unique_ptr<char[]> large;
  size_t large_capacity = 0;

  // REQUIRES: start <= position <= start + size.
  char* at(uint64_t position) const {
    return data.get() + offset + (position - start);
  }
};

struct raw_scanner; // wal_scan.hpp

// Walks stored transactions from a position (a transaction start) up to the
// store's durable position, reading ahead in large chunks. One thread.
//
// Memory: a transaction whose messages exceed `max_piece_bytes` is not held
// whole. The reader first walks it to its commit record without keeping
// it (so nothing of a transaction is delivered before its commit is
// durable, as PostgreSQL decodes only committed transactions), then reads
// it again in pieces of about that size (one message at least). Its
// window stays within a piece plus the read-ahead and one record.
class wal_reader {
 public:
  // Bytes come from `source` (default: the store); REQUIRES: both outlive
  // the reader.
  wal_reader(const wal_store& store, uint64_t position,
             size_t read_ahead = 256 << 10, const byte_source* source = nullptr,
             size_t max_piece_bytes = 8 << 20);

  // The next complete transaction, whole (its pieces joined: for tests and
  // tools), or nullopt at the durable end. Errors name the segment file
  // and offset of a bad record.
  expected<std::optional<stored_transaction>> next();
  // The next transaction or piece without copying: false at the durable
  // end; `txn` (its message vector reused) stays valid until the next call.
  expected<bool> next_view(transaction_view& txn);
  // The start of the transaction being read: it moves past a transaction
  // once its last piece has been returned.
  uint64_t position() const { return position_; }

 private:
  // The large transaction being delivered in pieces.
  struct open_transaction {
    bool active = false;
    commit_record commit;
    uint64_t commit_position = 0; // of its commit record
    uint64_t end_position = 0;    // after it
    uint64_t next = 0;            // where the next piece starts
  };
  // Walks on from `scan` to the commit record of the transaction at
  // position_ without keeping what it passes: found (open_ is set), at the
  // durable end (the walk resumes there next time), or voided by an abort
  // record (position_ moves past it).
  enum class search { found, at_end, voided };
  expected<search> find_commit(raw_scanner& scan);
  // Returns the next piece of open_.
  expected<bool> next_piece(transaction_view& txn);
  // Views of the message records at offsets_ (all in the window).
  void make_views(transaction_view& txn);

  // Reading ahead: up to this many chunks (of the read_ahead size) are
  // read while the window is parsed, into buffers with this much room in
  // front for the bytes a refill keeps (those of a small transaction).
  static constexpr size_t read_ahead_depth = 8;
  static constexpr size_t read_ahead_reserve = 64 << 10;

  const wal_store& store_;
  const byte_source& source_;
  uint64_t position_;
  size_t read_ahead_;
  scan_window window_;
  size_t max_piece_bytes_;
  std::vector<uint64_t> offsets_; // message payload positions, reused
  open_transaction open_;
  // Where the walk to the commit of the transaction at position_ stopped
  // at the durable end (0: none).
  uint64_t searched_to_ = 0;
  transaction_view view_; // backs next()
};

} // namespace walmux::storage
