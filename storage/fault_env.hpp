// fault_env.hpp: an env that injects the failures a disk can produce, for
// tests of crash safety (LevelDB's FaultInjectionTestEnv idea).
//
// Faults, each set by the test:
//  - space_left: after this many more appended bytes, append fails with
//    ENOSPC having written only what fitted (a short write);
//  - fail_sync: sync fails with EIO;
//  - drop_unsynced(): truncates every file written through this env to the
//    length it had at its last successful sync, as a power loss would.
// Thread safety: like env; the fault settings are not synchronized, set them
// while no I/O runs.
#pragma once

#include "storage/env.hpp"

#include <map>
#include <mutex>
#include <optional>

namespace walmux::storage {

class fault_env : public env {
 public:
  explicit fault_env(env* base)
      : base_(base) {}

  std::optional<uint64_t> space_left;
  bool fail_sync = false;

  // Cuts every file back to its last synced length.
  status drop_unsynced();

  expected<std::unique_ptr<writable_file>>
  open_writable(const std::string& path) override;
  expected<std::unique_ptr<readable_file>>
  open_readable(const std::string& path) override {
    return base_->open_readable(path);
  }
  expected<bool> exists(const std::string& path) override {
    return base_->exists(path);
  }
  expected<std::vector<std::string>> list(const std::string& dir) override {
    return base_->list(dir);
  }
  status remove(const std::string& path) override;
  status make_dir(const std::string& path) override {
    return base_->make_dir(path);
  }
  status sync_dir(const std::string& dir) override {
    return base_->sync_dir(dir);
  }
  status write_atomically(const std::string& path,
                          std::string_view data) override;

  // Called by its files.
  void note_synced(const std::string& path, uint64_t size);

 private:
  env* base_;
  std::mutex mu_;
  std::map<std::string, uint64_t> synced_; // path -> durable length
};

} // namespace walmux::storage
