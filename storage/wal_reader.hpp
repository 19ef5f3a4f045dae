// wal_reader.hpp: walks the stored transactions of a WAL store in order,
// from a transaction start up to the durable position, reading ahead in
// large chunks and checking every record's CRC (a bad record is an error
// naming its segment file and offset).
#pragma once

#include "storage/wal_store.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace walmux::storage {

// A stored transaction whose message bytes point into a reader's buffer,
// valid until the reader's next call.
struct message_view {
  lsn data_start;
  std::string_view bytes;
};
struct transaction_view {
  commit_record commit;
  std::vector<message_view> messages;
  uint64_t end_position = 0;
};

// A reader's window on the store: bytes [start, start + size) in a buffer
// that is reused, not zeroed, and grows only to what one transaction plus
// the read-ahead needs.
struct scan_window {
  std::unique_ptr<char[]> data;
  size_t capacity = 0;
  size_t size = 0;
  uint64_t start = 0;

  // REQUIRES: start <= position <= start + size.
  char* at(uint64_t position) const { return data.get() + (position - start); }
};

// Walks stored transactions from a position (a transaction start) up to the
// store's durable position, reading ahead in large chunks. One thread.
class wal_reader {
 public:
  // Bytes come from `source` (default: the store); REQUIRES: both outlive
  // the reader.
  wal_reader(const wal_store& store, uint64_t position,
             size_t read_ahead = 256 << 10,
             const byte_source* source = nullptr);

  // The next complete transaction, or nullopt at the durable end. Errors
  // name the segment file and offset of a bad record.
  expected<std::optional<stored_transaction>> next();
  // The same without copying: false at the durable end; `txn` (its
  // message vector reused) stays valid until the next call.
  expected<bool> next_view(transaction_view& txn);
  uint64_t position() const { return position_; }

 private:
  const wal_store& store_;
  const byte_source& source_;
  uint64_t position_;
  size_t read_ahead_;
  scan_window window_;
  std::vector<uint64_t> offsets_; // message payload positions, reused
  transaction_view view_;         // backs next()
};

} // namespace walmux::storage
