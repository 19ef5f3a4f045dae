// upstream_state.hpp: what the source knows about the upstream, published
// for the walsenders (which run on other threads).
//
// confirmed: every upstream transaction that commits before this LSN is
// durable in the WAL store (the source stores before it publishes), so a
// walsender that has sent everything durable may advertise it as walEnd.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace walmux::actors {

class upstream_state {
 public:
  std::atomic<uint64_t> confirmed{0};
  std::atomic<uint64_t> wal_end{0}; // newest upstream walEnd received
  std::atomic<bool> streaming{false};

  void set_server_version(std::string text, int number) {
    std::lock_guard g(mu_);
    server_version_ = std::move(text);
    server_version_num_ = number;
  }
  // Empty until the source has connected once.
  std::string server_version() const {
    std::lock_guard g(mu_);
    return server_version_;
  }
  int server_version_num() const {
    std::lock_guard g(mu_);
    return server_version_num_;
  }

 private:
  mutable std::mutex mu_;
  std::string server_version_;
  int server_version_num_ = 0;
};

} // namespace walmux::actors
