// sender_registry.hpp: what each session shows in the statistics views:
// a walsender in pg_stat_replication (its client, state and the positions
// it has sent and the client has reported), every session in
// pg_stat_activity (its client, state and current command). Sessions write
// their own entries; admin sessions read copies.
//
// Thread safety: every member may be called from any thread (one mutex,
// held only to copy an entry).
#pragma once

#include "protocol/lsn.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace walmux::actors {

class connection_link;

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

// pg_stat_activity.query is cut at this length, as PostgreSQL cuts it at
// track_activity_query_size (1kB by default).
inline constexpr size_t max_activity_query_bytes = 1024 - 1;

// What a session shows in pg_stat_activity. Times are unix microseconds,
// 0 for none.
struct session_activity {
  int pid = 0;
  std::string backend_type; // "walsender", "client backend"
  std::string user, database, application_name, client_addr;
  int client_port = 0;
  int64_t backend_start = 0;
  int64_t xact_start = 0;
  int64_t query_start = 0;
  int64_t state_change = 0;
  std::string state = "idle"; // active, idle, idle in transaction
  std::string query;          // the current or last command
  // The session's connection, for pg_terminate_backend.
  std::weak_ptr<connection_link> link;
};

// Entries keyed by session pid.
template <class Status>
class pid_registry {
 public:
  void put(Status s) {
    std::lock_guard g(mu_);
    entries_[s.pid] = std::move(s);
  }
  void remove(int pid) {
    std::lock_guard g(mu_);
    entries_.erase(pid);
  }
  // Applies `change` to the entry of `pid`, if it is registered.
  template <class Change>
  void update(int pid, Change&& change) {
    std::lock_guard g(mu_);
    if (auto it = entries_.find(pid); it != entries_.end())
      change(it->second);
  }
  std::vector<Status> list() const {
    std::lock_guard g(mu_);
    std::vector<Status> out;
    for (const auto& [pid, s] : entries_)
      out.push_back(s);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<int, Status> entries_;
};

using sender_registry = pid_registry<sender_status>;
using activity_registry = pid_registry<session_activity>;

// A session starts running `query` at `now`.
inline void note_command(activity_registry& r, int pid, std::string_view query,
                         int64_t now) {
  r.update(pid, [&](session_activity& a) {
    a.state = "active";
    a.query.assign(query.substr(0, max_activity_query_bytes));
    a.query_start = a.state_change = now;
    if (a.xact_start == 0)
      a.xact_start = now;
  });
}

// A session is ready for its next command; `transaction` is its
// ReadyForQuery status (I idle, T in a transaction block, E failed block).
inline void note_ready(activity_registry& r, int pid, char transaction,
                       int64_t now) {
  r.update(pid, [&](session_activity& a) {
    a.state = transaction == 'T'   ? "idle in transaction"
              : transaction == 'E' ? "idle in transaction (aborted)"
                                   : "idle";
    a.state_change = now;
    if (transaction == 'I')
      a.xact_start = 0;
  });
}

} // namespace walmux::actors
