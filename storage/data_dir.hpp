// data_dir.hpp: the walmux data directory: its layout, creation, validity
// check and the lock that keeps a second walmux out.
//
// Layout:
//   DIR/walmux.conf   parameters (postgresql.conf syntax)
//   DIR/catalog/      RocksDB catalog (catalog.hpp)
//   DIR/wal/          segment files of the WAL store (the storage issue)
//   DIR/walmux.pid    lock file: PID and directory of the running walmux
//   DIR/stream_spool/ changes of streamed transactions not yet committed
//                     (subscriptions with streaming = on; made when needed)
//
// The lock is an exclusive flock(2) on walmux.pid, held for the life of the
// process: the kernel releases it when the process dies however it dies, so
// a crash never leaves a stale lock (unlike a PID check). The file's content
// only serves the error message of the second walmux.
//
// Every function blocks on file I/O; call them at start-up or from a
// detached actor.
#pragma once

#include "common/expected.hpp"
#include "storage/catalog.hpp"

#include <cstdint>
#include <string>

namespace walmux::storage {

std::string conf_path(const std::string& dir);
std::string catalog_path(const std::string& dir);
std::string wal_path(const std::string& dir);
std::string stream_spool_path(const std::string& dir);
// A configured file name as PostgreSQL reads one: relative to the data
// directory unless absolute (empty stays empty).
std::string path_in_data_dir(const std::string& dir, const std::string& file);

// A random, non-zero 64-bit system identifier (getrandom(2)).
expected<uint64_t> new_system_identifier();

// Creates `dir` (mode 0700, parents as needed) if it does not exist; refuses
// a non-empty one. Writes walmux.conf with `conf_text`, creates wal/ and the
// catalog with `meta`. The node record, written last and synced, marks the
// directory as complete.
status data_dir_init(const std::string& dir, const std::string& conf_text,
                     const node_meta& meta);

// Checks that `dir` is an initialized walmux data directory with safe
// permissions (0700 or 0750).
status data_dir_check(const std::string& dir);

// The held lock; releasing it (destructor) removes walmux.pid.
class data_dir_lock {
 public:
  static expected<data_dir_lock> acquire(const std::string& dir);

  data_dir_lock(data_dir_lock&& other) noexcept;
  data_dir_lock& operator=(data_dir_lock&&) = delete;
  data_dir_lock(const data_dir_lock&) = delete;
  ~data_dir_lock();

 private:
  data_dir_lock(int fd, std::string path)
      : fd_(fd)
      , path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

} // namespace walmux::storage
