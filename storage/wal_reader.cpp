// wal_reader.cpp: see wal_reader.hpp.
#include "storage/wal_reader.hpp"

#include "storage/record.hpp"
#include "storage/wal_scan.hpp"

namespace walmux::storage {

wal_reader::wal_reader(const wal_store& store, uint64_t position,
                       size_t read_ahead, const byte_source* source)
    : store_(store)
    , source_(source != nullptr ? *source : store)
    , position_(position)
    , read_ahead_(read_ahead) {}

expected<bool> wal_reader::next_view(transaction_view& txn) {
  raw_scanner scan{source_, window_, position_, read_ahead_, position_};
  txn.messages.clear();
  // Offsets first: a refill may move the window while the transaction is
  // read; views are made once its commit record is in.
  offsets_.clear();
  raw_scanner::record r;
  raw_scanner::failure f;
  while (true) {
    auto step = scan.next(r, f);
    if (!step)
      return std::move(step).err();
    if (*step == raw_scanner::step::end)
      return false; // durable end
    if (*step == raw_scanner::step::bad) {
      const uint64_t seg = store_.segment_size();
      return corrupt_at(store_.segment_path(f.position / seg), f.position % seg,
                        f.why);
    }
    if (r.header.type == record_type::message) {
      offsets_.push_back(r.position + wal_header_size);
      continue;
    }
    auto c = wal_decode_commit(r.payload);
    if (!c)
      return std::move(c).err();
    for (uint64_t at : offsets_) {
      // at: the payload of a message record; its length is in the header.
      const char* p = window_.at(at);
      const uint32_t length = get_u32(p - wal_header_size + 3);
      txn.messages.push_back(
          message_view{lsn(get_u64(p)), std::string_view(p + 8, length - 8)});
    }
    txn.commit = *c;
    txn.end_position = scan.position;
    position_ = scan.position;
    return true;
  }
}

expected<std::optional<stored_transaction>> wal_reader::next() {
  auto more = next_view(view_);
  if (!more)
    return std::move(more).err();
  if (!*more)
    return std::optional<stored_transaction>();
  stored_transaction t;
  t.commit = view_.commit;
  t.end_position = view_.end_position;
  t.messages.reserve(view_.messages.size());
  for (const auto& m : view_.messages)
    t.messages.push_back({m.data_start, std::string(m.bytes)});
  return std::optional<stored_transaction>(std::move(t));
}

} // namespace walmux::storage
