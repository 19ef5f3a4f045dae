// auth_test.cpp: MD5 and SCRAM-SHA-256 against published vectors (RFC 7677)
// and PostgreSQL's stored formats; client and server against each other.
#include "protocol/auth.hpp"

#include <vector>

#include <gtest/gtest.h>

namespace walmux::auth {
namespace {

TEST(md5, postgres_response_format) {
  // md5(password + user) for "secret" and "alice", then with salt 01020304.
  auto stored = md5_stored("alice", "secret");
  EXPECT_EQ(stored.size(), 35u);
  EXPECT_EQ(stored.substr(0, 3), "md5");
  std::string salt("\x01\x02\x03\x04", 4);
  auto response = md5_client_response("alice", "secret", salt);
  EXPECT_TRUE(md5_verify(stored, salt, response));
  EXPECT_FALSE(
      md5_verify(stored, salt, md5_client_response("alice", "wrong", salt)));
  EXPECT_FALSE(md5_verify(stored, std::string("\0\0\0\0", 4), response));
  EXPECT_FALSE(md5_verify("md5short", salt, response));
}

TEST(base64, round_trips_and_rejects) {
  for (std::string s :
       std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar",
                                std::string("\0\xff\x10", 3)}) {
    auto back = base64_decode(base64_encode(s));
    ASSERT_TRUE(back) << s;
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_FALSE(base64_decode("Zm9"));
  EXPECT_FALSE(base64_decode("Zm9*"));
  EXPECT_FALSE(base64_decode("Z=9v"));
}

// RFC 7677 section 3: user "user", password "pencil".
TEST(scram, rfc7677_vector) {
  scram_client client("pencil", "rOprNGfwEbeRWgbNEkqO", "user");
  EXPECT_EQ(client.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  auto final_msg = client.server_first(
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
      "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  ASSERT_TRUE(final_msg) << final_msg.err().message;
  EXPECT_EQ(*final_msg,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  EXPECT_TRUE(
      client.server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));

  // The server side with the same salt and nonce produces the same answers.
  auto salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
  ASSERT_TRUE(salt);
  scram_server server(scram_make_secret("pencil", *salt, 4096),
                      "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
  auto first = server.client_first("n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  auto v = server.client_final(*final_msg);
  ASSERT_TRUE(v) << v.err().message;
  EXPECT_EQ(*v, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

TEST(scram, wrong_password_fails_with_28P01) {
  scram_server server(scram_make_secret("right", "saltsalt", 4096), "SNONCE");
  scram_client client("wrong", "CNONCE");
  auto first = server.client_first(client.client_first());
  ASSERT_TRUE(first);
  auto final_msg = client.server_first(*first);
  ASSERT_TRUE(final_msg);
  auto v = server.client_final(*final_msg);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.err().code, "28P01");
}

TEST(scram, server_rejects_malformed_and_out_of_order_messages) {
  auto secret = scram_make_secret("pw", "salt", 16);
  EXPECT_FALSE(
      scram_server(secret, "S").client_first("p=tls-server-end-point,,n=,r=x"));
  EXPECT_FALSE(scram_server(secret, "S").client_first("x,,n=,r=abc"));
  EXPECT_FALSE(scram_server(secret, "S").client_first("n,,n="));
  EXPECT_FALSE(scram_server(secret, "S").client_first("n,,m=ext,n=,r=a"));
  EXPECT_FALSE(scram_server(secret, "S").client_final("c=biws,r=x,p=AAAA"));
  scram_server s(secret, "S");
  ASSERT_TRUE(s.client_first("n,,n=,r=abc"));
  EXPECT_FALSE(s.client_final("c=biws,r=WRONG,p=AAAA"));
  scram_client c("pw", "abc");
  c.client_first();
  EXPECT_FALSE(c.server_first("r=zzz,s=c2FsdA==,i=16")); // nonce not ours
  scram_client c2("pw", "abc");
  c2.client_first();
  EXPECT_FALSE(c2.server_first("r=abcS,s=c2FsdA==,i=0"));
}

// SCRAM-SHA-256-PLUS: the proof covers the channel binding data, so a
// client bound to another certificate fails; and each side's offer must
// match what the client says it chose (PostgreSQL's negotiation checks).
TEST(scram, channel_binding_to_the_server_certificate) {
  const auto secret = scram_make_secret("pw", "saltsalt", 16);
  auto exchange = [&](const std::string& server_binding, bool plus,
                      const std::string& client_binding) -> status {
    scram_server server(secret, "SNONCE", server_binding, plus);
    scram_client client("pw", "CNONCE", "", client_binding);
    auto first = server.client_first(client.client_first());
    if (!first)
      return std::move(first).err();
    auto final_msg = client.server_first(*first);
    if (!final_msg)
      return std::move(final_msg).err();
    auto v = server.client_final(*final_msg);
    if (!v)
      return std::move(v).err();
    return client.server_final(*v);
  };
  EXPECT_TRUE(exchange("CERTHASH", true, "CERTHASH"));
  auto other = exchange("CERTHASH", true, "OTHERHASH");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.err().detail, "SCRAM channel binding check failed.");
  // Plain SCRAM over TLS still works ("n,,": the client does not bind).
  EXPECT_TRUE(exchange("CERTHASH", false, ""));
  // Binding data with SCRAM-SHA-256 chosen, or PLUS chosen without it.
  EXPECT_FALSE(exchange("CERTHASH", false, "CERTHASH"));
  EXPECT_FALSE(exchange("CERTHASH", true, ""));
  // Binding without TLS.
  EXPECT_FALSE(exchange("", false, "CERTHASH"));
  // "y,,": the client thinks the server cannot bind, but it can.
  scram_server server(secret, "S", "CERTHASH", false);
  auto y = server.client_first("y,,n=,r=abc");
  ASSERT_FALSE(y);
  EXPECT_EQ(y.err().message, "SCRAM channel binding negotiation error");
  EXPECT_TRUE(scram_server(secret, "S").client_first("y,,n=,r=abc"));
}

TEST(scram, secret_text_round_trip_postgres_format) {
  auto s = scram_make_secret("pencil", "0123456789abcdef", 4096);
  auto text = scram_secret_to_text(s);
  EXPECT_EQ(text.substr(0, 19), "SCRAM-SHA-256$4096:");
  auto back = scram_secret_from_text(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->salt, s.salt);
  EXPECT_EQ(back->stored_key, s.stored_key);
  EXPECT_EQ(back->server_key, s.server_key);
  EXPECT_FALSE(scram_secret_from_text("md5abc"));
  EXPECT_FALSE(scram_secret_from_text("SCRAM-SHA-256$x:AA==$AA==:AA=="));
  EXPECT_FALSE(scram_secret_from_text("SCRAM-SHA-256$4096:AA==$AA==:AA=="));
}

} // namespace
} // namespace walmux::auth
