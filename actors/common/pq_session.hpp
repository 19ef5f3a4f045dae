// pq_session.hpp: blocking libpq calls for the roles that talk to the
// upstream PostgreSQL (source, walsender SQL forwarding, publication
// lookups). Every call blocks on the network: use only from a detached
// actor's own thread.
//
// Errors are values: a server error keeps its SQLSTATE, message, detail and
// hint; a connection failure is 08006 with libpq's text.
#pragma once

#include "common/expected.hpp"
#include "protocol/stream.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

struct pg_conn;
struct pg_result;

namespace walmux::actors {

// One result set, text format.
struct pq_result {
  struct column {
    std::string name;
    uint32_t type_oid = 25;
    int16_t type_size = -1;
    int32_t type_modifier = -1;
    uint32_t table_oid = 0;
    int16_t table_column = 0;
  };
  bool has_rows = false; // a row-returning statement (even with 0 rows)
  std::vector<column> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
  std::string command_tag; // "SELECT 2", "BEGIN", ...
};

// The format of a COPY's rows, as CopyOutResponse states it.
struct pq_copy_format {
  int8_t overall = 0; // 0 text, 1 binary
  std::vector<int16_t> columns;
};

// The error of a failed result or connection; used by the source too.
error pq_error(const pg_conn* conn, const pg_result* res);

// Quotes an identifier as PostgreSQL's quote_identifier would for a
// replication command option value ("pub" -> "\"pub\"").
std::string pq_quote_identifier(std::string_view name);
// Quotes a string literal ('it''s'); standard_conforming_strings assumed.
std::string pq_quote_literal(std::string_view text);
// Literals separated by ", " (for IN lists); empty for no names.
std::string pq_quote_literal_list(const std::vector<std::string>& texts);

// Reads a replication stream (CopyBoth) on `conn`: waits up to `timeout`
// for the socket (and for room to flush pending output), then hands every
// server message to `on_message`, taking what the socket holds up to about
// `max_bytes` a call. Stops early when `on_message` fails or `stop` (if
// given) says so. Returns the bytes taken; the server ending the stream is
// an error (`ended` is its text when the server sent none).
expected<size_t> pq_read_stream(
    pg_conn* conn, std::chrono::milliseconds timeout, size_t max_bytes,
    const std::function<status(const stream::server_message&)>& on_message,
    const char* ended, const std::function<bool()>& stop = nullptr);

class pq_session {
 public:
  // Connects with `conninfo` plus extra keyword/value pairs that override
  // it (e.g. replication=database, application_name, options). A failure is
  // "could not connect to the <peer>: <libpq's text>".
  static expected<std::unique_ptr<pq_session>>
  connect(const std::string& conninfo,
          const std::vector<std::pair<std::string, std::string>>& extra,
          const char* peer = "upstream server");
  ~pq_session();
  pq_session(const pq_session&) = delete;
  pq_session& operator=(const pq_session&) = delete;

  // Runs one simple-protocol query (which may be a replication command).
  expected<pq_result> exec(const std::string& sql);
  // Runs one statement with parameters in text form, typed by `types`
  // (OIDs; nullopt values are NULL). REQUIRES: types.size() ==
  // values.size().
  expected<pq_result>
  exec_params(const std::string& sql, const std::vector<uint32_t>& types,
              const std::vector<std::optional<std::string>>& values);

  // Runs a COPY ... TO STDOUT: `on_start` gets the rows' format before the
  // first row, `on_row` each row as the server sent it (one CopyData
  // payload). When `on_row` returns false the copy is abandoned with an
  // error and the session must be dropped. Returns the command tag
  // ("COPY 42").
  expected<std::string>
  copy_out(const std::string& sql,
           const std::function<void(const pq_copy_format&)>& on_start,
           const std::function<bool(std::string_view)>& on_row);

  // 'I' idle, 'T' in a transaction, 'E' in a failed transaction.
  char transaction_status() const;
  int server_version() const; // PQserverVersion: 150020
  std::string parameter(const char* name) const;
  pg_conn* raw() { return conn_; }

 private:
  explicit pq_session(pg_conn* conn)
      : conn_(conn) {}
  pg_conn* conn_;
};

} // namespace walmux::actors
