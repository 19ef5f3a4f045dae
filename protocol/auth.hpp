// auth.hpp: password authentication computations: MD5 and SCRAM-SHA-256
// (RFC 5802, RFC 7677), for walmux as a server and as a client.
//
// Pure: randomness (nonces, salts) is passed in by the caller, so exchanges
// are reproducible in tests and the code stays free of I/O. OpenSSL provides
// SHA-256, HMAC, PBKDF2 and MD5.
//
// Scope: the gs2 headers "n,," (no channel binding), "y,," (client could
// bind, server did not offer) and, over TLS, "p=tls-server-end-point,,"
// (SCRAM-SHA-256-PLUS, RFC 5929's binding to the server certificate). Passwords
// are used as given: SASLprep normalization, which only changes non-ASCII
// passwords, is not applied.
#pragma once

#include "common/expected.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace walmux::auth {

// "md5" + hex(md5(hex(md5(password + user)) + salt)), what a client sends in
// answer to AuthenticationMD5Password.
std::string md5_client_response(std::string_view user,
                                std::string_view password,
                                std::string_view salt4);
// PostgreSQL's stored form, "md5" + hex(md5(password + user)).
std::string md5_stored(std::string_view user, std::string_view password);
// Checks a client's md5 response against the stored form.
bool md5_verify(std::string_view stored, std::string_view salt4,
                std::string_view response);

std::string base64_encode(std::string_view bytes);
expected<std::string> base64_decode(std::string_view text);

// A SCRAM-SHA-256 verifier, as PostgreSQL stores it in pg_authid:
// SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>
struct scram_secret {
  int iterations = 4096;
  std::string salt;       // raw bytes
  std::string stored_key; // 32 bytes
  std::string server_key; // 32 bytes
};
scram_secret scram_make_secret(std::string_view password, std::string_view salt,
                               int iterations);
std::string scram_secret_to_text(const scram_secret& s);
expected<scram_secret> scram_secret_from_text(std::string_view text);

// The server's side of one exchange.
class scram_server {
 public:
  // `server_nonce`: printable random characters (at least 18 recommended).
  // `channel_binding`: over TLS, the tls-server-end-point data (the hash of
  // the server's certificate): the server then offers SCRAM-SHA-256-PLUS,
  // and `plus` says whether the client chose it.
  scram_server(scram_secret secret, std::string server_nonce,
               std::string channel_binding = {}, bool plus = false);

  // client-first-message -> server-first-message.
  expected<std::string> client_first(std::string_view message);
  // client-final-message -> server-final-message ("v=..."); an error
  // (28P01) when the proof is wrong.
  expected<std::string> client_final(std::string_view message);

 private:
  scram_secret secret_;
  std::string server_nonce_;
  std::string channel_binding_;
  bool plus_ = false;
  std::string gs2_header_; // as the client sent it, for c= in its final
  std::string client_first_bare_;
  std::string server_first_;
  std::string combined_nonce_;
  int step_ = 0;
};

// The client's side of one exchange.
class scram_client {
 public:
  // `user` goes into client-first-message; libpq sends it empty because
  // PostgreSQL takes the name from the startup packet.
  // With `channel_binding` (tls-server-end-point data) it binds, as
  // SCRAM-SHA-256-PLUS.
  scram_client(std::string password, std::string client_nonce,
               std::string user = {}, std::string channel_binding = {});

  // client-first-message "n,,n=<user>,r=<nonce>".
  std::string client_first();
  // server-first-message -> client-final-message.
  expected<std::string> server_first(std::string_view message);
  // Verifies the server's signature in server-final-message.
  status server_final(std::string_view message);

 private:
  std::string gs2_header() const;

  std::string password_;
  std::string client_nonce_;
  std::string user_;
  std::string channel_binding_;
  std::string client_first_bare_;
  std::string auth_message_;
  std::string salted_password_;
  int step_ = 0;
};

} // namespace walmux::auth
