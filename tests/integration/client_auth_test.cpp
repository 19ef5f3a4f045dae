// client_auth_test.cpp: clients log in to walmux as to PostgreSQL. The same
// pg_hba.conf serves a PostgreSQL 15 cluster and a walmux node whose
// password file holds the cluster's own pg_authid secrets; every login
// (SCRAM, md5, cleartext, reject, no matching line, unknown user, wrong
// password) must end the same way on both, with the same text; a client
// that stalls is dropped at authentication_timeout. Then a
// replication connection authenticates with SCRAM, a reload changes the
// rules, a broken file at reload keeps the old ones (pg_hba_file_rules
// shows the file, as PostgreSQL's does), and a broken file at start stops
// walmux with the file and line named. TLS, client certificates and the
// TLS protocol settings compared with PostgreSQL, follow.
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

// Copies `files` from `dir` into the cluster's data directory, owned by
// the cluster's owner and private to it (PostgreSQL checks the key's).
bool copy_into_cluster(const pg_cluster& pg, const std::string& dir,
                       std::initializer_list<const char*> files) {
  const std::string pg_data = pg.dir() + "/data";
  struct stat owner {};
  if (::stat(pg_data.c_str(), &owner) != 0)
    return false;
  for (const char* f : files) {
    const std::string to = pg_data + "/" + f;
    write_file(to, read_file(dir + "/" + f));
    if (::chown(to.c_str(), owner.st_uid, owner.st_gid) != 0 ||
        ::chmod(to.c_str(), 0600) != 0)
      return false;
  }
  return true;
}

// The text a failed login gives, without libpq's "connection to server at
// ..., port N failed: " (the two servers listen on different ports).
std::string login_outcome(const std::string& conninfo) {
  std::string r = login(conninfo);
  const auto at = r.find("failed: ");
  if (r.rfind("connection to server", 0) == 0 && at != std::string::npos)
    r = r.substr(at + 8);
  return r;
}

// Client certificates (ssl_ca_file, clientcert=verify-ca|verify-full,
// clientname=DN, the cert method) end every login as on PostgreSQL 15 with
// the same pg_hba.conf and certificates; pg_stat_ssl shows the same client
// certificate columns and pg_hba_file_rules the same options; a revocation
// list (ssl_crl_file) refuses a revoked certificate on both; a bad
// ssl_ca_file at reload keeps the configuration in force.
TEST(client_auth, client_certificates_as_on_postgresql) {
  temp_dir tmp;
  const std::string d = tmp.path();
  // A certificate authority, another one nobody trusts, the server's
  // certificate and the clients' (a client "mallory" certificate says
  // CN=alice but comes from the other authority; "nocn" has no CN).
  const std::string script =
      "set -e; cd '" + d +
      "'; o=/usr/bin/openssl\n"
      "$o req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt "
      "-subj '/CN=walmux test CA' -days 2\n"
      "$o req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt "
      "-subj '/CN=other CA' -days 2\n"
      "mk() { $o req -newkey rsa:2048 -nodes -keyout $1.key -out $1.csr "
      "-subj \"$2\"; $o x509 -req -in $1.csr -CA $3.crt -CAkey $3.key "
      "-CAcreateserial -out $1.crt -days 2; }\n"
      "mk server /CN=127.0.0.1 ca; mk alice /O=walmux/CN=alice ca\n"
      "mk bob /CN=bob ca; mk mallory /CN=alice other; mk nocn /O=nobody ca\n"
      "mk gracex /CN=grace@example ca; mk abc /CN=abc ca\n"
      "chmod 600 *.key\n"
      // A revocation list of the authority that revokes bob's certificate.
      "printf '[ca]\\ndefault_ca=local\\n[local]\\ndatabase=index.txt\\n"
      "crlnumber=crlnumber\\ndefault_md=sha256\\ndefault_crl_days=2\\n' "
      ">ca.cnf; : >index.txt; echo 01 >crlnumber\n"
      "$o ca -config ca.cnf -keyfile ca.key -cert ca.crt -revoke bob.crt\n"
      "$o ca -config ca.cnf -keyfile ca.key -cert ca.crt -gencrl -out "
      "ca.crl\n";
  auto gen = spawn({"/bin/sh", "-c", script}, d + "/openssl.log");
  ASSERT_EQ(wait_exit(gen.pid, 120s), 0) << read_file(d + "/openssl.log");

  const std::string hba =
      "hostnossl all postgres 127.0.0.1/32 trust\n"
      "hostssl all alice 127.0.0.1/32 cert\n"
      "hostssl all bob 127.0.0.1/32 trust clientcert=verify-ca\n"
      "hostssl all carol 127.0.0.1/32 trust clientcert=verify-full\n"
      "hostssl all dave 127.0.0.1/32 scram-sha-256 clientcert=verify-full\n"
      "hostssl all erin 127.0.0.1/32 trust clientcert=verify-full "
      "clientname=DN\n"
      "hostssl all \"CN=alice,O=walmux\" 127.0.0.1/32 cert clientname=DN\n"
      "hostssl all frank 127.0.0.1/32 cert map=certs\n"
      "hostssl all grace 127.0.0.1/32 cert map=certs\n"
      "hostssl all heidi 127.0.0.1/32 cert map=broken\n"
      "hostssl all all 127.0.0.1/32 trust\n";
  auto up = pg_cluster::start();
  ASSERT_TRUE(up) << up.err().message;
  auto& pg = **up;
  const std::string pg_data = pg.dir() + "/data";
  ASSERT_TRUE(copy_into_cluster(
      pg, d, {"server.crt", "server.key", "ca.crt", "ca.crl"}));
  write_file(pg_data + "/pg_hba.conf", hba);
  // User name maps: bob's certificate logs in as frank, name@example as
  // name; "broken" asks for a subexpression its expression lacks.
  const std::string ident = "certs bob frank\n"
                            "certs \"/^(.*)@example$\" \\1\n"
                            "broken /^abc$ \\1\n";
  write_file(pg_data + "/pg_ident.conf", ident);
  write_file(d + "/ident.conf", ident);
  // One statement a query: ALTER SYSTEM refuses a transaction block.
  for (const char* setting :
       {"ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'",
        "ssl_ca_file = 'ca.crt'", "ssl = on"})
    ASSERT_TRUE(pg.query(std::string("ALTER SYSTEM SET ") + setting));
  ASSERT_TRUE(pg.query("SELECT pg_reload_conf()"));
  ASSERT_TRUE(pg.query("SET password_encryption = 'scram-sha-256';"
                       "CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN;"
                       "CREATE ROLE carol LOGIN; CREATE ROLE erin LOGIN;"
                       "CREATE ROLE frank LOGIN; CREATE ROLE grace LOGIN;"
                       "CREATE ROLE heidi LOGIN;"
                       "CREATE ROLE \"CN=alice,O=walmux\" LOGIN;"
                       "CREATE ROLE dave LOGIN PASSWORD 'pencil';"
                       "CREATE TABLE t (id int PRIMARY KEY);"
                       "CREATE PUBLICATION pub FOR TABLE t"));
  auto secret = pg.query("SELECT rolpassword FROM pg_authid "
                         "WHERE rolname = 'dave'");
  ASSERT_TRUE(secret) << secret.err().message;
  write_file(d + "/users.txt", "\"dave\" \"" + (*secret)[0][0] + "\"\n");
  write_file(d + "/hba.conf", hba);
  auto node = walmux_node::streaming_from(
      d, pg.conninfo(), "pub",
      {"ssl=on", "ssl_cert_file=" + d + "/server.crt",
       "ssl_key_file=" + d + "/server.key", "ssl_ca_file=" + d + "/ca.crt",
       "hba_file=" + d + "/hba.conf", "auth_file=" + d + "/users.txt",
       "ident_file=" + d + "/ident.conf"});
  ASSERT_TRUE(node);
  // pg_reload_conf() has taken effect on the cluster once it asks for TLS.
  ASSERT_TRUE(wait_until(
      [&] {
        return login_outcome(
                   "host=127.0.0.1 port=" + std::to_string(pg.port()) +
                   " user=carol dbname=postgres sslmode=require") ==
               "connection requires a valid client certificate";
      },
      10s));

  struct attempt {
    const char* user;
    const char* cert; // "" for none
    const char* extra;
  };
  const attempt attempts[] = {
      {"alice", "alice", ""},
      {"alice", "", ""},
      {"alice", "bob", ""},
      {"alice", "mallory", ""},
      {"alice", "nocn", ""},
      {"alice", "alice", "sslmode=disable"},
      {"bob", "bob", ""},
      {"bob", "alice", ""},
      {"bob", "", ""},
      {"bob", "mallory", ""},
      {"carol", "bob", ""},
      {"carol", "", ""},
      {"dave", "", "password=pencil"},
      {"dave", "bob", "password=pencil"},
      {"dave", "bob", "password=wrong"},
      {"erin", "alice", ""},
      {"CN=alice,O=walmux", "alice", ""},
      {"CN=alice,O=walmux", "bob", ""},
      {"frank", "bob", ""},
      {"frank", "alice", ""},
      {"grace", "gracex", ""},
      {"grace", "alice", ""},
      {"frank", "gracex", ""},
      {"heidi", "abc", ""},
  };
  const std::string on_pg = "host=127.0.0.1 port=" + std::to_string(pg.port());
  const std::string on_walmux =
      "host=127.0.0.1 port=" + std::to_string(node->port());
  int accepted = 0;
  for (const auto& a : attempts) {
    std::string tail = std::string(" dbname=postgres user='") + a.user + "'";
    if (*a.cert != '\0')
      tail += " sslcert=" + d + "/" + a.cert + ".crt sslkey=" + d + "/" +
              a.cert + ".key";
    else // not libpq's default ~/.postgresql/postgresql.crt either
      tail += " sslcert=" + d + "/none.crt";
    // sslmode=require unless the attempt says otherwise (with prefer, a
    // refused TLS login would be tried again in plain).
    tail += std::string(" sslmode=require ") + a.extra;
    const std::string expected = login_outcome(on_pg + tail);
    EXPECT_EQ(login_outcome(on_walmux + tail), expected)
        << a.user << " with certificate \"" << a.cert << "\" " << a.extra;
    accepted += expected == "ok";
  }
  // alice and the DN user with their own certificate, bob with any the
  // authority signed (verify-ca checks no name), frank and grace through
  // the map.
  EXPECT_EQ(accepted, 6);
  EXPECT_NE(node->log().find("certificate validation (clientcert=verify-full) "
                             "failed for user \"carol\": CN mismatch"),
            std::string::npos);

  // pg_stat_ssl shows the same client certificate columns.
  const std::string alice = " dbname=postgres user=alice sslmode=require "
                            "sslcert=" +
                            d + "/alice.crt sslkey=" + d + "/alice.key";
  const char* mine = "SELECT ssl, client_dn, client_serial, issuer_dn "
                     "FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
  auto pg_ssl = run_query(on_pg + alice, mine);
  auto wm_ssl = run_query(on_walmux + alice, mine);
  ASSERT_TRUE(pg_ssl) << pg_ssl.err().message;
  ASSERT_TRUE(wm_ssl) << wm_ssl.err().message;
  EXPECT_EQ(*wm_ssl, *pg_ssl);
  EXPECT_EQ((*wm_ssl)[0][1], "/O=walmux/CN=alice");
  // A logical replication connection authenticates the same way.
  EXPECT_EQ(login(on_walmux + alice + " replication=database"), "ok");

  // pg_hba_file_rules: the same rules and options.
  const char* rules_query = "SELECT line_number, type, database, user_name, "
                            "address, auth_method, options, error FROM "
                            "pg_hba_file_rules ORDER BY line_number";
  auto pg_rules = pg.query(rules_query);
  auto wm_rules = run_query(on_walmux + alice, rules_query);
  ASSERT_TRUE(pg_rules) << pg_rules.err().message;
  ASSERT_TRUE(wm_rules) << wm_rules.err().message;
  EXPECT_EQ(*wm_rules, *pg_rules);

  // pg_ident_file_mappings: the same mappings.
  const char* maps_query = "SELECT line_number, map_name, sys_name, "
                           "pg_username, error FROM pg_ident_file_mappings "
                           "ORDER BY line_number";
  auto pg_maps = pg.query(maps_query);
  auto wm_maps = run_query(on_walmux + alice, maps_query);
  ASSERT_TRUE(pg_maps) << pg_maps.err().message;
  ASSERT_TRUE(wm_maps) << wm_maps.err().message;
  EXPECT_EQ(*wm_maps, *pg_maps);
  EXPECT_EQ(wm_maps->size(), 3u);

  // ssl_crl_file: bob's revoked certificate ends the handshake on both,
  // alice's still logs in.
  ASSERT_TRUE(pg.query("ALTER SYSTEM SET ssl_crl_file = 'ca.crl'"));
  ASSERT_TRUE(pg.query("SELECT pg_reload_conf()"));
  std::ofstream(node->data_dir() + "/walmux.conf", std::ios::app)
      << "ssl_crl_file = '" << d << "/ca.crl'\n";
  ASSERT_TRUE(run_query(on_walmux + alice, "SELECT pg_reload_conf()"));
  const std::string bob = " dbname=postgres user=bob sslmode=require "
                          "sslcert=" +
                          d + "/bob.crt sslkey=" + d + "/bob.key";
  const std::string revoked = "SSL error: sslv3 alert certificate revoked";
  for (const std::string& server : {on_pg, on_walmux})
    EXPECT_TRUE(
        wait_until([&] { return login_outcome(server + bob) == revoked; }, 10s))
        << server << ": " << login_outcome(server + bob);
  EXPECT_EQ(login_outcome(on_walmux + bob), login_outcome(on_pg + bob));
  EXPECT_EQ(login(on_pg + alice), "ok");
  EXPECT_EQ(login(on_walmux + alice), "ok");

  // An authority file that cannot be read at reload: the error is logged
  // and the configuration in force stays.
  std::ofstream(node->data_dir() + "/walmux.conf", std::ios::app)
      << "ssl_ca_file = '" << d << "/missing.crt'\n";
  ASSERT_TRUE(run_query(on_walmux + alice, "SELECT pg_reload_conf()"));
  EXPECT_TRUE(wait_until(
      [&] {
        return node->log().find("could not load root certificate file \"" + d +
                                "/missing.crt\"") != std::string::npos;
      },
      10s))
      << node->log();
  EXPECT_EQ(login(on_walmux + alice), "ok");
}

// The protocol settings as PostgreSQL 15 applies them: the same settings
// on a cluster and on walmux (ssl_min_protocol_version,
// ssl_max_protocol_version, ssl_ciphers, ssl_prefer_server_ciphers,
// ssl_ecdh_curve) give the same TLS version and cipher in pg_stat_ssl, and
// the same refusal, to the same clients; a bad value at reload keeps the
// configuration in force, with PostgreSQL's text in the log.
TEST(client_auth, tls_versions_and_ciphers_as_on_postgresql) {
  temp_dir tmp;
  const std::string d = tmp.path();
  auto openssl =
      spawn({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048",
             "-nodes", "-keyout", d + "/server.key", "-out", d + "/server.crt",
             "-subj", "/CN=127.0.0.1", "-days", "2"},
            d + "/openssl.log");
  ASSERT_EQ(wait_exit(openssl.pid, 60s), 0) << read_file(d + "/openssl.log");
  auto dh =
      spawn({"/usr/bin/openssl", "genpkey", "-genparam", "-algorithm", "DH",
             "-pkeyopt", "dh_param:ffdhe3072", "-out", d + "/dh.pem"},
            d + "/openssl.log");
  ASSERT_EQ(wait_exit(dh.pid, 60s), 0) << read_file(d + "/openssl.log");
  // And parameters whose p is even (2^2048 - 2), as DER, then PEM.
  auto bad_dh = spawn(
      {"/bin/sh", "-c",
       "set -e; cd '" + d +
           "'; p=$(printf 'F%.0s' $(seq 511))E\n"
           "printf 'asn1=SEQUENCE:dh\\n[dh]\\np=INTEGER:0x%s\\n"
           "g=INTEGER:2\\n' $p >dh.cnf\n"
           "/usr/bin/openssl asn1parse -genconf dh.cnf -out dh.der -noout\n"
           "{ echo '-----BEGIN DH PARAMETERS-----'; base64 -w64 dh.der; "
           "echo '-----END DH PARAMETERS-----'; } >bad_dh.pem"},
      d + "/openssl.log");
  ASSERT_EQ(wait_exit(bad_dh.pid, 60s), 0) << read_file(d + "/openssl.log");
  auto up = pg_cluster::start();
  ASSERT_TRUE(up) << up.err().message;
  auto& pg = **up;
  // A key with a passphrase ("pencil") and its certificate.
  auto enc =
      spawn({"/bin/sh", "-c",
             "set -e; cd '" + d +
                 "'; /usr/bin/openssl genpkey -algorithm RSA -pkeyopt "
                 "rsa_keygen_bits:2048 -aes-128-cbc -pass pass:pencil -out "
                 "enc.key; chmod 600 enc.key; /usr/bin/openssl req -x509 -key "
                 "enc.key -passin pass:pencil -out enc.crt -subj /CN=127.0.0.1 "
                 "-days 2"},
            d + "/openssl.log");
  ASSERT_EQ(wait_exit(enc.pid, 60s), 0) << read_file(d + "/openssl.log");
  ASSERT_TRUE(copy_into_cluster(
      pg, d, {"server.crt", "server.key", "dh.pem", "enc.crt", "enc.key"}));
  ASSERT_EQ(::chmod((d + "/server.key").c_str(), 0600), 0);
  ASSERT_TRUE(pg.query("ALTER SYSTEM SET ssl = on"));
  ASSERT_TRUE(pg.query("SELECT pg_reload_conf()"));
  walmux_node node(d, {"ssl=on", "ssl_cert_file=" + d + "/server.crt",
                       "ssl_key_file=" + d + "/server.key"});
  ASSERT_TRUE(node.initialized());
  for (const char* f : {"dh.pem", "enc.crt", "enc.key"})
    write_file(node.data_dir() + "/" + f, read_file(d + "/" + f));
  ASSERT_EQ(::chmod((node.data_dir() + "/enc.key").c_str(), 0600), 0);
  ASSERT_TRUE(node.start(false)) << node.log();
  const std::string pg_at =
      "host=127.0.0.1 port=" + std::to_string(pg.port()) + " ";
  const std::string wm_at =
      "host=127.0.0.1 port=" + std::to_string(node.port()) + " ";

  // The same settings on both, reloaded; true once both show them.
  auto configure =
      [&](const std::vector<std::pair<std::string, std::string>>& settings) {
        for (const auto& [name, value] : settings) {
          if (!pg.query("ALTER SYSTEM SET " + name + " = '" + value + "'"))
            return false;
          std::ofstream(node.data_dir() + "/walmux.conf", std::ios::app)
              << name << " = '" << value << "'\n";
        }
        if (!pg.query("SELECT pg_reload_conf()") ||
            !run_query(node.conninfo(false), "SELECT pg_reload_conf()"))
          return false;
        return wait_until(
            [&] {
              for (const auto& [name, value] : settings)
                for (const auto& at : {pg_at, wm_at}) {
                  auto shown = run_query(at + "user=postgres dbname=postgres "
                                              "sslmode=disable",
                                         "SHOW " + name);
                  if (!shown || (*shown)[0][0] != value)
                    return false;
                }
              return true;
            },
            10s);
      };
  // What a client gets: "TLSv1.3 TLS_AES_256_GCM_SHA384 256", or its error.
  auto session = [&](const std::string& at, const std::string& client) {
    auto r = run_query(at + "user=postgres dbname=postgres sslmode=require " +
                           client,
                       "SELECT version, cipher, bits FROM pg_stat_ssl WHERE "
                       "pid = pg_backend_pid()");
    if (!r) {
      // Without "connection to server at ..., port N failed: ".
      std::string text = r.err().message;
      const auto server = text.find("connection to server at");
      const auto failed = text.find("failed: ", server);
      if (server != std::string::npos && failed != std::string::npos)
        text = text.substr(failed + 8);
      return text;
    }
    return (*r)[0][0] + " " + (*r)[0][1] + " " + (*r)[0][2];
  };
  auto expect_same = [&](const std::string& client, const std::string& want) {
    const std::string theirs = session(pg_at, client);
    EXPECT_EQ(session(wm_at, client), theirs) << client;
    EXPECT_NE(theirs.find(want), std::string::npos) << client << ": " << theirs;
  };

  ASSERT_TRUE(wait_until(
      [&] { return session(pg_at, "").rfind("TLSv1.3 ", 0) == 0; }, 10s));
  // The defaults: TLS 1.2 or 1.3, the client takes 1.3.
  expect_same("", "TLSv1.3 ");
  expect_same("ssl_max_protocol_version=TLSv1.2", "TLSv1.2 ECDHE-RSA-");
  // Only TLS 1.3: a client that stops at 1.2 is refused.
  ASSERT_TRUE(configure({{"ssl_min_protocol_version", "TLSv1.3"}}));
  expect_same("", "TLSv1.3 ");
  expect_same("ssl_max_protocol_version=TLSv1.2", "SSL error");
  EXPECT_TRUE(wait_until(
      [&] {
        return node.log().find(
                   "HINT:  This may indicate that the client does not "
                   "support any SSL protocol version between TLSv1.3 and "
                   "TLSv1.3.") != std::string::npos;
      },
      10s))
      << node.log();
  // Only TLS 1.2 with two ciphers: the server's order wins, or the
  // client's once ssl_prefer_server_ciphers is off.
  ASSERT_TRUE(
      configure({{"ssl_min_protocol_version", "TLSv1.2"},
                 {"ssl_max_protocol_version", "TLSv1.2"},
                 {"ssl_ciphers",
                  "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"}}));
  expect_same("", "TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 128");
  expect_same("ssl_min_protocol_version=TLSv1.3", "SSL error");
  ASSERT_TRUE(configure({{"ssl_prefer_server_ciphers", "off"}}));
  expect_same("", "TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384 256");
  // openssl s_client speaks PostgreSQL's SSLRequest: its exit status, and
  // what it prints of the handshake.
  auto s_client = [&](int port, const std::string& options) {
    auto c = spawn({"/bin/sh", "-c",
                    "/usr/bin/openssl s_client -connect 127.0.0.1:" +
                        std::to_string(port) + " -starttls postgres " +
                        options + " </dev/null"},
                   d + "/s_client.log");
    const int rc = wait_exit(c.pid, 30s).value_or(-1);
    return std::pair{rc, read_file(d + "/s_client.log")};
  };
  // DHE with ssl_dh_params_file's group, 3072 bits, on both.
  ASSERT_TRUE(configure({{"ssl_ciphers", "DHE-RSA-AES128-GCM-SHA256"},
                         {"ssl_dh_params_file", "dh.pem"}}));
  expect_same("", "TLSv1.2 DHE-RSA-AES128-GCM-SHA256 128");
  for (int port : {pg.port(), node.port()}) {
    auto [rc, out] = s_client(port, "");
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("Server Temp Key: DH, 3072 bits"), std::string::npos)
        << port << ": " << out;
  }
  // Another curve for the key exchange: libpq's clients offer it too; a
  // client offering only X25519 is refused by both.
  ASSERT_TRUE(configure({{"ssl_ecdh_curve", "secp384r1"},
                         {"ssl_max_protocol_version", ""},
                         {"ssl_ciphers", "HIGH:MEDIUM:+3DES:!aNULL"}}));
  expect_same("", "TLSv1.3 ");
  expect_same("ssl_max_protocol_version=TLSv1.2", "TLSv1.2 ECDHE-RSA-");
  for (const char* groups : {"X25519", "secp384r1", "X25519:secp384r1"}) {
    const int theirs =
        s_client(pg.port(), "-groups " + std::string(groups)).first;
    EXPECT_EQ(s_client(node.port(), "-groups " + std::string(groups)).first,
              theirs)
        << groups;
    EXPECT_EQ(theirs == 0, std::string(groups) != "X25519") << groups;
  }

  // The key with a passphrase, given by ssl_passphrase_command, taken
  // again at a reload (ssl_passphrase_command_supports_reload).
  ASSERT_TRUE(configure({{"ssl_cert_file", "enc.crt"},
                         {"ssl_key_file", "enc.key"},
                         {"ssl_passphrase_command", "echo pencil"},
                         {"ssl_passphrase_command_supports_reload", "on"}}));
  ASSERT_TRUE(wait_until(
      [&] { return session(pg_at, "").rfind("TLSv1.3 ", 0) == 0; }, 10s))
      << session(pg_at, "");
  expect_same("", "TLSv1.3 ");
  // Both present the new certificate (a line of its base64 body).
  const std::string enc_crt = read_file(d + "/enc.crt");
  const std::string enc_line = enc_crt.substr(
      enc_crt.find('\n') + 1,
      enc_crt.find('\n', enc_crt.find('\n') + 1) - enc_crt.find('\n') - 1);
  for (int port : {pg.port(), node.port()}) {
    auto [rc, out] = s_client(port, "");
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find(enc_line), std::string::npos) << port << ": " << out;
  }

  // A bad value at reload: PostgreSQL's text in the log, and the
  // configuration in force stays (TLS 1.3 still served).
  for (const auto& [setting, text] :
       std::vector<std::pair<std::string, std::string>>{
           {"ssl_ciphers = 'NOSUCH'",
            "could not set the cipher list (no valid ciphers available)"},
           {"ssl_ecdh_curve = 'nosuch'",
            "ECDH: unrecognized curve name: nosuch"},
           {"ssl_min_protocol_version = 'TLSv1.3'\n"
            "ssl_max_protocol_version = 'TLSv1.2'",
            "could not set SSL protocol version range"},
           {"ssl_dh_params_file = 'nosuch.pem'",
            "could not open DH parameters file \"" + node.data_dir() +
                "/nosuch.pem\": No such file or directory"},
           {"ssl_dh_params_file = '" + d + "/server.crt'",
            "could not load DH parameters file: "},
           {"ssl_dh_params_file = '" + d + "/bad_dh.pem'",
            "invalid DH parameters: p is not prime"},
           {"ssl_passphrase_command = 'exit 3'", "command \"exit 3\" failed"},
           {"ssl_passphrase_command_supports_reload = off",
            "private key file \"" + node.data_dir() +
                "/enc.key\" cannot be reloaded because it requires a "
                "passphrase"}}) {
    const std::string conf = read_file(node.data_dir() + "/walmux.conf");
    std::ofstream(node.data_dir() + "/walmux.conf", std::ios::app)
        << setting << "\n";
    ASSERT_TRUE(run_query(node.conninfo(false), "SELECT pg_reload_conf()"));
    EXPECT_TRUE(wait_until(
        [&] { return node.log().find(text) != std::string::npos; }, 10s))
        << setting << "\n"
        << node.log();
    EXPECT_EQ(session(wm_at, ""), session(pg_at, "")) << setting;
    write_file(node.data_dir() + "/walmux.conf", conf);
  }
  EXPECT_NE(node.log().find("DETAIL:  child process exited with exit code 3"),
            std::string::npos)
      << node.log();
  EXPECT_NE(node.log().find("DETAIL:  \"ssl_min_protocol_version\" cannot be "
                            "higher than \"ssl_max_protocol_version\""),
            std::string::npos)
      << node.log();
}

} // namespace
} // namespace walmux::testing
