// admin_session.hpp: a non-replication connection to walmux (psql, a
// monitoring agent): the simple query protocol over the node's live state.
//
// After the walsender role's startup (the same port, trust from 127.0.0.1),
// a connection without replication=database is served here:
// - SHOW name / SHOW ALL from the parameter table (reloads included);
// - BEGIN, COMMIT, ROLLBACK and SET of client-side settings are accepted
//   (nothing to isolate or set: every statement reads the state of its
//   moment); SET of anything else is 55P02;
// - everything else goes to the SQL engine (sql_engine.hpp) over the
//   admin catalog (admin_catalog.hpp): PostgreSQL's errors and SQLSTATEs,
//   and the session stays usable after an error.
// The extended query protocol is refused with 0A000 (each message up to
// Sync), as psql's default simple protocol needs none of it.
//
// Temporary slots created with pg_create_logical_replication_slot(...,
// true) belong to the session and are dropped when it ends.
#pragma once

#include "actors/admin/sql_engine.hpp"
#include "actors/walsender/listener.hpp"
#include "actors/walsender/walsender.hpp"
#include "protocol/frame.hpp"

#include <memory>
#include <string>

namespace walmux::actors::admin {

class admin_session {
 public:
  admin_session(walsender_env& env, std::shared_ptr<connection_link> link,
                int pid, std::string database);
  ~admin_session();

  // One frontend message; false when the session is over.
  bool on_frame(const wire::frame& f);

 private:
  void on_query(const std::string& sql);
  // Runs the statement at the start of `sql`; returns its length, or
  // nothing after an error (already sent).
  std::optional<size_t> run_statement(std::string_view sql);
  bool show(std::string_view name); // false after an error (sent)
  void send_result(const sql_result& r);
  void send_error(const error& e);

  walsender_env& env_;
  std::shared_ptr<connection_link> link_;
  const int pid_;
  const std::string database_;
  std::unique_ptr<sql_engine> engine_;
  char transaction_ = 'I';
  bool extended_failed_ = false; // skipping extended messages until Sync
};

} // namespace walmux::actors::admin
