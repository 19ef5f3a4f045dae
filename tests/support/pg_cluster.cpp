// pg_cluster.cpp: see pg_cluster.hpp.
#include "tests/support/pg_cluster.hpp"

#include "tests/support/process.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

namespace walmux::testing {
namespace {

error failure(const std::string& message) {
  return error{sqlstate::internal_error, message};
}

} // namespace

std::string pg_cluster_script() {
  return WALMUX_SOURCE_DIR "/tests/support/pg_cluster.sh";
}

expected<std::unique_ptr<pg_cluster>>
pg_cluster::start(const std::vector<std::string>& conf_lines) {
  int to_guard[2];
  int from_script[2];
  if (::pipe2(to_guard, O_CLOEXEC) != 0)
    return failure(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(from_script, O_CLOEXEC) != 0) {
    ::close(to_guard[0]);
    ::close(to_guard[1]);
    return failure(std::string("pipe: ") + std::strerror(errno));
  }
  std::vector<std::string> args = {"bash", pg_cluster_script(), "start",
                                   "--guard-stdin"};
  for (const auto& line : conf_lines) {
    args.push_back("-c");
    args.push_back(line);
  }
  pid_t pid = ::fork();
  if (pid < 0)
    return failure(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Child: stdin = guard pipe, stdout = report pipe, stderr inherited.
    ::dup2(to_guard[0], 0);
    ::dup2(from_script[1], 1);
    // Its own session: a signal to the test's process group must not kill
    // the guardian before it has cleaned up.
    ::setsid();
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv("/bin/bash", argv.data());
    ::_exit(127);
  }
  ::close(to_guard[0]);
  ::close(from_script[1]);

  std::unique_ptr<pg_cluster> cluster(new pg_cluster());
  cluster->guard_pid_ = pid;
  cluster->guard_stdin_ = to_guard[1];

  std::string out;
  char buf[512];
  while (true) {
    ssize_t n = ::read(from_script[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(from_script[0]);

  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    std::string line = out.substr(pos, nl == std::string::npos ? nl : nl - pos);
    pos = nl == std::string::npos ? out.size() : nl + 1;
    if (line.starts_with("export "))
      line = line.substr(7);
    if (line.starts_with("PGPORT="))
      cluster->port_ = std::atoi(line.c_str() + 7);
    else if (line.starts_with("WALMUX_PG_DIR="))
      cluster->dir_ = line.substr(14);
  }
  if (cluster->port_ == 0 || cluster->dir_.empty())
    // The destructor closes the pipe and reaps the script, which has
    // already cleaned up after its own failure.
    return failure("pg_cluster.sh could not start a cluster (see stderr)");
  return cluster;
}

pg_cluster::~pg_cluster() {
  if (guard_stdin_ >= 0)
    ::close(guard_stdin_);
  if (guard_pid_ > 0) {
    int status = 0;
    while (::waitpid(guard_pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

bool pg_cluster::crash_restart() const {
  auto child = spawn({"/bin/bash", pg_cluster_script(), "crash-restart", dir_},
                     dir_ + "/crash-restart.log");
  return child.pid > 0 && wait_exit(child.pid, std::chrono::seconds(90)) == 0;
}

int pg_cluster::postmaster_pid() const {
  std::ifstream in(dir_ + "/data/postmaster.pid");
  int pid = 0;
  in >> pid;
  return pid;
}

std::string pg_cluster::conninfo(const std::string& dbname) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) +
         " user=postgres dbname=" + dbname + " connect_timeout=10";
}

expected<rows> pg_cluster::query(const std::string& sql, bool replication,
                                 const std::string& dbname) const {
  std::string info = conninfo(dbname);
  if (replication)
    info += " replication=database";
  return run_query(info, sql);
}

expected<rows> run_query(const std::string& conninfo, const std::string& sql) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    PQfinish(conn);
    return failure("connection failed: " + msg);
  }
  PGresult* res = PQexec(conn, sql.c_str());
  auto st = PQresultStatus(res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    std::string msg = PQresultErrorMessage(res);
    const char* code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    PQclear(res);
    PQfinish(conn);
    return error{code ? code : sqlstate::internal_error, msg};
  }
  rows out;
  for (int r = 0; r < PQntuples(res); ++r) {
    std::vector<std::string> row;
    for (int c = 0; c < PQnfields(res); ++c)
      row.emplace_back(PQgetvalue(res, r, c));
    out.push_back(std::move(row));
  }
  PQclear(res);
  PQfinish(conn);
  return out;
}

std::string table_digest(const pg_cluster& c, const std::string& table,
                         const std::string& key) {
  auto r = c.query("SELECT count(*), md5(coalesce(string_agg(md5(t::text), "
                   "'' ORDER BY t." +
                   key + "), '')) FROM " + table + " t");
  if (!r)
    return "error: " + r.err().message;
  return (*r)[0][0] + " " + (*r)[0][1];
}

std::string one_value(const pg_cluster& c, const std::string& sql) {
  auto r = c.query(sql);
  if (!r || r->empty() || (*r)[0].empty())
    return "error";
  return (*r)[0][0];
}

} // namespace walmux::testing
