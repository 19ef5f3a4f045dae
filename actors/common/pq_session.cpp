// pq_session.cpp: blocking libpq calls (see pq_session.hpp).
#include "actors/common/pq_session.hpp"

#include <cerrno>
#include <poll.h>

#include <libpq-fe.h>

namespace walmux::actors {

error pq_error(const pg_conn* conn, const pg_result* res) {
  auto field = [&](int code) -> std::string {
    const char* v = res ? PQresultErrorField(res, code) : nullptr;
    return v ? v : "";
  };
  std::string code = field(PG_DIAG_SQLSTATE);
  std::string message = field(PG_DIAG_MESSAGE_PRIMARY);
  if (message.empty()) {
    const char* m = res ? PQresultErrorMessage(res) : nullptr;
    if (m == nullptr || *m == '\0')
      m = conn ? PQerrorMessage(conn) : "could not connect";
    message = m;
    while (!message.empty() &&
           (message.back() == '\n' || message.back() == ' '))
      message.pop_back();
  }
  if (code.empty())
    code = "08006"; // connection_failure: libpq reported no SQLSTATE
  error e{code, message};
  e.detail = field(PG_DIAG_MESSAGE_DETAIL);
  e.hint = field(PG_DIAG_MESSAGE_HINT);
  return e;
}

expected<size_t> pq_read_stream(
    pg_conn* c, std::chrono::milliseconds timeout, size_t max_bytes,
    const std::function<status(const stream::server_message&)>& on_message,
    const char* ended, const std::function<bool()>& stop) {
  pollfd pfd{PQsocket(c), POLLIN, 0};
  if (PQflush(c) == 1)
    pfd.events |= POLLOUT;
  if (::poll(&pfd, 1, static_cast<int>(timeout.count())) < 0 && errno != EINTR)
    return error{sqlstate::io_error, "poll on a replication connection failed"};
  if (PQconsumeInput(c) == 0)
    return pq_error(c, nullptr);
  size_t taken = 0;
  while (!stop || !stop()) {
    char* buf = nullptr;
    const int n = PQgetCopyData(c, &buf, 1);
    if (n == 0) {
      // Take what else is in the socket already, up to the bound.
      pollfd more{PQsocket(c), POLLIN, 0};
      if (taken >= max_bytes || ::poll(&more, 1, 0) <= 0 ||
          !(more.revents & POLLIN))
        break;
      if (PQconsumeInput(c) == 0)
        return pq_error(c, nullptr);
      continue;
    }
    if (n == -1) {
      PGresult* res = PQgetResult(c);
      error e = res ? pq_error(c, res) : error{"08P01", ended};
      if (res)
        PQclear(res);
      if (e.message.empty())
        e.message = ended;
      return e;
    }
    if (n < 0)
      return pq_error(c, nullptr);
    taken += static_cast<size_t>(n);
    auto msg =
        stream::decode_server(std::string_view(buf, static_cast<size_t>(n)));
    status st = msg ? on_message(*msg) : status(std::move(msg).err());
    PQfreemem(buf);
    if (!st)
      return std::move(st).err();
  }
  return taken;
}

std::string pq_quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"')
      out += '"';
    out += c;
  }
  return out + "\"";
}

std::string pq_quote_literal_list(const std::vector<std::string>& texts) {
  std::string out;
  for (const auto& t : texts)
    out += (out.empty() ? "" : ", ") + pq_quote_literal(t);
  return out;
}

std::string pq_quote_literal(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += '\'';
    out += c;
  }
  return out + "'";
}

expected<std::unique_ptr<pq_session>> pq_session::connect(
    const std::string& conninfo,
    const std::vector<std::pair<std::string, std::string>>& extra,
    const char* peer) {
  std::vector<const char*> keys{"dbname"};
  std::vector<const char*> values{conninfo.c_str()};
  for (const auto& [k, v] : extra) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  // expand_dbname = 1: the conninfo string is parsed; later keywords win.
  pg_conn* conn = PQconnectdbParams(keys.data(), values.data(), 1);
  if (conn == nullptr)
    return error{"08006", std::string("could not connect to the ") + peer};
  if (PQstatus(conn) != CONNECTION_OK) {
    error e = pq_error(conn, nullptr);
    e.message =
        std::string("could not connect to the ") + peer + ": " + e.message;
    PQfinish(conn);
    return e;
  }
  return std::unique_ptr<pq_session>(new pq_session(conn));
}

pq_session::~pq_session() {
  PQfinish(conn_);
}

namespace {

// The rows of a finished statement, or its error.
expected<pq_result> collect(pg_conn* conn, pg_result* res) {
  if (res == nullptr)
    return pq_error(conn, nullptr);
  struct guard {
    pg_result* r;
    ~guard() { PQclear(r); }
  } g{res};
  auto st = PQresultStatus(res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK &&
      st != PGRES_EMPTY_QUERY)
    return pq_error(conn, res);
  pq_result out;
  out.command_tag = PQcmdStatus(res);
  if (st != PGRES_TUPLES_OK)
    return out;
  out.has_rows = true;
  const int ncols = PQnfields(res);
  for (int c = 0; c < ncols; ++c)
    out.columns.push_back({PQfname(res, c), PQftype(res, c),
                           static_cast<int16_t>(PQfsize(res, c)),
                           PQfmod(res, c), PQftable(res, c),
                           static_cast<int16_t>(PQftablecol(res, c))});
  const int nrows = PQntuples(res);
  out.rows.reserve(static_cast<size_t>(nrows));
  for (int r = 0; r < nrows; ++r) {
    auto& row = out.rows.emplace_back();
    for (int c = 0; c < ncols; ++c) {
      if (PQgetisnull(res, r, c))
        row.emplace_back(std::nullopt);
      else
        row.emplace_back(
            std::string(PQgetvalue(res, r, c),
                        static_cast<size_t>(PQgetlength(res, r, c))));
    }
  }
  return out;
}

} // namespace

expected<pq_result> pq_session::exec(const std::string& sql) {
  return collect(conn_, PQexec(conn_, sql.c_str()));
}

expected<pq_result>
pq_session::exec_params(const std::string& sql,
                        const std::vector<uint32_t>& types,
                        const std::vector<std::optional<std::string>>& values) {
  std::vector<const char*> texts;
  texts.reserve(values.size());
  for (const auto& v : values)
    texts.push_back(v ? v->c_str() : nullptr);
  return collect(
      conn_, PQexecParams(conn_, sql.c_str(), static_cast<int>(texts.size()),
                          types.data(), texts.data(), nullptr, nullptr, 0));
}

expected<std::string>
pq_session::copy_out(const std::string& sql,
                     const std::function<void(const pq_copy_format&)>& on_start,
                     const std::function<bool(std::string_view)>& on_row) {
  pg_result* res = PQexec(conn_, sql.c_str());
  if (res == nullptr)
    return pq_error(conn_, nullptr);
  if (PQresultStatus(res) != PGRES_COPY_OUT) {
    error e = PQresultStatus(res) == PGRES_FATAL_ERROR
                  ? pq_error(conn_, res)
                  : error{sqlstate::protocol_violation,
                          "the statement did not start a COPY TO STDOUT"};
    PQclear(res);
    return e;
  }
  pq_copy_format format;
  format.overall = static_cast<int8_t>(PQbinaryTuples(res));
  for (int c = 0; c < PQnfields(res); ++c)
    format.columns.push_back(static_cast<int16_t>(PQfformat(res, c)));
  PQclear(res);
  on_start(format);
  while (true) {
    char* row = nullptr;
    const int n = PQgetCopyData(conn_, &row, 0);
    if (n == -1)
      break; // done: the final result follows
    if (n < 0)
      return pq_error(conn_, nullptr);
    const bool more = on_row(std::string_view(row, static_cast<size_t>(n)));
    PQfreemem(row);
    if (!more)
      return error{"57014", "canceling the COPY: its client went away"};
  }
  std::string tag;
  std::optional<error> failed;
  while (pg_result* end = PQgetResult(conn_)) {
    if (PQresultStatus(end) == PGRES_COMMAND_OK)
      tag = PQcmdStatus(end);
    else if (!failed)
      failed = pq_error(conn_, end);
    PQclear(end);
  }
  if (failed)
    return *failed;
  return tag;
}

char pq_session::transaction_status() const {
  switch (PQtransactionStatus(conn_)) {
  case PQTRANS_INTRANS:
    return 'T';
  case PQTRANS_INERROR:
    return 'E';
  default:
    return 'I';
  }
}

int pq_session::server_version() const {
  return PQserverVersion(conn_);
}

std::string pq_session::parameter(const char* name) const {
  const char* v = PQparameterStatus(conn_, name);
  return v ? v : "";
}

} // namespace walmux::actors
