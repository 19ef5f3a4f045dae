// wal_store.cpp: the segment WAL store (see wal_store.hpp).
#include "storage/wal_store.hpp"

#include "storage/record.hpp"
#include "storage/wal_scan.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace walmux::storage {
namespace {

constexpr const char* start_file = "START";
constexpr uint16_t start_version = 1;

constexpr std::string_view index_suffix = ".index";
// Closed segment summaries waiting to be written (one per segment).
constexpr size_t max_pending_summaries = 1024;

bool parse_segment_name(const std::string& name, uint64_t& number) {
  if (name.size() != 16)
    return false;
  number = 0;
  for (char c : name) {
    int v = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                     : -1;
    if (v < 0)
      return false;
    number = number << 4 | static_cast<uint64_t>(v);
  }
  return true;
}

// "<segment>.index" or its temporary "<segment>.index.tmp".
bool parse_index_name(const std::string& name, uint64_t& number) {
  if (name.size() < 16 + index_suffix.size())
    return false;
  const std::string rest = name.substr(16);
  if (rest != index_suffix && rest != std::string(index_suffix) + ".tmp")
    return false;
  return parse_segment_name(name.substr(0, 16), number);
}

} // namespace

wal_store::wal_store(options opts)
    : opts_(std::move(opts))
    , env_(opts_.file_env != nullptr ? opts_.file_env : posix_env()) {}

wal_store::~wal_store() = default;

std::string wal_store::segment_path(uint64_t segment) const {
  char name[20];
  std::snprintf(name, sizeof name, "%016" PRIX64, segment);
  return opts_.dir + "/" + name;
}

std::string wal_store::index_path(uint64_t segment) const {
  return segment_path(segment) + std::string(index_suffix);
}

expected<std::unique_ptr<wal_store>> wal_store::open(options opts) {
  if (opts.segment_size < wal_block_size ||
      (opts.segment_size & (opts.segment_size - 1)) != 0)
    return error{sqlstate::invalid_parameter_value,
                 "WAL segment size must be a power of two of at least 8kB"};
  std::unique_ptr<wal_store> store(new wal_store(std::move(opts)));
  if (auto st = store->env_->make_dir(store->opts_.dir); !st)
    return std::move(st).err();
  if (auto st = store->recover(); !st)
    return std::move(st).err();
  if (auto st = store->open_tail_for_append(); !st)
    return std::move(st).err();
  return store;
}

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

void wal_store::summarise_transaction(lsn commit, lsn end_lsn, uint64_t start,
                                      uint64_t end, bool indexed) {
  const uint64_t end_segment = (end - 1) / opts_.segment_size;
  while (open_summary_.segment < end_segment) {
    segment_index next;
    next.segment = open_summary_.segment + 1;
    next.boundary = open_summary_.boundary;
    next.last_commit = open_summary_.last_commit;
    next.last_end = open_summary_.last_end;
    // Bounded: if summaries keep failing to be written, the oldest waiting
    // one is given up (its segment is then scanned at the next open).
    if (closed_summaries_.size() >= max_pending_summaries)
      closed_summaries_.erase(closed_summaries_.begin());
    closed_summaries_.push_back(std::move(open_summary_));
    open_summary_ = std::move(next);
  }
  open_summary_.boundary = end;
  ++open_summary_.transactions;
  open_summary_.last_commit = commit;
  open_summary_.last_end = std::max(open_summary_.last_end, end_lsn);
  if (indexed)
    open_summary_.entries.emplace_back(commit, start);
}

void wal_store::write_summaries(uint64_t durable) {
  const uint64_t seg_size = opts_.segment_size;
  size_t done = 0;
  for (; done < closed_summaries_.size(); ++done) {
    const auto& x = closed_summaries_[done];
    if ((x.segment + 1) * seg_size > durable)
      break;
    if (x.segment < start_.load() / seg_size)
      continue; // removed by retention meanwhile
    if (!env_->write_atomically(index_path(x.segment),
                                wal_encode_segment_index(x)))
      break; // retried at the next sync; only recovery work is at stake
  }
  closed_summaries_.erase(closed_summaries_.begin(),
                          closed_summaries_.begin() +
                              static_cast<std::ptrdiff_t>(done));
}

status wal_store::open_tail_for_append() {
  tail_segment_ = durable_.load() / opts_.segment_size;
  auto f = env_->open_writable(segment_path(tail_segment_));
  if (!f)
    return std::move(f).err();
  tail_ = std::move(*f);
  if (tail_->size() != durable_.load() % opts_.segment_size)
    return error{sqlstate::data_corrupted,
                 "WAL segment \"" + segment_path(tail_segment_) +
                     "\" does not end where the store does"};
  return env_->sync_dir(opts_.dir);
}

bool wal_store::index_transaction(lsn commit, uint64_t start) {
  // last_indexed_ belongs to the writer; the lock guards index_ for readers.
  if (has_index_entry_ && start < last_indexed_ + opts_.index_spacing)
    return false;
  std::lock_guard g(index_mu_);
  index_.emplace_back(commit, start);
  last_indexed_ = start;
  has_index_entry_ = true;
  return true;
}

status wal_store::writable() const {
  if (failed_)
    return error{sqlstate::io_error,
                 "the WAL store is unusable after an fsync failure"}
        .with_hint("Restart walmux; recovery keeps what is durable.");
  if (buffer_.size() >= opts_.max_buffer)
    return error{"53400", "WAL write buffer is full"}.with_hint(
        "Call sync() before appending more.");
  return ok();
}

status wal_store::append_part(std::span<const stored_message> messages) {
  if (auto st = writable(); !st)
    return st;
  if (messages.empty())
    return ok();
  if (!open_) {
    open_ = true;
    open_start_ = written_position();
    open_count_ = 0;
  }
  for (const auto& m : messages)
    wal_append_message(buffer_, m.data_start, m.bytes);
  open_count_ += static_cast<uint32_t>(messages.size());
  return ok();
}

void wal_store::abandon_part() {
  if (!open_)
    return;
  wal_append_abort(buffer_, open_start_);
  open_ = false;
}

expected<uint64_t> wal_store::append(const commit_record& meta,
                                     std::span<const stored_message> messages) {
  if (auto st = writable(); !st)
    return std::move(st).err();
  if (meta.commit_lsn < last_commit_)
    return error{sqlstate::internal_error,
                 "commit LSN " + lsn_to_string(meta.commit_lsn) +
                     " is before the last stored commit " +
                     lsn_to_string(last_commit_)};
  const uint64_t start = open_ ? open_start_ : written_position();
  for (const auto& m : messages)
    wal_append_message(buffer_, m.data_start, m.bytes);
  commit_record c = meta;
  c.message_count =
      static_cast<uint32_t>(messages.size()) + (open_ ? open_count_ : 0);
  open_ = false;
  c.start_position = start;
  c.batch_start = durable_.load(); // the next sync starts here
  wal_append_commit(buffer_, c);
  last_commit_ = meta.commit_lsn;
  last_end_ = std::max(last_end_, meta.end_lsn);
  const bool indexed = index_transaction(meta.commit_lsn, start);
  summarise_transaction(meta.commit_lsn, meta.end_lsn, start,
                        written_position(), indexed);
  return written_position();
}

status wal_store::sync() {
  if (failed_)
    return error{sqlstate::io_error,
                 "the WAL store is unusable after an fsync failure"}
        .with_hint("Restart walmux; recovery keeps what is durable.");
  if (buffer_.empty())
    return ok();
  const uint64_t seg_size = opts_.segment_size;
  const uint64_t begin = durable_.load();
  const uint64_t first_segment = tail_segment_;
  const uint64_t first_size = tail_->size();
  std::vector<std::unique_ptr<writable_file>> completed;
  std::vector<uint64_t> created;
  uint64_t cursor = begin;
  std::string_view data(buffer_);

  auto rollback = [&](error e) -> status {
    // Undo partial writes so the files end at the durable position again;
    // the buffer stays for a retry.
    completed.clear();
    tail_.reset();
    for (uint64_t s : created)
      (void)env_->remove(segment_path(s)); // best effort; recovery re-checks
    auto f = env_->open_writable(segment_path(first_segment));
    if (f && (*f)->truncate(first_size)) {
      tail_ = std::move(*f);
      tail_segment_ = first_segment;
    } else {
      failed_ = true; // cannot restore a known file state
    }
    return e;
  };

  while (!data.empty()) {
    if (cursor != begin && cursor % seg_size == 0) {
      completed.push_back(std::move(tail_));
      tail_segment_ = cursor / seg_size;
      auto f = env_->open_writable(segment_path(tail_segment_));
      if (!f)
        return rollback(std::move(f).err());
      tail_ = std::move(*f);
      created.push_back(tail_segment_);
    }
    size_t room = static_cast<size_t>(seg_size - cursor % seg_size);
    auto chunk = data.substr(0, std::min(room, data.size()));
    if (auto st = tail_->append(chunk); !st)
      return rollback(std::move(st).err());
    cursor += chunk.size();
    data.remove_prefix(chunk.size());
  }
  for (auto& f : completed)
    if (auto st = f->sync(); !st) {
      failed_ = true;
      return st;
    }
  if (auto st = tail_->sync(); !st) {
    failed_ = true;
    return st;
  }
  if (!created.empty())
    if (auto st = env_->sync_dir(opts_.dir); !st) {
      failed_ = true;
      return st;
    }
  if (opts_.on_write)
    opts_.on_write(begin, buffer_);
  buffer_.clear();
  {
    std::lock_guard g(durable_mu_);
    durable_ = cursor;
  }
  durable_cv_.notify_all();
  write_summaries(cursor);
  return ok();
}

uint64_t wal_store::wait_durable_past(uint64_t position,
                                      std::chrono::milliseconds timeout) const {
  std::unique_lock g(durable_mu_);
  durable_cv_.wait_for(g, timeout, [&] { return durable_.load() > position; });
  return durable_.load();
}

uint64_t wal_store::scan_start_for(lsn target) const {
  std::lock_guard g(index_mu_);
  auto it = std::lower_bound(
      index_.begin(), index_.end(), target,
      [](const std::pair<lsn, uint64_t>& e, lsn t) { return e.first < t; });
  if (it == index_.begin())
    return start_.load();
  return std::max(std::prev(it)->second, start_.load());
}

expected<size_t> wal_store::read(uint64_t position, char* dst, size_t n) const {
  const uint64_t limit = durable_.load();
  if (position >= limit)
    return size_t{0};
  n = static_cast<size_t>(std::min<uint64_t>(n, limit - position));
  const uint64_t seg_size = opts_.segment_size;
  size_t done = 0;
  while (done < n) {
    const uint64_t segment = (position + done) / seg_size;
    const uint64_t offset = (position + done) % seg_size;
    const size_t take =
        static_cast<size_t>(std::min<uint64_t>(n - done, seg_size - offset));
    std::shared_ptr<readable_file> file;
    {
      std::lock_guard g(files_mu_);
      auto it = readers_.find(segment);
      if (it == readers_.end()) {
        auto f = env_->open_readable(segment_path(segment));
        if (!f)
          return std::move(f).err();
        it = readers_.emplace(segment, std::move(*f)).first;
      }
      file = it->second;
    }
    auto got = file->read_at(offset, dst + done, take);
    if (!got)
      return std::move(got).err();
    done += *got;
    if (*got < take)
      break;
  }
  return done;
}

status wal_store::read_at(uint64_t position, size_t n, std::string& out) const {
  const uint64_t limit = durable_.load();
  out.resize(position >= limit ? 0
                               : static_cast<size_t>(
                                     std::min<uint64_t>(n, limit - position)));
  auto got = read(position, out.data(), out.size());
  if (!got) {
    out.clear();
    return std::move(got).err();
  }
  out.resize(*got);
  return ok();
}

status wal_store::remove_before(uint64_t first_needed) {
  const uint64_t start = start_.load();
  if (first_needed <= start)
    return ok();
  if (first_needed > durable_.load())
    return error{sqlstate::internal_error,
                 "cannot remove WAL beyond the durable position"};
  std::string payload;
  put_u64(payload, first_needed);
  if (auto st = env_->write_atomically(
          opts_.dir + "/" + start_file,
          record_encode(record_kind::wal_start, start_version, payload));
      !st)
    return st;
  const uint64_t from = start / opts_.segment_size;
  const uint64_t to = first_needed / opts_.segment_size;
  {
    std::lock_guard g(files_mu_);
    for (uint64_t s = from; s < to; ++s)
      readers_.erase(s);
  }
  for (uint64_t s = from; s < to; ++s) {
    if (auto st = env_->remove(segment_path(s)); !st)
      return st;
    if (auto st = env_->remove(index_path(s)); !st)
      return st;
  }
  if (auto st = env_->sync_dir(opts_.dir); !st)
    return st;
  start_ = first_needed;
  std::lock_guard g(index_mu_);
  index_.erase(
      std::remove_if(index_.begin(), index_.end(),
                     [&](const auto& e) { return e.second < first_needed; }),
      index_.end());
  return ok();
}

} // namespace walmux::storage
