// wal_store.hpp: the segment WAL store (DATADIR/wal/): stored transactions,
// durable with group commit, recovered after any crash.
//
// Positions: the store is one byte space cut into segment files named by
// segment number (16 hex digits); see wal_format.hpp for records. START
// holds the first retained record boundary (0 until retention removes
// segments).
//
// Writing (one thread): append() encodes a transaction into the write buffer
// and returns at once; sync() writes the buffer and makes it durable with
// one fdatasync per segment touched: group commit. written_position() is
// what the OS has; durable_position() what is synced, which never moves
// backwards. The buffer is bounded (options::max_buffer): append() refuses
// once it is full, and the caller syncs (back-pressure, not growth).
// A failed write (ENOSPC) rewinds the files to the durable position and
// keeps the buffer, so a later sync() retries it. A failed fdatasync
// (EIO) leaves durability unknown, as PostgreSQL treats it: the store
// refuses all further work until it is reopened, and recovery decides.
//
// Segment summaries: once a segment is complete and durable, sync() writes
// "<segment>.index" beside it (wal_format.hpp: its sparse index entries,
// transaction count, last LSNs and the last transaction boundary in it),
// atomically. A summary that cannot be written is retried at the next sync:
// it only saves recovery work. Retention removes it with its segment.
//
// Recovery (open) loads the summaries of the complete segments from START
// on, in order up to the first missing one, and scans every record after
// the last summarised boundary (the tail), checking its CRC, which rebuilds
// the rest of the sparse index and writes the summaries that were missing.
// Only the last sync's writes can be missing after a crash, and no summary
// is written before its segment is durable, so the tail holds them all.
// Every commit record carries the durable position at which its sync began,
// so a bad record followed by a valid commit of a later sync marks damage
// to durable data: open() fails with an error naming the segment file and
// offset, nothing is skipped. A bad record with no such commit after it is
// a torn tail: it is cut, together with any transaction left without its
// commit record and any segment written after a short one, and reported in
// recovery(), as are the parts of a transaction written before a crash
// that came before its commit. Damage in a summarised segment is found by
// the reader that
// reaches it, with the same error (readers check every record's CRC).
//
// Reading (any thread, concurrently with the writer): read_at() serves the
// block cache with pread; wal_reader (wal_reader.hpp) walks transactions
// with read-ahead.
// Readers see data up to durable_position() only.
#pragma once

#include "common/expected.hpp"
#include "protocol/lsn.hpp"
#include "storage/env.hpp"
#include "storage/wal_format.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace walmux::storage {

struct stored_message {
  lsn data_start;
  std::string bytes; // one pgoutput message
};

struct stored_transaction {
  commit_record commit; // xid, LSNs, time, start position
  std::vector<stored_message> messages;
  uint64_t end_position = 0; // after the commit record
};

struct recovery_report {
  uint64_t start_position = 0;
  uint64_t end_position = 0; // after the last complete transaction
  uint64_t cut_bytes = 0;    // torn or incomplete tail removed
  uint64_t transactions = 0; // complete: in summaries plus those scanned
  uint64_t scan_start = 0;   // where the scan began: the tail
  std::string cut_reason;    // empty when nothing was cut
};

// Where a wal_reader gets its bytes: the store itself (pread), or the
// write-through cache in front of it (actors/wal_cache), which counts hits
// and misses. read() copies [position, position + n) into dst, up to the
// durable position, and returns how many bytes it copied: fewer at the end.
// Thread-safe.
class byte_source {
 public:
  virtual ~byte_source() = default;
  virtual expected<size_t> read(uint64_t position, char* dst,
                                size_t n) const = 0;
};

class wal_store : public byte_source {
 public:
  struct options {
    std::string dir;                   // DATADIR/wal
    uint64_t segment_size = 64 << 20;  // wal_segment_size
    env* file_env = nullptr;           // default: posix_env()
    size_t max_buffer = 64 << 20;      // unsynced bytes before refusing
    uint64_t index_spacing = 64 << 10; // bytes between index entries
    // Called by sync() with each run of bytes it wrote, before they count
    // as durable: the write-through cache's feed. May be empty.
    std::function<void(uint64_t position, std::string_view bytes)> on_write;
  };

  static expected<std::unique_ptr<wal_store>> open(options opts);
  ~wal_store();

  // Buffers one transaction, or the last part of one begun with
  // append_part(); returns the position after its commit record. Commit
  // LSNs must not decrease. Error 53400 when the buffer is full.
  expected<uint64_t> append(const commit_record& meta,
                            std::span<const stored_message> messages);
  // Buffers messages of a transaction whose commit comes later (with
  // append()), so that a large transaction never has to be held whole:
  // its parts may be synced before it commits; readers and recovery
  // ignore them until the commit record. Error 53400 when the buffer is
  // full.
  status append_part(std::span<const stored_message> messages);
  // Voids the parts of the open transaction, if any (an abort record):
  // its source will not commit it (it will send it again whole).
  void abandon_part();
  status sync();

  uint64_t start_position() const { return start_.load(); }
  // After everything appended, durable or still buffered.
  uint64_t written_position() const { return durable_.load() + buffer_.size(); }
  uint64_t durable_position() const { return durable_.load(); }
  // The commit and end LSNs of the last stored transaction (durable or
  // buffered); zero for an empty store.
  lsn last_commit_lsn() const { return last_commit_; }
  lsn last_end_lsn() const { return last_end_; }

  // Blocks until the durable position passes `position` or `timeout`
  // elapses; returns the durable position. For readers at the end of the
  // data; any thread.
  uint64_t wait_durable_past(uint64_t position,
                             std::chrono::milliseconds timeout) const;
  const recovery_report& recovery() const { return report_; }
  uint64_t segment_size() const { return opts_.segment_size; }

  // Where to start reading to find the first transaction whose commit LSN
  // is at or after `target`: at or before it, never after.
  uint64_t scan_start_for(lsn target) const;

  // Reads [position, position + n) up to the durable position with pread;
  // the result is shorter at the end. Thread-safe.
  expected<size_t> read(uint64_t position, char* dst, size_t n) const override;
  status read_at(uint64_t position, size_t n, std::string& out) const;

  // Removes whole segments below the one holding `first_needed`, which must
  // be a transaction start; it becomes the new START. May run on one thread
  // other than the writer's, concurrently with appends and reads (a read of
  // a removed segment that had not opened it fails; callers keep readers
  // above START).
  status remove_before(uint64_t first_needed);

  std::string segment_path(uint64_t segment) const;

 private:
  explicit wal_store(options opts);
  // An error when appends are refused (after an fsync failure, or a full
  // buffer).
  status writable() const;
  status recover();
  // True if a valid commit record after `position` belongs to a sync that
  // began after it, i.e. `position` had been durable.
  expected<bool> find_durable_commit_after(uint64_t position,
                                           uint64_t data_end) const;
  status open_tail_for_append();
  // Loads the summaries of complete segments in order; returns where the
  // scan of the tail starts.
  expected<uint64_t> load_summaries(const std::vector<uint64_t>& segments,
                                    uint64_t data_end);
  // Adds an index entry if the spacing allows; true if it did.
  bool index_transaction(lsn commit, uint64_t start);
  // Counts a complete transaction [start, end) in the summary of the
  // segment where it ends; closes the summaries of the segments before.
  void summarise_transaction(lsn commit, lsn end_lsn, uint64_t start,
                             uint64_t end, bool indexed);
  // Writes the closed summaries of segments below `durable`; keeps any that
  // fail for the next call.
  void write_summaries(uint64_t durable);
  std::string index_path(uint64_t segment) const;

  options opts_;
  env* env_;
  std::atomic<uint64_t> start_{0};
  std::atomic<uint64_t> durable_{0}; // everything before it is synced
  std::string buffer_;
  std::unique_ptr<writable_file> tail_; // segment holding written_
  uint64_t tail_segment_ = 0;
  bool failed_ = false;
  lsn last_commit_;
  lsn last_end_;
  // The transaction begun with append_part() (writer thread only).
  bool open_ = false;
  uint64_t open_start_ = 0; // its first record
  uint32_t open_count_ = 0; // its messages so far
  recovery_report report_;
  mutable std::mutex durable_mu_; // with durable_cv_: wait_durable_past
  mutable std::condition_variable durable_cv_;

  mutable std::mutex index_mu_;
  std::vector<std::pair<lsn, uint64_t>> index_; // commit LSN -> txn start
  uint64_t last_indexed_ = 0;                   // writer thread only
  bool has_index_entry_ = false;                // writer thread only
  segment_index open_summary_;                  // writer thread only
  std::vector<segment_index> closed_summaries_; // writer thread only

  mutable std::mutex files_mu_;
  // Shared: a read in progress keeps its file open while remove_before()
  // drops the segment.
  mutable std::map<uint64_t, std::shared_ptr<readable_file>> readers_;
};

} // namespace walmux::storage
