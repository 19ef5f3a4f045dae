// pg_cluster.hpp: a throw-away PostgreSQL 15 cluster for integration tests.
//
// pg_cluster::start() runs tests/support/pg_cluster.sh in --guard-stdin mode:
// the script creates and starts the cluster, prints its port and directory,
// and then stays alive as a guardian that stops the cluster and removes its
// directory once its standard input reaches end-of-file. This object holds
// the only write end of that pipe (close-on-exec, so no child inherits it):
// destroying the object closes it and waits for the guardian, and if the test
// process dies instead, fails an assertion or is killed with SIGKILL, the
// kernel closes it and the guardian cleans up all the same.
//
// Several clusters may run at once (publisher and subscribers); each has its
// own port, socket directory and data directory.
#pragma once

#include "common/expected.hpp"

#include <memory>
#include <string>
#include <vector>

namespace walmux::testing {

using rows = std::vector<std::vector<std::string>>;

class pg_cluster {
 public:
  // `conf_lines` are appended to postgresql.conf ("name = value").
  static expected<std::unique_ptr<pg_cluster>>
  start(const std::vector<std::string>& conf_lines = {});

  ~pg_cluster();
  pg_cluster(const pg_cluster&) = delete;
  pg_cluster& operator=(const pg_cluster&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  // The postmaster's PID, read from postmaster.pid.
  int postmaster_pid() const;
  // Stops the cluster as a crash would (immediate: no checkpoint, recovery
  // at the next start) and starts it again on the same port; true when it
  // runs again.
  bool crash_restart() const;

  // libpq conninfo for `dbname` on 127.0.0.1 as user postgres.
  std::string conninfo(const std::string& dbname = "postgres") const;

  // Runs `sql` (simple query protocol; several statements allowed) and
  // returns the last result's rows as text, NULL as "". With `replication`
  // the connection is a logical replication connection (replication=database).
  expected<rows> query(const std::string& sql, bool replication = false,
                       const std::string& dbname = "postgres") const;

 private:
  pg_cluster() = default;
  int port_ = 0;
  std::string dir_;
  int guard_pid_ = -1;
  int guard_stdin_ = -1; // write end; closing it starts the cleanup
};

// Connects with `conninfo`, runs `sql` (simple query protocol) and returns
// the last result's rows as text (NULL as ""); errors keep the SQLSTATE and
// libpq's message ("ERROR:  ...").
expected<rows> run_query(const std::string& conninfo, const std::string& sql);

// A table's row count and an md5 over every row's text in `key` order:
// equal digests mean equal contents ("error: ..." when the query fails).
std::string table_digest(const pg_cluster& c, const std::string& table,
                         const std::string& key);
// The first column of the first row of `sql`'s result, or "error".
std::string one_value(const pg_cluster& c, const std::string& sql);

// The path of pg_cluster.sh (compiled in from the source tree).
std::string pg_cluster_script();

} // namespace walmux::testing
