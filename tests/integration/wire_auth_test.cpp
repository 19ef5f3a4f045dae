// wire_auth_test.cpp: the wire protocol and authentication codecs against
// real PostgreSQL software, in both roles:
//  - as a client: our framer, messages and SCRAM/MD5/cleartext code log in to
//    a real PostgreSQL 15 server and run a query; the SCRAM and MD5 secrets we
//    compute equal what PostgreSQL stored in pg_authid;
//  - as a server: real libpq (PQconnectdb, sslmode=prefer) logs in to a small
//    server built from our codecs, with SCRAM and MD5, and reads a result.
#include "protocol/auth.hpp"
#include "protocol/frame.hpp"
#include "protocol/messages.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/process.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>
#include <libpq-fe.h>

namespace walmux::testing {
namespace {

using namespace walmux::wire;

// A blocking connection that speaks frames; test code only.
class blocking_conn {
 public:
  explicit blocking_conn(int fd, frame_mode mode)
      : fd_(fd)
      , reader_(mode) {}
  ~blocking_conn() { ::close(fd_); }
  void send(const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n <= 0)
        return;
      done += static_cast<size_t>(n);
    }
  }
  std::optional<frame> receive() {
    while (true) {
      auto f = reader_.next();
      if (!f)
        return std::nullopt;
      if (*f)
        return std::move(**f);
      char buf[4096];
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0)
        return std::nullopt;
      reader_.feed(std::string_view(buf, static_cast<size_t>(n)));
    }
  }
  frame_reader& reader() { return reader_; }

 private:
  int fd_;
  frame_reader reader_;
};

// Logs in as `user` with `password` and returns SELECT current_user, or the
// server's error message.
std::string login_and_query(int port, const std::string& user,
                            const std::string& password) {
  int fd = connect_loopback(port);
  if (fd < 0)
    return "connect failed";
  blocking_conn conn(fd, frame_mode::typed);
  std::string out;
  encode(out, startup_message{protocol_3_0,
                              {{"user", user}, {"database", "postgres"}}});
  conn.send(out);
  std::optional<auth::scram_client> scram;
  while (auto f = conn.receive()) {
    auto m = decode_backend(*f);
    if (!m)
      return "decode error: " + m.err().message;
    if (auto* e = std::get_if<error_response>(&*m))
      return "ERROR: " + std::string(e->fields.get('M'));
    if (auto* a = std::get_if<authentication>(&*m)) {
      out.clear();
      if (a->code == authentication::cleartext_password) {
        encode(out, password_packet{encode_password_body(password)});
      } else if (a->code == authentication::md5_password) {
        encode(out, password_packet{encode_password_body(
                        auth::md5_client_response(user, password, a->salt))});
      } else if (a->code == authentication::sasl) {
        scram.emplace(password, "walmuxtestclientnonce");
        encode(out, password_packet{encode_sasl_initial_body(
                        {"SCRAM-SHA-256", scram->client_first()})});
      } else if (a->code == authentication::sasl_continue) {
        auto final_msg = scram->server_first(a->data);
        if (!final_msg)
          return "scram: " + final_msg.err().message;
        encode(out, password_packet{*final_msg});
      } else if (a->code == authentication::sasl_final) {
        if (auto st = scram->server_final(a->data); !st)
          return "scram final: " + st.err().message;
      }
      if (!out.empty())
        conn.send(out);
      continue;
    }
    if (std::holds_alternative<ready_for_query>(*m))
      break;
  }
  out.clear();
  encode(out, query{"SELECT current_user"});
  conn.send(out);
  std::string result = "no row";
  while (auto f = conn.receive()) {
    auto m = decode_backend(*f);
    if (!m)
      return "decode error: " + m.err().message;
    if (auto* row = std::get_if<data_row>(&*m))
      result = row->values.at(0).value_or("NULL");
    if (std::holds_alternative<ready_for_query>(*m))
      break;
  }
  out.clear();
  encode(out, terminate{});
  conn.send(out);
  return result;
}

class wire_client : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = pg_cluster::start();
    ASSERT_TRUE(c) << c.err().message;
    cluster_ = c->release();
    ASSERT_TRUE(
        cluster_->query("SET password_encryption = 'scram-sha-256';"
                        "CREATE ROLE scram_user LOGIN PASSWORD 'pencil';"
                        "SET password_encryption = 'md5';"
                        "CREATE ROLE md5_user LOGIN PASSWORD 'secret';"
                        "CREATE ROLE clear_user LOGIN PASSWORD 'plain'"));
    // Password rules first; the first matching line wins.
    std::string hba = cluster_->dir() + "/data/pg_hba.conf";
    std::string old;
    {
      std::ifstream in(hba);
      old.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::ofstream(hba) << "host all scram_user 127.0.0.1/32 scram-sha-256\n"
                          "host all md5_user 127.0.0.1/32 md5\n"
                          "host all clear_user 127.0.0.1/32 password\n"
                       << old;
    ASSERT_TRUE(cluster_->query("SELECT pg_reload_conf()"));
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  static pg_cluster* cluster_;
};
pg_cluster* wire_client::cluster_ = nullptr;

TEST_F(wire_client, scram_md5_cleartext_and_trust_logins) {
  EXPECT_EQ(login_and_query(cluster_->port(), "scram_user", "pencil"),
            "scram_user");
  EXPECT_EQ(login_and_query(cluster_->port(), "md5_user", "secret"),
            "md5_user");
  EXPECT_EQ(login_and_query(cluster_->port(), "clear_user", "plain"),
            "clear_user");
  EXPECT_EQ(login_and_query(cluster_->port(), "postgres", ""), "postgres");
  EXPECT_EQ(login_and_query(cluster_->port(), "scram_user", "wrong"),
            "ERROR: password authentication failed for user \"scram_user\"");
  EXPECT_EQ(login_and_query(cluster_->port(), "md5_user", "wrong"),
            "ERROR: password authentication failed for user \"md5_user\"");
}

TEST_F(wire_client, computed_secrets_equal_postgres_stored_ones) {
  auto rows = cluster_->query(
      "SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN "
      "('scram_user', 'md5_user') ORDER BY rolname");
  ASSERT_TRUE(rows) << rows.err().message;
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0][1], auth::md5_stored("md5_user", "secret"));
  auto stored = auth::scram_secret_from_text((*rows)[1][1]);
  ASSERT_TRUE(stored) << (*rows)[1][1];
  auto ours =
      auth::scram_make_secret("pencil", stored->salt, stored->iterations);
  EXPECT_EQ(auth::scram_secret_to_text(ours), (*rows)[1][1]);
}

// A one-connection server from our codecs; `method` is "scram" or "md5".
void serve_one(int listen_fd, std::string method, std::string password) {
  int fd = ::accept(listen_fd, nullptr, nullptr);
  if (fd < 0)
    return;
  blocking_conn conn(fd, frame_mode::untyped);
  std::string user;
  while (true) {
    auto f = conn.receive();
    if (!f)
      return;
    auto init = decode_initial(*f);
    if (!init)
      return;
    if (std::holds_alternative<ssl_request>(*init) ||
        std::holds_alternative<gssenc_request>(*init)) {
      conn.send("N");
      continue;
    }
    auto& s = std::get<startup_message>(*init);
    user = s.get("user") ? *s.get("user") : "";
    break;
  }
  conn.reader().set_mode(frame_mode::typed);
  std::string out;
  auto fail = [&](const std::string& msg) {
    out.clear();
    encode(out, error_response{notice_from_error(
                    error{sqlstate::invalid_password, msg}, "FATAL")});
    conn.send(out);
  };
  if (method == "md5") {
    std::string salt("\x0a\x0b\x0c\x0d", 4);
    authentication a;
    a.code = authentication::md5_password;
    a.salt = salt;
    encode(out, a);
    conn.send(out);
    auto f = conn.receive();
    auto pw = f ? decode_password(password_packet{f->body})
                : expected<std::string>(error{});
    if (!pw || !auth::md5_verify(auth::md5_stored(user, password), salt, *pw))
      return fail("password authentication failed for user \"" + user + "\"");
  } else {
    authentication a;
    a.code = authentication::sasl;
    a.mechanisms = {"SCRAM-SHA-256"};
    encode(out, a);
    conn.send(out);
    auth::scram_server server(
        auth::scram_make_secret(password, "walmuxsalt", 4096),
        "walmuxservernonce");
    auto f1 = conn.receive();
    auto init = f1 ? decode_sasl_initial(password_packet{f1->body})
                   : expected<sasl_initial_response>(error{});
    if (!init || !init->data)
      return fail("malformed SASL initial response");
    auto first = server.client_first(*init->data);
    if (!first)
      return fail(first.err().message);
    out.clear();
    a = authentication{};
    a.code = authentication::sasl_continue;
    a.data = *first;
    encode(out, a);
    conn.send(out);
    auto f2 = conn.receive();
    if (!f2)
      return;
    auto final_msg = server.client_final(f2->body);
    if (!final_msg)
      return fail("password authentication failed for user \"" + user + "\"");
    out.clear();
    a.code = authentication::sasl_final;
    a.data = *final_msg;
    encode(out, a);
    conn.send(out);
  }
  out.clear();
  encode(out, authentication{});
  encode(out, parameter_status{"server_version", "15.20"});
  encode(out, parameter_status{"integer_datetimes", "on"});
  encode(out, parameter_status{"client_encoding", "UTF8"});
  encode(out, parameter_status{"standard_conforming_strings", "on"});
  encode(out, backend_key_data{1234, 5678});
  encode(out, ready_for_query{'I'});
  conn.send(out);
  while (auto f = conn.receive()) {
    auto m = decode_frontend(*f);
    if (!m || std::holds_alternative<terminate>(*m))
      return;
    if (std::holds_alternative<query>(*m)) {
      out.clear();
      row_description rd;
      rd.fields = {{"greeting", 0, 0, 25, -1, -1, 0}};
      encode(out, rd);
      encode(out, data_row{{std::string("hello from walmux")}});
      encode(out, command_complete{"SELECT 1"});
      encode(out, ready_for_query{'I'});
      conn.send(out);
    }
  }
}

std::string libpq_query(const std::string& method, const std::string& server_pw,
                        const std::string& client_pw) {
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(lfd, 1) != 0 ||
      ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(lfd);
    return "listen failed";
  }
  std::thread server(serve_one, lfd, method, server_pw);
  std::string info =
      "host=127.0.0.1 port=" + std::to_string(ntohs(addr.sin_port)) +
      " user=alice dbname=app password=" + client_pw +
      " sslmode=prefer connect_timeout=10";
  PGconn* conn = PQconnectdb(info.c_str());
  std::string result;
  if (PQstatus(conn) != CONNECTION_OK) {
    result = std::string("connect: ") + PQerrorMessage(conn);
  } else {
    PGresult* res = PQexec(conn, "SELECT 'anything'");
    result = PQresultStatus(res) == PGRES_TUPLES_OK
                 ? std::string(PQfname(res, 0)) + "=" + PQgetvalue(res, 0, 0)
                 : std::string("query: ") + PQerrorMessage(conn);
    result += " server_version=" + std::to_string(PQserverVersion(conn));
    PQclear(res);
  }
  PQfinish(conn);
  server.join();
  ::close(lfd);
  return result;
}

TEST(wire_server, libpq_logs_in_with_scram_and_md5_and_reads_a_row) {
  EXPECT_EQ(libpq_query("scram", "pencil", "pencil"),
            "greeting=hello from walmux server_version=150020");
  EXPECT_EQ(libpq_query("md5", "secret", "secret"),
            "greeting=hello from walmux server_version=150020");
}

TEST(wire_server, libpq_sees_wrong_password_rejected) {
  auto scram = libpq_query("scram", "pencil", "wrong");
  EXPECT_NE(scram.find("password authentication failed for user \"alice\""),
            std::string::npos)
      << scram;
  auto md5 = libpq_query("md5", "secret", "wrong");
  EXPECT_NE(md5.find("password authentication failed for user \"alice\""),
            std::string::npos)
      << md5;
}

} // namespace
} // namespace walmux::testing
