// env.hpp: every file operation of the storage layer goes through an env,
// LevelDB's idea: production uses the POSIX env, tests wrap it in a
// fault-injecting one (fault_env.hpp) to prove crash safety.
//
// Contracts:
//  - writable_file::append writes all bytes or returns an error; after an
//    error the file's length is unknown until truncate() sets it.
//  - writable_file::sync makes everything appended so far durable
//    (fdatasync). An error from sync leaves durability unknown.
//  - Errors are walmux::error values naming the file (SQLSTATE 58030, or
//    53100 for a full disk, as PostgreSQL reports ENOSPC).
// Thread safety: an env may be used from several threads; a file object
// from one thread at a time.
#pragma once

#include "common/expected.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace walmux::storage {

inline constexpr const char* disk_full_sqlstate = "53100";

class writable_file {
 public:
  virtual ~writable_file() = default;
  virtual status append(std::string_view data) = 0;
  virtual status sync() = 0;
  virtual status truncate(uint64_t size) = 0;
  virtual uint64_t size() const = 0;
};

class readable_file {
 public:
  virtual ~readable_file() = default;
  // Reads up to n bytes at offset into dst; returns how many were read (a
  // short read means end of file).
  virtual expected<size_t> read_at(uint64_t offset, char* dst,
                                   size_t n) const = 0;
  virtual expected<uint64_t> size() const = 0;
};

class env {
 public:
  virtual ~env() = default;
  // Opens for appending, creating the file if it does not exist.
  virtual expected<std::unique_ptr<writable_file>>
  open_writable(const std::string& path) = 0;
  virtual expected<std::unique_ptr<readable_file>>
  open_readable(const std::string& path) = 0;
  virtual expected<bool> exists(const std::string& path) = 0;
  virtual expected<std::vector<std::string>> list(const std::string& dir) = 0;
  virtual status remove(const std::string& path) = 0;
  virtual status make_dir(const std::string& path) = 0;
  virtual status sync_dir(const std::string& dir) = 0;
  // Writes `data` to `path` atomically (temporary file, fsync, rename,
  // directory fsync).
  virtual status write_atomically(const std::string& path,
                                  std::string_view data) = 0;
};

// The process-wide POSIX env.
env* posix_env();

} // namespace walmux::storage
