// upstream_state.hpp: what the source knows about the upstream, published
// for the walsenders (which run on other threads).
//
// confirmed: every upstream transaction that commits before this LSN is
// durable in the WAL store (the source stores before it publishes), so a
// walsender that has sent everything durable may advertise it as walEnd.
//
// The rest describes the stream for pg_stat_wal_receiver: where it started,
// the newest message received, the upstream's times.
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
  std::atomic<uint64_t> start_lsn{0};     // of the current stream
  std::atomic<uint64_t> received{0};      // newest XLogData's dataStart
  std::atomic<int64_t> last_send_time{0}; // upstream's clock, PostgreSQL epoch
  std::atomic<int64_t> last_receipt_time{0}; // unix microseconds
  std::atomic<int64_t> wal_end_time{0}; // when wal_end last moved (send time)

  // The upstream slot and the connection's host and port, once connected.
  void set_connection(std::string slot, std::string host, int port) {
    std::lock_guard g(mu_);
    slot_ = std::move(slot);
    host_ = std::move(host);
    port_ = port;
  }
  std::string slot() const {
    std::lock_guard g(mu_);
    return slot_;
  }
  std::string host() const {
    std::lock_guard g(mu_);
    return host_;
  }
  int port() const {
    std::lock_guard g(mu_);
    return port_;
  }

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
  std::string slot_, host_;
  int port_ = 0;
};

} // namespace walmux::actors
