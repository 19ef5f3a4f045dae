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
// The extended query protocol (drivers, PQexecParams): Parse, Bind (text
// parameters bound to $1..$n, text results), Describe of statements and
// portals (a portal runs at Describe; Execute sends its rows), Execute,
// Close, Sync; after an error the messages up to Sync are skipped, as
// PostgreSQL does. Execute's row limit is not honoured (every row is sent).
//
// Temporary slots created with pg_create_logical_replication_slot(...,
// true) belong to the session and are dropped when it ends.
#pragma once

#include "actors/admin/sql_engine.hpp"
#include "actors/walsender/listener.hpp"
#include "actors/walsender/walsender.hpp"
#include "protocol/frame.hpp"
#include "protocol/messages.hpp"

#include <map>
#include <memory>
#include <optional>
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
  // A statement as the engine runs it (sqltext::for_engine of the
  // client's text); `as_sent` when that left the text as the client sent
  // it, so that error positions counted in it hold for the client too.
  struct statement_text {
    std::string sql;
    bool as_sent = true;
  };
  // PostgreSQL parses a whole query string before it runs any of it: the
  // number of statements in `text`, or its first syntax error (then
  // nothing runs).
  expected<size_t> check_syntax(const statement_text& text);
  // Runs the statement at the start of `sql`, which begins `prefix` bytes
  // into the query `text`, and sends its result; returns its length, or
  // nothing after an error (already sent).
  std::optional<size_t> run_statement(std::string_view sql,
                                      const statement_text& text,
                                      size_t prefix);
  // Runs the statement at the start of `sql` (SHOW, transaction control,
  // SET, or the engine's SQL) with `params`; `consumed`: its length.
  expected<sql_result>
  compute(std::string_view sql, size_t& consumed,
          const std::vector<std::optional<std::string>>& params);
  expected<sql_result> show(std::string_view name);
  status on_extended(const wire::frontend_message& m);
  status describe_statement(const std::string& sql);
  sql_engine* engine(); // opened on first use; null if it cannot be
  void send_result(const sql_result& r, bool with_description = true);
  static wire::row_description
  row_description(const std::vector<sql_column>& columns);
  void send_error(const error& e);
  // An error of a statement that begins `prefix` bytes into `text`, with
  // its position made one in the client's text (or dropped, when the
  // engine's rewriting changed the text and the count would mislead).
  static error positioned(error e, const statement_text& text, size_t prefix);

  // Named statements and portals a session may hold at once.
  static constexpr size_t max_prepared = 1000;

  struct portal {
    statement_text text;
    std::vector<std::optional<std::string>> params;
    std::optional<sql_result> result; // computed at Describe
  };

  walsender_env& env_;
  std::shared_ptr<connection_link> link_;
  const int pid_;
  const std::string database_;
  // Client settings SET in this session (lower-case name -> value), shown
  // by SHOW; they change nothing else.
  std::map<std::string, std::string> client_settings_;
  std::unique_ptr<sql_engine> engine_;
  char transaction_ = 'I';
  // While a simple query of several statements runs: PostgreSQL runs
  // them as one implicit transaction block.
  bool implicit_block_ = false;
  bool extended_failed_ = false; // skipping extended messages until Sync
  std::map<std::string, statement_text> statements_; // Parse: name -> SQL
  std::map<std::string, portal> portals_;            // Bind: name -> portal
};

} // namespace walmux::actors::admin
