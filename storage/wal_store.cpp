// wal_store.cpp: the segment WAL store (see wal_store.hpp).
#include "storage/wal_store.hpp"

#include "storage/record.hpp"
#include "storage/wal_files.hpp"
#include "storage/wal_scan.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace walmux::storage {
namespace {

// Closed segment summaries waiting to be written (one per segment).
constexpr size_t max_pending_summaries = 1024;

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
    // A new segment starts at every boundary, the first one included: a
    // sync that ended exactly at a boundary left the full segment as tail.
    if (cursor % seg_size == 0 && cursor / seg_size != tail_segment_) {
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
