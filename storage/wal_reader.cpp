// wal_reader.cpp: see wal_reader.hpp.
#include "storage/wal_reader.hpp"

#include "storage/record.hpp"
#include "storage/wal_scan.hpp"

#include <iterator>

namespace walmux::storage {

wal_reader::wal_reader(const wal_store& store, uint64_t position,
                       size_t read_ahead, const byte_source* source,
                       size_t max_piece_bytes)
    : store_(store)
    , source_(source != nullptr ? *source : store)
    , position_(position)
    , read_ahead_(read_ahead)
    , max_piece_bytes_(max_piece_bytes) {
  // Transactions are read front to back: the next chunks come off the disk
  // while this one is checked and walked.
  window_.ahead = std::make_unique<storage::read_ahead>(
      source_, read_ahead_, read_ahead_reserve, read_ahead_depth);
}

namespace {

// The error for a bad record that `scan` stopped at.
error bad_record(const wal_store& store, const raw_scanner::failure& f) {
  const uint64_t seg = store.segment_size();
  return corrupt_at(store.segment_path(f.position / seg), f.position % seg,
                    f.why);
}

} // namespace

void wal_reader::make_views(transaction_view& txn) {
  txn.messages.clear();
  for (uint64_t at : offsets_) {
    // at: the payload of a message record; its length is in the header.
    const char* p = window_.at(at);
    const uint32_t length = get_u32(p - wal_header_size + 3);
    txn.messages.push_back(
        message_view{lsn(get_u64(p)), std::string_view(p + 8, length - 8)});
  }
}

expected<bool> wal_reader::next_view(transaction_view& txn) {
  while (true) {
    if (open_.active)
      return next_piece(txn);
    if (searched_to_ > position_) {
      raw_scanner scan{source_, window_, searched_to_, read_ahead_,
                       searched_to_};
      auto found = find_commit(scan);
      if (!found)
        return std::move(found).err();
      if (*found == search::at_end)
        return false;
      continue; // found (a piece follows) or voided (read on)
    }
    raw_scanner scan{source_, window_, position_, read_ahead_, position_};
    // Offsets first: a refill may move the window while the transaction is
    // read; views are made once its commit record is in.
    offsets_.clear();
    size_t bytes = 0;
    raw_scanner::record r;
    raw_scanner::failure f;
    while (true) {
      auto step = scan.next(r, f);
      if (!step)
        return std::move(step).err();
      if (*step == raw_scanner::step::end)
        return false; // durable end
      if (*step == raw_scanner::step::bad)
        return bad_record(store_, f);
      if (r.header.type == record_type::message) {
        offsets_.push_back(r.position + wal_header_size);
        bytes += r.header.length;
        if (bytes > max_piece_bytes_)
          break; // too large to hold: find its commit, then read in pieces
        continue;
      }
      if (r.header.type == record_type::abort) {
        // Parts of a transaction its source never committed.
        offsets_.clear();
        bytes = 0;
        position_ = scan.anchor = scan.position;
        continue;
      }
      auto c = wal_decode_commit(r.payload);
      if (!c)
        return std::move(c).err();
      make_views(txn);
      txn.commit = *c;
      txn.end_position = scan.position;
      txn.first_piece = txn.last_piece = true;
      position_ = scan.position;
      return true;
    }
    auto found = find_commit(scan);
    if (!found)
      return std::move(found).err();
    if (*found == search::at_end)
      return false;
  }
}

expected<wal_reader::search> wal_reader::find_commit(raw_scanner& scan) {
  raw_scanner::record r;
  raw_scanner::failure f;
  while (true) {
    scan.anchor = scan.position; // keep nothing behind
    auto step = scan.next(r, f);
    if (!step)
      return std::move(step).err();
    if (*step == raw_scanner::step::end) {
      searched_to_ = scan.position;
      return search::at_end;
    }
    if (*step == raw_scanner::step::bad)
      return bad_record(store_, f);
    if (r.header.type == record_type::message)
      continue;
    searched_to_ = 0;
    if (r.header.type == record_type::abort) {
      position_ = scan.position; // the transaction was voided
      return search::voided;
    }
    auto c = wal_decode_commit(r.payload);
    if (!c)
      return std::move(c).err();
    open_ = open_transaction{true, *c, r.position, scan.position, position_};
    return search::found;
  }
}

expected<bool> wal_reader::next_piece(transaction_view& txn) {
  const uint64_t start = open_.next;
  raw_scanner scan{source_, window_, start, read_ahead_, start};
  offsets_.clear();
  size_t bytes = 0;
  raw_scanner::record r;
  raw_scanner::failure f;
  while (scan.position < open_.commit_position &&
         (offsets_.empty() || bytes < max_piece_bytes_)) {
    auto step = scan.next(r, f);
    if (!step)
      return std::move(step).err();
    if (*step == raw_scanner::step::bad)
      return bad_record(store_, f);
    if (*step == raw_scanner::step::end ||
        r.header.type != record_type::message)
      return error{sqlstate::data_corrupted,
                   "the records of a stored transaction changed while it "
                   "was read"};
    offsets_.push_back(r.position + wal_header_size);
    bytes += r.header.length;
  }
  make_views(txn);
  txn.commit = open_.commit;
  txn.end_position = open_.end_position;
  txn.first_piece = start == position_;
  open_.next = scan.position;
  txn.last_piece = open_.next == open_.commit_position;
  if (txn.last_piece) {
    open_.active = false;
    position_ = open_.end_position;
  }
  return true;
}

stored_transaction owned_copy(const transaction_view& txn) {
  stored_transaction t;
  t.commit = txn.commit;
  t.end_position = txn.end_position;
  t.messages.reserve(txn.messages.size());
  for (const auto& m : txn.messages)
    t.messages.push_back({m.data_start, std::string(m.bytes)});
  return t;
}

transaction_view view_of(const stored_transaction& txn) {
  transaction_view v;
  v.commit = txn.commit;
  v.end_position = txn.end_position;
  v.messages.reserve(txn.messages.size());
  for (const auto& m : txn.messages)
    v.messages.push_back({m.data_start, m.bytes});
  return v;
}

expected<std::optional<stored_transaction>> wal_reader::next() {
  auto more = next_view(view_);
  if (!more)
    return std::move(more).err();
  if (!*more)
    return std::optional<stored_transaction>();
  stored_transaction t = owned_copy(view_);
  while (!view_.last_piece) {
    more = next_view(view_);
    if (!more)
      return std::move(more).err();
    auto piece = owned_copy(view_);
    std::move(piece.messages.begin(), piece.messages.end(),
              std::back_inserter(t.messages));
  }
  return std::optional<stored_transaction>(std::move(t));
}

} // namespace walmux::storage
