// read_ahead.hpp: a sequential reader's chunks read ahead on a thread of
// its own, several in flight, so that the disk keeps reading while the
// reader checks and walks what it has.
//
// Why not the kernel alone: its read-ahead moves only when the reader
// reads, and its window is 128kB on many disks (read_ahead_kb), smaller
// than one of our reads; a reader that parses between reads leaves the
// disk idle for the parse, and the reads and the parse add up instead of
// overlapping. POSIX_FADV_WILLNEED and readahead(2), from the reader or
// from a second thread, measured slower than no hint at all here, and
// one chunk ahead (double buffering) was not enough: every hand-over left
// a gap in which the disk had nothing to do. A few chunks in flight keep
// it busy; the chunks are read into buffers that then become the reader's
// window, so nothing is copied twice.
#pragma once

#include "storage/wal_store.hpp"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace walmux::storage {

class read_ahead {
 public:
  // Chunks of `chunk_bytes` are read at `reserve` bytes into buffers of
  // reserve + chunk_bytes (the reserve is room for the reader to put
  // bytes in front of a chunk); at most `depth` chunks are read ahead.
  // REQUIRES: `source` outlives this.
  read_ahead(const byte_source& source, size_t chunk_bytes, size_t reserve,
             size_t depth);
  // Waits for the read in flight, if any, and stops the thread.
  ~read_ahead();
  read_ahead(const read_ahead&) = delete;
  read_ahead& operator=(const read_ahead&) = delete;

  struct chunk {
    std::unique_ptr<char[]> buffer; // the bytes are at buffer + reserve
    size_t capacity = 0;            // of buffer: reserve + chunk_bytes or more
    uint64_t position = 0;
    size_t size = 0; // shorter than chunk_bytes: the data ended there
  };

  // Reads ahead from `position` on (the thread starts on first use); what
  // was read ahead from anywhere else is dropped.
  void start_at(uint64_t position);
  // True if the next chunk take() returns begins at `position`.
  bool next_is(uint64_t position) const {
    return reading_ && next_ == position;
  }
  // The next chunk in order, waiting for it. REQUIRES: next_is() held for
  // some position. After a short chunk or an error, nothing more is read
  // ahead until start_at().
  expected<chunk> take();
  // A buffer for the chunks to come (the one a taken chunk replaced). It is
  // kept if it holds reserve + chunk_bytes and fewer than `depth` buffers
  // circulate; else it is dropped (the thread makes one when it needs it).
  void give_back(std::unique_ptr<char[]> buffer, size_t capacity);

  size_t chunk_bytes() const { return chunk_bytes_; }
  size_t reserve() const { return reserve_; }
  size_t buffer_capacity() const { return reserve_ + chunk_bytes_; }

 private:
  struct buffer {
    std::unique_ptr<char[]> bytes;
    size_t capacity = 0;
  };
  struct result {
    chunk c;
    error err; // when failed
    bool failed = false;
  };
  void run();

  const byte_source& source_;
  const size_t chunk_bytes_;
  const size_t reserve_;
  const size_t depth_;

  // The caller's thread only.
  bool reading_ = false;
  uint64_t next_ = 0; // the position of the chunk take() returns next

  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_.
  uint64_t generation_ = 0;   // bumped by start_at(): older reads are dropped
  bool thread_reads_ = false; // false after a short chunk or an error
  uint64_t read_position_ = 0;
  std::vector<buffer> free_;
  // Buffers in free_, in ready_ and being read into: at most depth_.
  size_t circulating_ = 0;
  std::deque<result> ready_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace walmux::storage
