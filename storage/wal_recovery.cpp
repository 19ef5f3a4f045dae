// wal_recovery.cpp: opening the WAL store after any stop: START, the
// segment files, the summaries of complete segments, and the scan of the
// tail that tells a torn tail (cut) from damage (refused); see
// wal_store.hpp.
#include "storage/record.hpp"
#include "storage/wal_files.hpp"
#include "storage/wal_scan.hpp"
#include "storage/wal_store.hpp"

#include <algorithm>
#include <cstring>

namespace walmux::storage {

expected<bool> wal_store::find_durable_commit_after(uint64_t position,
                                                    uint64_t data_end) const {
  // Looks for a valid commit record starting after `position` whose batch
  // began after `position`. Reads the rest of the data in chunks; a record
  // header can start at any byte, so every offset with the magic is tried.
  const size_t chunk = 4 << 20;
  std::string buf;
  uint64_t buf_start = 0;
  auto byte_range = [&](uint64_t at, size_t n) -> expected<std::string_view> {
    if (at < buf_start || at + n > buf_start + buf.size()) {
      buf_start = at;
      if (auto st = read_at(at, std::max(chunk, n), buf); !st)
        return std::move(st).err();
    }
    if (at + n > buf_start + buf.size())
      return std::string_view();
    return std::string_view(buf).substr(at - buf_start, n);
  };
  for (uint64_t q = position + 1; q + wal_header_size <= data_end; ++q) {
    auto head = byte_range(q, wal_header_size);
    if (!head)
      return std::move(head).err();
    if (head->size() < wal_header_size)
      break;
    if (static_cast<unsigned char>((*head)[0]) != (wal_record_magic & 0xff) ||
        static_cast<unsigned char>((*head)[1]) != (wal_record_magic >> 8) ||
        (*head)[2] != static_cast<char>(record_type::commit))
      continue;
    auto h = wal_parse_header(*head);
    if (!h)
      continue;
    auto body = byte_range(q + wal_header_size, h->length);
    if (!body)
      return std::move(body).err();
    if (body->size() < h->length || !wal_crc_matches(*h, *body))
      continue;
    auto c = wal_decode_commit(*body);
    if (c && c->batch_start > position)
      return true;
  }
  return false;
}

status wal_store::recover() {
  const uint64_t seg_size = opts_.segment_size;
  // START: the first retained record boundary.
  std::string start_path = opts_.dir + "/" + start_file;
  auto has_start = env_->exists(start_path);
  if (!has_start)
    return std::move(has_start).err();
  if (*has_start) {
    auto f = env_->open_readable(start_path);
    if (!f)
      return std::move(f).err();
    std::string bytes(1024, '\0');
    auto got = (*f)->read_at(0, bytes.data(), bytes.size());
    if (!got)
      return std::move(got).err();
    bytes.resize(*got);
    auto rec = record_decode(bytes, "WAL START file");
    if (!rec)
      return std::move(rec).err();
    if (rec->kind != record_kind::wal_start || rec->version != start_version ||
        rec->payload.size() != 8)
      return error{sqlstate::data_corrupted, "invalid WAL START file"};
    start_ = get_u64(rec->payload.data());
  }
  report_.start_position = start_;

  auto names = env_->list(opts_.dir);
  if (!names)
    return std::move(names).err();
  std::vector<uint64_t> segments;
  std::vector<std::string> index_files;
  for (const auto& n : *names) {
    uint64_t number = 0;
    if (parse_segment_name(n, number))
      segments.push_back(number);
    else if (parse_index_name(n, number))
      index_files.push_back(n);
  }
  std::sort(segments.begin(), segments.end());
  const uint64_t first = start_ / seg_size;
  // Segments below START are leftovers of an interrupted retention.
  while (!segments.empty() && segments.front() < first) {
    if (auto st = env_->remove(segment_path(segments.front())); !st)
      return st;
    segments.erase(segments.begin());
  }
  if (segments.empty()) {
    for (const auto& n : index_files)
      if (auto st = env_->remove(opts_.dir + "/" + n); !st)
        return st;
    durable_ = start_.load();
    report_.end_position = start_;
    open_summary_.segment = start_ / seg_size;
    open_summary_.boundary = start_;
    return ok();
  }
  if (segments.front() != first)
    return error{sqlstate::data_corrupted,
                 "WAL segment \"" + segment_path(first) + "\" is missing"};
  for (size_t i = 1; i < segments.size(); ++i)
    if (segments[i] != segments[i - 1] + 1)
      return error{sqlstate::data_corrupted,
                   "WAL segment \"" + segment_path(segments[i - 1] + 1) +
                       "\" is missing"};
  // The data is contiguous up to the first short segment. Anything after
  // it can only be unsynced writes of the last sync, at most one write
  // buffer plus a segment: the torn-tail window. A segment beyond the
  // window means files were lost or damaged, not a torn tail.
  const uint64_t tail_window = opts_.max_buffer + seg_size;
  std::vector<uint64_t> beyond; // segments after the first short one
  bool short_seen = false;
  for (uint64_t s : segments) {
    if (short_seen) {
      beyond.push_back(s);
      continue;
    }
    auto f = env_->open_readable(segment_path(s));
    if (!f)
      return std::move(f).err();
    auto size = (*f)->size();
    if (!size)
      return std::move(size).err();
    if (*size > seg_size)
      return error{sqlstate::data_corrupted,
                   "WAL segment \"" + segment_path(s) + "\" has size " +
                       std::to_string(*size) +
                       ", larger than the segment size " +
                       std::to_string(seg_size)};
    durable_ = s * seg_size + *size; // scan limit: all contiguous data
    if (*size < seg_size)
      short_seen = true;
  }
  for (uint64_t s : beyond)
    if (s * seg_size >= durable_.load() + tail_window)
      return error{sqlstate::data_corrupted,
                   "WAL segment \"" + segment_path(s) +
                       "\" lies beyond the end of the WAL"}
          .with_detail("An earlier segment is shorter than the segment size.");
  const uint64_t data_end = durable_.load();

  // Summarised segments need no scan; scan every record of the tail,
  // checking CRCs and transaction structure. Recovery keeps no views:
  // nothing before the position stays buffered.
  auto scan_from = load_summaries(segments, data_end);
  if (!scan_from)
    return std::move(scan_from).err();
  report_.scan_start = *scan_from;
  scan_window window;
  raw_scanner scan{*this, window, *scan_from, 1 << 20, UINT64_MAX};
  uint64_t complete_end = *scan_from;
  uint64_t txn_start = *scan_from;
  uint32_t pending = 0;
  raw_scanner::record r;
  raw_scanner::failure f;
  while (true) {
    auto step = scan.next(r, f);
    if (!step)
      return std::move(step).err();
    if (*step == raw_scanner::step::end)
      break;
    if (*step == raw_scanner::step::bad) {
      // Torn tail or damage? If any later valid commit record was written
      // by a sync that began after this position, this position had been
      // durable: damage, reported and never skipped. Otherwise it lies in
      // the last (unsynced) batch: a torn tail.
      auto later = find_durable_commit_after(f.position, data_end);
      if (!later)
        return std::move(later).err();
      if (*later)
        return corrupt_at(segment_path(f.position / seg_size),
                          f.position % seg_size, f.why);
      report_.cut_reason = "torn record at position " +
                           std::to_string(f.position) + ": " +
                           std::string(f.why);
      break;
    }
    if (r.header.type == record_type::message) {
      if (pending == 0)
        txn_start = r.position;
      ++pending;
      continue;
    }
    if (r.header.type == record_type::abort) {
      auto voided = wal_decode_abort(r.payload);
      if (!voided)
        return std::move(voided).err();
      if (pending == 0 || *voided != txn_start)
        return corrupt_at(segment_path(r.position / seg_size),
                          r.position % seg_size,
                          "The abort record does not match the records "
                          "before it.");
      pending = 0;
      continue;
    }
    auto c = wal_decode_commit(r.payload);
    if (!c)
      return std::move(c).err();
    uint64_t expected_start = pending == 0 ? r.position : txn_start;
    if (c->message_count != pending || c->start_position != expected_start)
      return corrupt_at(segment_path(r.position / seg_size),
                        r.position % seg_size,
                        "The commit record does not match the records "
                        "before it.");
    const bool indexed = index_transaction(c->commit_lsn, expected_start);
    summarise_transaction(c->commit_lsn, c->end_lsn, expected_start,
                          scan.position, indexed);
    last_commit_ = c->commit_lsn;
    last_end_ = std::max(last_end_, c->end_lsn);
    complete_end = scan.position;
    pending = 0;
    ++report_.transactions;
  }
  if (pending != 0 && report_.cut_reason.empty())
    report_.cut_reason = "transaction without its commit record";

  // Cut everything after the last complete transaction.
  const uint64_t last_file = segments.back();
  if (complete_end < data_end || !beyond.empty()) {
    const uint64_t keep_segment = complete_end / seg_size;
    for (uint64_t s = last_file; s > keep_segment; --s)
      if (auto st = env_->remove(segment_path(s)); !st)
        return st;
    auto f = env_->open_writable(segment_path(keep_segment));
    if (!f)
      return std::move(f).err();
    if (auto st = (*f)->truncate(complete_end % seg_size); !st)
      return st;
    if (auto st = (*f)->sync(); !st)
      return st;
    if (auto st = env_->sync_dir(opts_.dir); !st)
      return st;
    std::lock_guard g(files_mu_);
    readers_.clear();
  }
  report_.cut_bytes = data_end - complete_end;
  if (!beyond.empty() && report_.cut_reason.empty())
    report_.cut_reason = "segments written after a short segment";
  report_.end_position = complete_end;
  durable_ = complete_end;

  // The tail was read back, maybe from the page cache of a process that
  // died before its sync: make it durable before counting it so (and
  // before summarising segments of it).
  for (uint64_t s = *scan_from / seg_size;
       s * seg_size < complete_end && s <= last_file; ++s) {
    auto f = env_->open_writable(segment_path(s));
    if (!f)
      return std::move(f).err();
    if (auto st = (*f)->sync(); !st)
      return st;
  }
  // A summary is valid only beside a complete segment of the kept data:
  // remove the others (below START, cut, or never finished) first.
  for (const auto& n : index_files) {
    uint64_t s = 0;
    (void)parse_index_name(n, s);
    const bool temporary = n.size() > 16 + index_suffix.size();
    if (temporary || s < first || (s + 1) * seg_size > complete_end)
      if (auto st = env_->remove(opts_.dir + "/" + n); !st)
        return st;
  }
  write_summaries(complete_end);
  return ok();
}

expected<uint64_t>
wal_store::load_summaries(const std::vector<uint64_t>& segments,
                          uint64_t data_end) {
  const uint64_t seg_size = opts_.segment_size;
  const uint64_t start = start_.load();
  open_summary_ = segment_index{};
  open_summary_.segment = start / seg_size;
  open_summary_.boundary = start;
  for (uint64_t s : segments) {
    if ((s + 1) * seg_size > data_end)
      break;
    const std::string path = index_path(s);
    auto present = env_->exists(path);
    if (!present)
      return std::move(present).err();
    if (!*present)
      break;
    auto f = env_->open_readable(path);
    if (!f)
      return std::move(f).err();
    auto size = (*f)->size();
    if (!size)
      return std::move(size).err();
    std::string bytes(static_cast<size_t>(std::min<uint64_t>(*size, 64 << 20)),
                      '\0');
    auto got = (*f)->read_at(0, bytes.data(), bytes.size());
    if (!got)
      return std::move(got).err();
    bytes.resize(*got);
    // A damaged or foreign summary only costs a longer scan: the scan
    // starts before it and writes it again.
    auto x = wal_decode_segment_index(bytes, seg_size);
    if (!x || x->segment != s || x->boundary < open_summary_.boundary)
      break;
    {
      std::lock_guard g(index_mu_);
      for (const auto& e : x->entries)
        if (e.second >= start) {
          index_.push_back(e);
          last_indexed_ = e.second;
          has_index_entry_ = true;
        }
    }
    report_.transactions += x->transactions;
    last_commit_ = x->last_commit;
    last_end_ = x->last_end;
    open_summary_ = segment_index{};
    open_summary_.segment = s + 1;
    open_summary_.boundary = x->boundary;
    open_summary_.last_commit = x->last_commit;
    open_summary_.last_end = x->last_end;
  }
  return std::max(open_summary_.boundary, start);
}

} // namespace walmux::storage
