// target_session.hpp: the apply role's connection to the target database:
// changes become prepared statements sent in libpq pipeline mode, grouped
// into target transactions, each committing the origin progress of the
// last upstream transaction it holds together with its rows.
//
// Progress is kept where the target allows it: its replication origin
// (pg_replication_origin_xact_setup, superuser or granted) or else the
// table public.walmux_apply_progress (created if missing). Either way the
// progress commits with the rows, so after any crash the target's committed
// progress says exactly which upstream transactions it holds.
//
// The session runs with session_replication_role = replica where the role
// may set it (triggers and foreign keys behave as on a PostgreSQL
// subscriber); without that right it logs a warning and goes on.
//
// Flush tracking: after each COMMIT the session reads the target's WAL
// insert and flush positions; confirmed() is the progress of the last
// group whose commit the target has flushed, which is what the source may
// be told (with synchronous_commit = off a target crash can lose commits
// that were not flushed).
//
// Inserts: consecutive inserts into one relation (inside a transaction or
// across the transactions of a group) are sent as one COPY ... FROM STDIN
// in text format, since COPY cannot run in pipeline mode, the pipeline is
// read to a Sync first; any other statement ends the run, so the order of
// changes on every row is kept. UPDATE and
// DELETE by the replica identity's key columns (=), or for REPLICA IDENTITY
// FULL by one row matching every old value (IS NOT DISTINCT FROM) through
// its ctid, as PostgreSQL's apply changes one row; unchanged TOAST values
// ('u') are left out of the SET list. Consecutive updates or deletes of one
// relation by distinct keys go as one statement (target_keyed.cpp). One
// prepared statement per relation generation, kind and set of unchanged
// columns.
//
// Blocking libpq: use from a detached actor's thread only.
#pragma once

#include "actors/apply/flush_tracker.hpp"
#include "actors/common/pq_session.hpp"
#include "common/expected.hpp"
#include "protocol/lsn.hpp"
#include "protocol/pgoutput.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace walmux::actors::apply {

// What a change was, for error context and conflict counts.
struct change_context {
  char kind = 0; // 'I' 'U' 'D' 'T', 0 for control statements
  std::string relation;
  uint32_t xid = 0;
  lsn final_lsn; // the upstream transaction's commit LSN (SKIP takes it)
  // A COPY of inserts from several transactions failed: which one is not
  // known; they are from first_final_lsn to final_lsn.
  lsn first_final_lsn;
};

// Conflicts that are logged and counted, not fatal (PostgreSQL 18 names).
struct conflict_counts {
  int64_t update_missing = 0;
  int64_t delete_missing = 0;
};

// The name of a subscription's replication origin on the target (and of
// its mirror in walmux's pg_replication_origin_status), from its
// subscription_record::target_key.
std::string target_origin_name(const std::string& target_key);

class target_session {
 public:
  struct options {
    std::string conninfo;
    std::string subscription; // its name, for the logs
    std::string target_key;   // subscription_record::target_key
    std::string synchronous_commit = "off";
  };
  static expected<std::unique_ptr<target_session>> connect(const options& o);
  ~target_session();

  // The committed progress: end LSN of the last applied upstream
  // transaction (0/0 if none).
  lsn progress() const { return progress_; }
  // The progress whose commit the target has flushed.
  lsn confirmed() const { return flushes_.confirmed(); }
  bool uses_origin() const { return use_origin_; }
  // The target's WAL insert position after the last commit.
  lsn local_lsn() const { return local_lsn_; }

  // Sets the committed progress outside any batch (after the initial copy).
  status set_progress(lsn end, int64_t commit_time);

  // A Relation message: the mapping is checked against the target (the
  // table and every column must exist) when it is first used.
  void relation(const pgoutput::relation& r);

  // Adds a change to the open group (opening one if needed).
  status insert(const pgoutput::insert& m, const change_context& ctx);
  status update(const pgoutput::update& m, const change_context& ctx);
  status remove(const pgoutput::delete_& m, const change_context& ctx);
  status truncate(const pgoutput::truncate& m, const change_context& ctx);
  // Marks the end of an upstream transaction inside the group.
  void transaction_done(lsn end, int64_t commit_time);

  bool group_open() const { return group_open_; }
  size_t group_transactions() const { return group_txns_; }
  size_t group_bytes() const { return group_bytes_; }
  // Commits the group with the progress of its last transaction and waits
  // for every result. An error names the failing change (context).
  status commit_group();
  // two_phase = true. The open group holds exactly one upstream
  // transaction, prepared upstream: it becomes the prepared transaction
  // `gid` on the target with its progress (end, prepare_time). Without a
  // group (nothing of it applied) an empty one is prepared, as PostgreSQL
  // does, so that its COMMIT PREPARED always finds it.
  status prepare_group(const std::string& gid, lsn end, int64_t prepare_time);
  // Whether `gid` is a prepared transaction on the target.
  expected<bool> is_prepared(const std::string& gid);
  // COMMIT PREPARED (commit) or ROLLBACK PREPARED of `gid`, with the
  // progress `end`; no group may be open. Returns false when `gid` was
  // not prepared on the target (nothing is done then).
  expected<bool> finish_prepared(const std::string& gid, bool commit, lsn end,
                                 int64_t time);
  // Rolls an open group back (after an error the session is dropped).
  void abandon();
  // Reads the flush position again when commits wait for it.
  status refresh_confirmed();

  // The error context of the last failure.
  const change_context& failed_change() const { return failed_; }
  // The conflicts counted since the last call (the caller adds them up:
  // a session does not outlive a worker restart, the counters must).
  conflict_counts take_conflicts() { return std::exchange(conflicts_, {}); }

 private:
  struct mapped_relation {
    pgoutput::relation rel;
    uint64_t generation = 0;
    bool checked = false;
    // Every replicated column's type on the target has a binary input
    // function (COPY ... FORMAT binary needs them all, NULL or not).
    bool binary_copy = false;
    // The target's type OID of each replicated column (in the publisher's
    // column order).
    std::vector<uint32_t> target_types;
    std::string qualified; // "schema"."table"
  };
  struct pending {
    change_context ctx;
    enum class what { control, change, flush_query } w = what::control;
    size_t rows = 1; // the rows a change names (a keyed run: several)
  };
  // Results a group may leave unread before the session reads some: bounds
  // the client's bookkeeping and the bytes queued in the server's socket.
  static constexpr size_t max_outstanding = 2000;
  static constexpr size_t drain_to = 200;
  static constexpr size_t max_prepared_statements = 1000;

  explicit target_session(std::unique_ptr<pq_session> s, options o);
  status setup();
  expected<mapped_relation*> relation_for(uint32_t oid);
  // Opens the group if needed and maps the relation of a change, checking
  // its tuple's width (when given).
  expected<mapped_relation*>
  change_target(uint32_t oid, const pgoutput::tuple* values, const char* what);
  status check_relation(mapped_relation& r);
  status open_group();
  // Ends the open group with `finish` (COMMIT or PREPARE TRANSACTION),
  // the progress of its last transaction inside it when progress_inside.
  status end_group(const std::string& finish, bool progress_inside);
  // After a commit outside a group: the target's WAL position bounds the
  // commit of progress `end` (flush tracking).
  status record_commit(lsn end);
  // Sends a statement (prepared on first use) with the values as its
  // parameters: NULL for 'n', in binary for 'b', else text.
  status send_prepared(const std::string& name,
                       const std::function<std::string()>& sql_text,
                       const std::vector<const pgoutput::column_value*>& values,
                       const change_context& ctx);
  status send_query(const std::string& sql, const change_context& ctx,
                    pending::what w = pending::what::control);
  // Reads results until at most `keep` are outstanding (after a Sync, 0).
  status drain(size_t keep);
  status read_one();
  expected<pq_result> query_now(const std::string& sql);
  // Sends the pending run of inserts as one COPY (a no-op without one).
  status flush_copy();
  // Keyed runs (target_keyed.cpp). Whether a change of `r` may join one:
  // not REPLICA IDENTITY FULL, every key column a value in `key_source`
  // (then `key` is set to those values).
  bool keyed(const mapped_relation& r, const pgoutput::tuple& key_source,
             std::string& key) const;
  // Adds a row: `kind` 'U' (values: the new tuple, `shape` 's' for each
  // column set, 'u' for one left unchanged) or 'D' (values: the old key,
  // `shape` 's' for each key column, '-' else).
  status add_keyed(char kind, const mapped_relation& r,
                   const std::string& shape, std::string key,
                   const pgoutput::tuple& values, const change_context& ctx);
  // Sends the pending keyed run as one statement (a no-op without one).
  status flush_keyed();
  // Sends whichever run is pending; any other statement goes after it.
  status flush_runs() {
    if (auto st = flush_copy(); !st)
      return st;
    return flush_keyed();
  }

  // Consecutive inserts into one relation, as COPY rows in text format,
  // or in binary format when the publisher sends binary values.
  struct copy_run {
    uint64_t generation = 0;
    bool binary = false;
    size_t rows = 0;
    std::string statement;
    std::string data;
    change_context first;
    change_context last;
  };

  // Consecutive updates or deletes of one relation by distinct keys.
  struct key_run {
    char kind = 0; // 'U' or 'D'
    uint64_t generation = 0;
    std::string shape;
    size_t rows = 0;
    std::vector<uint32_t> types; // of one row's parameters
    std::vector<pgoutput::column_value> params;
    std::set<std::string> keys;
    std::string head; // the statement before the VALUES rows
    std::string tail; // and after them
    change_context first;
    change_context last;
  };

  std::unique_ptr<pq_session> session_;
  copy_run copy_;
  key_run keyed_;
  options opts_;
  bool use_origin_ = false;
  std::string origin_name_;
  std::map<uint32_t, mapped_relation> relations_;
  uint64_t next_generation_ = 0;
  std::map<std::string, bool> prepared_;
  std::deque<pending> pending_;
  bool group_open_ = false;
  size_t group_txns_ = 0;
  size_t group_bytes_ = 0;
  lsn group_end_;
  int64_t group_time_ = 0;
  lsn progress_;
  lsn local_lsn_;
  lsn flushed_lsn_;
  flush_tracker flushes_;
  change_context failed_;
  std::optional<error> first_error_;
  conflict_counts conflicts_;
  bool syncs_outstanding_ = false;
};

} // namespace walmux::actors::apply
