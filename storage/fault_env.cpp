// fault_env.cpp: see fault_env.hpp.
#include "storage/fault_env.hpp"

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace walmux::storage {
namespace {

class fault_file : public writable_file {
 public:
  fault_file(fault_env* owner, std::string path,
             std::unique_ptr<writable_file> base)
      : owner_(owner)
      , path_(std::move(path))
      , base_(std::move(base)) {}

  status append(std::string_view data) override {
    if (owner_->space_left) {
      uint64_t room = *owner_->space_left;
      if (data.size() > room) {
        // Write what fits, then fail as a full disk does.
        if (auto st = base_->append(data.substr(0, room)); !st)
          return st;
        *owner_->space_left = 0;
        return error{disk_full_sqlstate, "could not write to file \"" + path_ +
                                             "\": " + std::strerror(ENOSPC)};
      }
      *owner_->space_left -= data.size();
    }
    return base_->append(data);
  }
  status sync() override {
    if (owner_->fail_sync)
      return error{sqlstate::io_error, "could not fsync file \"" + path_ +
                                           "\": " + std::strerror(EIO)};
    if (auto st = base_->sync(); !st)
      return st;
    owner_->note_synced(path_, base_->size());
    return ok();
  }
  status truncate(uint64_t size) override { return base_->truncate(size); }
  uint64_t size() const override { return base_->size(); }

 private:
  fault_env* owner_;
  std::string path_;
  std::unique_ptr<writable_file> base_;
};

} // namespace

expected<std::unique_ptr<writable_file>>
fault_env::open_writable(const std::string& path) {
  auto f = base_->open_writable(path);
  if (!f)
    return f;
  {
    std::lock_guard g(mu_);
    // A file that existed before counts as synced up to its present length.
    synced_.emplace(path, (*f)->size());
  }
  return std::unique_ptr<writable_file>(
      new fault_file(this, path, std::move(*f)));
}

void fault_env::note_synced(const std::string& path, uint64_t size) {
  std::lock_guard g(mu_);
  synced_[path] = size;
}

status fault_env::remove(const std::string& path) {
  {
    std::lock_guard g(mu_);
    synced_.erase(path);
  }
  return base_->remove(path);
}

status fault_env::write_atomically(const std::string& path,
                                   std::string_view data) {
  if (auto st = base_->write_atomically(path, data); !st)
    return st;
  note_synced(path, data.size());
  return ok();
}

status fault_env::drop_unsynced() {
  std::lock_guard g(mu_);
  for (const auto& [path, size] : synced_) {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0 &&
        errno != ENOENT)
      return error{sqlstate::io_error, "could not truncate \"" + path + "\""};
  }
  return ok();
}

} // namespace walmux::storage
