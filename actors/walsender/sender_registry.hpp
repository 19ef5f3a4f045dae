// sender_registry.hpp: what each walsender shows in pg_stat_replication:
// its client, state and the positions it has sent and the client has
// reported. Walsenders write their own entry; admin sessions read copies.
//
// Thread safety: every member may be called from any thread (one mutex,
// held only to copy an entry).
#pragma once

#include "protocol/lsn.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace walmux::actors {

struct sender_status {
  int pid = 0;
  std::string user;
  std::string application_name;
  std::string client_addr;
  int client_port = 0;
  int64_t backend_start = 0;     // unix microseconds
  std::string state = "startup"; // startup, catchup, streaming
  std::string slot;
  lsn sent, write, flush, replay;
  int64_t reply_time = 0; // unix microseconds; 0: no reply yet
  // The last reply whose flush position had reached `sent` (lag seconds).
  int64_t caught_up_at = 0;
  uint64_t bytes_sent = 0;
  uint64_t messages_sent = 0;
  // write_lag, flush_lag, replay_lag in microseconds; -1: not measured.
  int64_t lag_us[3] = {-1, -1, -1};
};

class sender_registry {
 public:
  void put(sender_status s) {
    std::lock_guard g(mu_);
    senders_[s.pid] = std::move(s);
  }
  void remove(int pid) {
    std::lock_guard g(mu_);
    senders_.erase(pid);
  }
  // Applies `change` to the entry of `pid`, if it is registered.
  template <class Change>
  void update(int pid, Change&& change) {
    std::lock_guard g(mu_);
    if (auto it = senders_.find(pid); it != senders_.end())
      change(it->second);
  }
  std::vector<sender_status> list() const {
    std::lock_guard g(mu_);
    std::vector<sender_status> out;
    for (const auto& [pid, s] : senders_)
      out.push_back(s);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<int, sender_status> senders_;
};

} // namespace walmux::actors
