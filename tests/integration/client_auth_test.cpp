// client_auth_test.cpp: clients log in to walmux as to PostgreSQL. The same
// pg_hba.conf serves a PostgreSQL 15 cluster and a walmux node whose
// password file holds the cluster's own pg_authid secrets; every login
// (SCRAM, md5, cleartext, reject, no matching line, unknown user, wrong
// password) must end the same way on both, with the same text; a client
// that stalls is dropped at authentication_timeout. Then a
// replication connection authenticates with SCRAM, a reload changes the
// rules, a broken file at reload keeps the old ones (pg_hba_file_rules
// shows the file, as PostgreSQL's does), and a broken file at start stops
// walmux with the file and line named.
#include "protocol/auth.hpp"
#include "protocol/messages.hpp"
#include "tests/integration/walmux_node.hpp"
#include "tests/support/pg_cluster.hpp"

#include <arpa/inet.h>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <libpq-fe.h>

namespace walmux::testing {
namespace {

using namespace std::chrono_literals;

// "ok", or the server's FATAL text ("password authentication failed ...").
std::string login(const std::string& conninfo) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  std::string result = "ok";
  if (PQstatus(c) != CONNECTION_OK) {
    result = PQerrorMessage(c);
    auto at = result.find("FATAL:  ");
    if (at != std::string::npos)
      result = result.substr(at + 8);
    while (!result.empty() && result.back() == '\n')
      result.pop_back();
  }
  PQfinish(c);
  return result;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

const char* rules = "host all scram_user 127.0.0.1/32 scram-sha-256\n"
                    "host all md5_user 127.0.0.1/32 md5\n"
                    "host all clear_user 127.0.0.1/32 password\n"
                    "host all rejected 127.0.0.1/32 reject\n"
                    "host app all 127.0.0.1/32 scram-sha-256\n"
                    "host postgres,app postgres 127.0.0.1/32 trust\n";

TEST(client_auth, logins_end_as_on_postgresql) {
  temp_dir tmp;
  auto up = pg_cluster::start();
  ASSERT_TRUE(up) << up.err().message;
  auto& pg = **up;
  ASSERT_TRUE(pg.query("SET password_encryption = 'scram-sha-256';"
                       "CREATE ROLE scram_user LOGIN PASSWORD 'pencil';"
                       "CREATE ROLE clear_user LOGIN PASSWORD 'plain';"
                       "SET password_encryption = 'md5';"
                       "CREATE ROLE md5_user LOGIN PASSWORD 'secret';"
                       "CREATE ROLE rejected LOGIN;"
                       "CREATE TABLE t (id int PRIMARY KEY);"
                       "CREATE PUBLICATION pub FOR TABLE t"));
  ASSERT_TRUE(pg.query("CREATE DATABASE app")); // not in a transaction
  // walmux's password file: the cluster's own secrets.
  auto secrets = pg.query("SELECT rolname, rolpassword FROM pg_authid "
                          "WHERE rolpassword IS NOT NULL ORDER BY 1");
  ASSERT_TRUE(secrets) << secrets.err().message;
  ASSERT_EQ(secrets->size(), 3u);
  std::string users = "; from pg_authid\n";
  for (const auto& r : *secrets)
    users += "\"" + r[0] + "\" \"" + r[1] + "\"\n";
  write_file(tmp.path() + "/users.txt", users);
  write_file(tmp.path() + "/walmux_hba.conf", rules);
  // The same rules on the cluster, the upstream's own line for walmux
  // after them (postgres reaches the cluster through the trust line).
  write_file(pg.dir() + "/data/pg_hba.conf", rules);
  ASSERT_TRUE(pg.query("SELECT pg_reload_conf()"));

  auto node = walmux_node::streaming_from(
      tmp.path(), pg.conninfo(), "pub",
      {"hba_file=" + tmp.path() + "/walmux_hba.conf",
       "auth_file=" + tmp.path() + "/users.txt", "authentication_timeout=2s"});
  ASSERT_TRUE(node);

  struct attempt {
    const char* user;
    const char* password;
    const char* dbname;
    const char* expected;
  };
  const attempt attempts[] = {
      {"scram_user", "pencil", "postgres", "ok"},
      {"scram_user", "wrong", "postgres",
       "password authentication failed for user \"scram_user\""},
      {"md5_user", "secret", "postgres", "ok"},
      {"md5_user", "wrong", "postgres",
       "password authentication failed for user \"md5_user\""},
      {"clear_user", "plain", "postgres", "ok"},
      {"clear_user", "wrong", "postgres",
       "password authentication failed for user \"clear_user\""},
      {"rejected", "", "postgres",
       "pg_hba.conf rejects connection for host \"127.0.0.1\", user "
       "\"rejected\", database \"postgres\", no encryption"},
      {"ghost", "boo", "app",
       "password authentication failed for user \"ghost\""},
      {"ghost", "boo", "postgres",
       "no pg_hba.conf entry for host \"127.0.0.1\", user \"ghost\", "
       "database \"postgres\", no encryption"},
      {"postgres", "", "postgres", "ok"},
  };
  for (const auto& a : attempts) {
    std::string tail = std::string(" user=") + a.user + " dbname=" + a.dbname +
                       " password=" + a.password + " connect_timeout=10";
    const std::string pg_result =
        login("host=127.0.0.1 port=" + std::to_string(pg.port()) + tail);
    const std::string walmux_result =
        login("host=127.0.0.1 port=" + std::to_string(node->port()) + tail);
    EXPECT_EQ(pg_result, a.expected) << a.user << "/" << a.password;
    EXPECT_EQ(walmux_result, pg_result) << a.user << "/" << a.password;
  }
  // The reason of a failed password is in walmux's log only.
  EXPECT_NE(node->log().find("DETAIL:  Password does not match for user "
                             "\"scram_user\"."),
            std::string::npos)
      << node->log();

  // A client that stops answering is dropped at authentication_timeout.
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(node->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr),
              0);
    std::string startup;
    wire::encode(startup, wire::startup_message{wire::protocol_3_0,
                                                {{"user", "scram_user"},
                                                 {"database", "postgres"}}});
    ASSERT_EQ(::send(fd, startup.data(), startup.size(), 0),
              static_cast<ssize_t>(startup.size()));
    timeval limit{20, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    std::string received;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
      received.append(buf, static_cast<size_t>(n));
    ::close(fd);
    EXPECT_NE(received.find("SCRAM-SHA-256"), std::string::npos);
    EXPECT_NE(received.find("canceling authentication due to timeout"),
              std::string::npos);
  }

  // pg_hba_file_rules shows the file as PostgreSQL 15 shows it.
  const std::string rules_query =
      "SELECT line_number, type, database, user_name, address, netmask, "
      "auth_method, options, error FROM pg_hba_file_rules ORDER BY 1";
  auto pg_rules = pg.query(rules_query);
  auto walmux_rules = run_query(node->conninfo(false), rules_query);
  ASSERT_TRUE(pg_rules) << pg_rules.err().message;
  ASSERT_TRUE(walmux_rules) << walmux_rules.err().message;
  EXPECT_EQ(*walmux_rules, *pg_rules);
  EXPECT_EQ(pg_rules->size(), 6u);

  // A replication connection authenticates the same way.
  const std::string repl =
      "host=127.0.0.1 port=" + std::to_string(node->port()) +
      " user=scram_user dbname=postgres "
      "replication=database password=";
  auto identified = run_query(repl + "pencil", "IDENTIFY_SYSTEM");
  ASSERT_TRUE(identified) << identified.err().message;
  EXPECT_EQ(identified->size(), 1u);
  EXPECT_FALSE(run_query(repl + "wrong", "IDENTIFY_SYSTEM"));

  // A reload applies new rules to new connections.
  write_file(tmp.path() + "/walmux_hba.conf",
             std::string("host all scram_user 127.0.0.1/32 reject\n") + rules);
  ASSERT_TRUE(run_query(node->conninfo(false), "SELECT pg_reload_conf()"));
  const std::string scram_login =
      "host=127.0.0.1 port=" + std::to_string(node->port()) +
      " user=scram_user dbname=postgres "
      "password=pencil";
  const std::string refused =
      "pg_hba.conf rejects connection for host \"127.0.0.1\", user "
      "\"scram_user\", database \"postgres\", no encryption";
  EXPECT_TRUE(wait_until([&] { return login(scram_login) == refused; }, 10s));
  // A broken file at reload keeps the rules in force.
  write_file(tmp.path() + "/walmux_hba.conf",
             "host all all 127.0.0.1/32 magic\n");
  ASSERT_TRUE(run_query(node->conninfo(false), "SELECT pg_reload_conf()"));
  EXPECT_TRUE(wait_until(
      [&] {
        return node->log().find("pg_hba.conf, the password file and the "
                                "SSL configuration were not reloaded") !=
               std::string::npos;
      },
      10s))
      << node->log();
  EXPECT_EQ(login(scram_login), refused);
  EXPECT_EQ(login(node->conninfo(false)), "ok");
  auto broken = run_query(node->conninfo(false),
                          "SELECT line_number, error FROM pg_hba_file_rules");
  ASSERT_TRUE(broken) << broken.err().message;
  EXPECT_EQ(*broken, (rows{{"1", "invalid authentication method \"magic\""}}));
  EXPECT_TRUE(node->stop());

  // At start, a broken file stops walmux, naming the file and the line.
  write_file(tmp.path() + "/walmux_hba.conf",
             "# comment\nhost all all 127.0.0.1/32 magic\n");
  auto child =
      spawn({WALMUX_BINARY, "-D", node->data_dir()}, tmp.path() + "/start.log");
  EXPECT_NE(wait_exit(child.pid, 30s), 0);
  const std::string start_log = read_file(tmp.path() + "/start.log");
  EXPECT_NE(start_log.find("invalid authentication method \"magic\""),
            std::string::npos)
      << start_log;
  EXPECT_NE(start_log.find("line 2 of configuration file \"" + tmp.path() +
                           "/walmux_hba.conf\""),
            std::string::npos)
      << start_log;
}

// ssl = on: libpq's default (sslmode=prefer) and sslmode=require get TLS,
// hostssl and hostnossl lines tell the two apart, SCRAM binds to the
// certificate for channel_binding=require, pg_stat_ssl shows it, and a
// real PostgreSQL subscriber copies and streams through TLS.
TEST(client_auth, tls_connections_and_hostssl_rules) {
  temp_dir tmp;
  auto openssl = spawn(
      {"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
       "-keyout", tmp.path() + "/server.key", "-out",
       tmp.path() + "/server.crt", "-subj", "/CN=127.0.0.1", "-days", "2"},
      tmp.path() + "/openssl.log");
  ASSERT_EQ(wait_exit(openssl.pid, 60s), 0)
      << read_file(tmp.path() + "/openssl.log");
  auto up = pg_cluster::start();
  ASSERT_TRUE(up) << up.err().message;
  auto& pg = **up;
  const char* table = "CREATE TABLE t (id int PRIMARY KEY, v text);";
  ASSERT_TRUE(pg.query(std::string(table) +
                       "INSERT INTO t SELECT g, 'copied' FROM "
                       "generate_series(1, 100) g;"
                       "CREATE PUBLICATION pub FOR TABLE t"));
  write_file(tmp.path() + "/users.txt",
             "\"scram_user\" \"" +
                 auth::scram_secret_to_text(auth::scram_make_secret(
                     "pencil", "0123456789abcdef", 4096)) +
                 "\"\n");
  write_file(tmp.path() + "/hba.conf",
             "hostssl all scram_user 127.0.0.1/32 scram-sha-256\n"
             "hostssl all all 127.0.0.1/32 trust\n"
             "hostnossl all postgres 127.0.0.1/32 trust\n"
             "hostnossl all all 127.0.0.1/32 reject\n");
  auto node = walmux_node::streaming_from(
      tmp.path(), pg.conninfo(), "pub",
      {"ssl=on", "ssl_cert_file=" + tmp.path() + "/server.crt",
       "ssl_key_file=" + tmp.path() + "/server.key",
       "hba_file=" + tmp.path() + "/hba.conf",
       "auth_file=" + tmp.path() + "/users.txt"});
  ASSERT_TRUE(node);
  const std::string at =
      "host=127.0.0.1 port=" + std::to_string(node->port()) + " ";
  auto mine = run_query(at + "user=alice dbname=postgres sslmode=require",
                        "SELECT ssl, version, bits > 0 FROM pg_stat_ssl "
                        "WHERE pid = pg_backend_pid()");
  ASSERT_TRUE(mine) << mine.err().message;
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0][0], "t");
  EXPECT_EQ((*mine)[0][1].rfind("TLSv1.", 0), 0u) << (*mine)[0][1];
  EXPECT_EQ((*mine)[0][2], "t");
  EXPECT_EQ(login(at + "user=alice dbname=postgres sslmode=disable"),
            "pg_hba.conf rejects connection for host \"127.0.0.1\", user "
            "\"alice\", database \"postgres\", no encryption");
  EXPECT_EQ(login(at + "user=alice dbname=postgres"), "ok"); // prefer: TLS
  // SCRAM over TLS binds to the server's certificate when asked
  // (SCRAM-SHA-256-PLUS), and without binding when not.
  const std::string scram =
      at + "user=scram_user dbname=postgres sslmode=require ";
  EXPECT_EQ(login(scram + "password=pencil channel_binding=require"), "ok");
  EXPECT_EQ(login(scram + "password=pencil channel_binding=disable"), "ok");
  EXPECT_EQ(login(scram + "password=wrong channel_binding=require"),
            "password authentication failed for user \"scram_user\"");
  auto plain = run_query(at + "user=postgres dbname=postgres sslmode=disable",
                         "SELECT ssl FROM pg_stat_ssl "
                         "WHERE pid = pg_backend_pid()");
  ASSERT_TRUE(plain) << plain.err().message;
  EXPECT_EQ(*plain, (rows{{"f"}}));

  // A subscriber that requires TLS: the copy and the stream pass through it.
  auto sub = pg_cluster::start();
  ASSERT_TRUE(sub) << sub.err().message;
  ASSERT_TRUE((*sub)->query(table));
  ASSERT_TRUE((*sub)->query(
      "CREATE SUBSCRIPTION s CONNECTION '" + at +
      "user=alice dbname=postgres sslmode=require' PUBLICATION pub"));
  ASSERT_TRUE(pg.query("INSERT INTO t SELECT g, repeat('x', 1000) FROM "
                       "generate_series(101, 5000) g"));
  EXPECT_TRUE(wait_until(
      [&] {
        return table_digest(**sub, "t", "id") == table_digest(pg, "t", "id");
      },
      120s))
      << node->log();
  auto senders = run_query(node->conninfo(false) + " sslmode=require",
                           "SELECT count(*) > 0, count(*) FILTER (WHERE "
                           "NOT s.ssl) FROM pg_stat_ssl s JOIN "
                           "pg_stat_activity a USING (pid) WHERE "
                           "a.backend_type = 'walsender'");
  ASSERT_TRUE(senders) << senders.err().message;
  EXPECT_EQ(*senders, (rows{{"t", "0"}}));
  ASSERT_TRUE((*sub)->query("DROP SUBSCRIPTION s"));
  EXPECT_TRUE(node->stop());

  // A private key others can read stops the start, as in PostgreSQL.
  ASSERT_EQ(::chmod((tmp.path() + "/server.key").c_str(), 0644), 0);
  auto child =
      spawn({WALMUX_BINARY, "-D", node->data_dir()}, tmp.path() + "/start.log");
  EXPECT_NE(wait_exit(child.pid, 30s), 0);
  EXPECT_NE(read_file(tmp.path() + "/start.log")
                .find("private key file \"" + tmp.path() +
                      "/server.key\" has group or world access"),
            std::string::npos)
      << read_file(tmp.path() + "/start.log");

  // ssl is reloadable, as in PostgreSQL: turned off, new sessions are
  // plain ones.
  ASSERT_EQ(::chmod((tmp.path() + "/server.key").c_str(), 0600), 0);
  ASSERT_TRUE(node->start()) << node->log();
  std::ofstream(node->data_dir() + "/walmux.conf", std::ios::app)
      << "ssl = off\n";
  ASSERT_TRUE(run_query(node->conninfo(false) + " sslmode=require",
                        "SELECT pg_reload_conf()"));
  EXPECT_TRUE(wait_until(
      [&] {
        return login(at + "user=postgres dbname=postgres sslmode=require")
                   .find("server does not support SSL") != std::string::npos;
      },
      10s));
  auto after = run_query(at + "user=postgres dbname=postgres",
                         "SELECT ssl FROM pg_stat_ssl "
                         "WHERE pid = pg_backend_pid()");
  ASSERT_TRUE(after) << after.err().message;
  EXPECT_EQ(*after, (rows{{"f"}}));
}

} // namespace
} // namespace walmux::testing
