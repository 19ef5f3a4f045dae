// subscription_manager.hpp: the subscriptions of the apply role: their
// definitions (persisted in the catalog's subscriptions family), the SQL
// statements that change them, their live activity and error counts, and
// the apply workers that run them (at most max_logical_replication_workers
// at a time).
//
// Thread safety: every method may be called from any thread; a mutex
// guards the definitions and the activity. Methods that persist or stop a
// worker block (RocksDB, waiting for the worker, libpq for DROP's slot):
// call them from a detached actor's thread (admin sessions, workers).
#pragma once

#include "common/expected.hpp"
#include "protocol/subscription_ddl.hpp"
#include "storage/catalog.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

namespace walmux::actors::apply {

// pg_stat_subscription_stats' counters of one subscription.
struct subscription_counts {
  int64_t apply_error_count = 0;
  int64_t sync_error_count = 0;
  int64_t confl_insert_exists = 0;
  int64_t confl_update_missing = 0;
  int64_t confl_delete_missing = 0;

  // Each counter minus its value in `base`.
  subscription_counts since(const subscription_counts& base) const;
  // Each counter plus its value in `more`.
  subscription_counts plus(const subscription_counts& more) const;
};

// pg_stat_subscription and pg_stat_subscription_stats for one subscription.
struct subscription_activity {
  int pid = 0; // of the running worker; 0 when none
  lsn received_lsn;
  lsn latest_end_lsn;
  lsn applied_lsn; // end of the last transaction the target committed
  int64_t last_msg_send_time = 0; // PostgreSQL epoch micros
  int64_t last_msg_receipt_time = 0;
  int64_t latest_end_time = 0;
  // Since the node started: the metrics' counters, which never go back.
  subscription_counts counts;
  // `counts` at the last pg_stat_reset_subscription_stats.
  subscription_counts counts_at_reset;
  // The view's counters at the last clean shutdown (zero after a reset).
  subscription_counts carried;
  int64_t stats_reset = 0; // unix micros of that reset; 0: never

  // What pg_stat_subscription_stats shows.
  subscription_counts view_counts() const {
    return carried.plus(counts.since(counts_at_reset));
  }
};

struct subscription_view {
  storage::subscription_record record;
  subddl::subscription_options options;
  subscription_activity activity;
};

// pg_subscription.subtwophasestate: 'd' without two_phase; 'p' (pending)
// until the initial copy is done and every table is ready, the worker
// streaming without two_phase meanwhile; then 'e', for good: the slot
// decodes prepared transactions from then on, so no table may be copied
// any more (REFRESH with copy_data is refused).
char subscription_two_phase_state(const storage::subscription_record& r,
                                  const subddl::subscription_options& o);

// Shared between a worker and the manager.
struct worker_control {
  std::atomic<bool> stop{false};
  std::atomic<bool> done{false};
};

class subscription_manager {
 public:
  struct limits {
    int max_workers = 4;      // max_logical_replication_workers
    int max_sync_workers = 2; // max_sync_workers_per_subscription
  };
  // REQUIRES: `catalog` and `next_pid` outlive the manager. Workers spool
  // streamed transactions in `spool_dir`.
  subscription_manager(storage::catalog& catalog, limits l,
                       std::atomic<int>& next_pid, std::string spool_dir);
  ~subscription_manager();

  status load();
  // Starts the workers of enabled subscriptions; `system` must outlive
  // shutdown().
  void start(caf::actor_system& system);
  // Stops every worker and waits for them (bounded), then saves the
  // pg_stat_subscription_stats counters, which load() restores once: as
  // in PostgreSQL, they survive a clean shutdown and not a crash.
  void shutdown();

  // CREATE / ALTER / DROP SUBSCRIPTION; returns the command tag.
  expected<std::string> execute(const subddl::statement& s,
                                bool in_transaction_block);

  std::vector<subscription_view> list() const;
  std::optional<subscription_view> get(const std::string& name) const;
  int max_sync_workers() const { return limits_.max_sync_workers; }
  const std::string& spool_dir() const { return spool_dir_; }

  // For workers: changes the record and persists it (synced).
  status update(const std::string& name,
                const std::function<void(storage::subscription_record&)>& f);
  void activity(const std::string& name,
                const std::function<void(subscription_activity&)>& f);
  // pg_stat_reset_subscription_stats: the view's counters of the
  // subscription with OID `subid`, or of all when nullopt, start again
  // from zero at `now_unix_micros` (an unknown OID changes nothing, as in
  // PostgreSQL). The metrics' counters go on.
  void reset_stats(std::optional<uint32_t> subid, int64_t now_unix_micros);
  // Mirrors the target's origin progress in walmux's catalog (not synced:
  // the target's own progress is the authority).
  void mirror_origin(const std::string& name, lsn remote, lsn local);
  // disable_on_error: the worker disables its subscription and exits.
  void disable_after_error(const std::string& name);
  // pg_terminate_backend of an apply worker: it is stopped and started
  // again, as PostgreSQL's launcher restarts a terminated worker. False
  // when no running worker has `pid`.
  bool restart_worker(int pid);
  int next_pid() { return ++next_pid_; }

  // Decodes a record's options (subscription_ddl.hpp's rules).
  static subddl::subscription_options
  options_of(const storage::subscription_record& r);

 private:
  struct entry {
    storage::subscription_record record;
    subscription_activity activity;
    caf::actor worker;
    std::shared_ptr<worker_control> control;
  };
  status persist(const storage::subscription_record& r);
  // Starts workers for enabled subscriptions while slots remain.
  void reconcile_locked();
  // Stops a subscription's worker and waits for it; unlocks meanwhile.
  void stop_worker(std::unique_lock<std::mutex>& held, const std::string& name);
  expected<std::string> create(const subddl::create_subscription& c,
                               bool in_block);
  expected<std::string> alter(const subddl::alter_subscription& a,
                              bool in_block);
  // RENAME TO: stops the worker, renames the record (one batch) and
  // starts it again; the target key and the slot name stay.
  expected<std::string> rename(std::unique_lock<std::mutex>& held,
                               std::map<std::string, entry>::iterator it,
                               const std::string& new_name);
  // The tables `r`'s publications publish now, keeping the states of known
  // ones; true if any is new. Connects to the publisher: call unlocked.
  static expected<std::pair<std::vector<storage::subscription_table>, bool>>
  refreshed_tables(const storage::subscription_record& r, bool copy_data);
  expected<std::string> drop(const subddl::drop_subscription& d, bool in_block);

  storage::catalog& catalog_;
  limits limits_;
  std::string spool_dir_;
  bool stats_saved_ = false; // by shutdown()
  std::atomic<int>& next_pid_;
  caf::actor_system* system_ = nullptr;
  mutable std::mutex lock_;
  std::map<std::string, entry> subs_;
  std::map<std::string, storage::origin_record> origins_;
  bool warned_no_slots_ = false;
};

} // namespace walmux::actors::apply
