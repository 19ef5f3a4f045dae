// tls_channel.hpp: TLS for client connections (ssl = on), over OpenSSL
// memory BIOs so that the libuv loop keeps moving plain bytes: ciphertext
// from the socket goes in, the session's plaintext comes out, and the
// session's answers go out encrypted.
//
// A client asks with SSLRequest; walmux answers 'S' and the handshake
// follows, as with PostgreSQL. The protocol versions, the TLS 1.2 cipher
// list and the ECDH curve are PostgreSQL's settings (ssl_min_protocol_version
// TLSv1.2 by default, ssl_ciphers, ssl_ecdh_curve). With ssl_ca_file, clients
// are asked for a certificate, as PostgreSQL asks: one that does not verify
// against that file's authorities ends the handshake; none at all is let
// through, for pg_hba.conf's clientcert and cert to decide. With ssl_crl_file
// or ssl_crl_dir, a revoked certificate ends the handshake too.
#pragma once

#include "common/expected.hpp"

#include <memory>
#include <string>
#include <string_view>

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;

namespace walmux::actors {

// The ssl_* settings: the files of ssl_cert_file, ssl_key_file,
// ssl_ca_file, ssl_crl_file and ssl_crl_dir (paths as given; empty: not
// set), and the protocol settings, with PostgreSQL 15's defaults.
struct tls_settings {
  std::string cert;
  std::string key;
  std::string ca;       // empty: no client certificate is asked for
  std::string crl_file; // revoked client certificates (with `ca`)
  std::string crl_dir;
  std::string min_protocol = "TLSv1.2"; // TLSv1, TLSv1.1, TLSv1.2, TLSv1.3
  std::string max_protocol;             // the same, or empty: no maximum
  std::string ciphers = "HIGH:MEDIUM:+3DES:!aNULL"; // TLS 1.2 and below
  bool prefer_server_ciphers = true;
  std::string ecdh_curve = "prime256v1";
  std::string dh_params_file; // empty: OpenSSL's group for the key's strength
  // The key's passphrase: the first line `passphrase_command` prints (%p
  // stands for the prompt). At a reload only with
  // passphrase_command_supports_reload, as in PostgreSQL; at start without
  // a command OpenSSL asks on the terminal.
  std::string passphrase_command;
  bool passphrase_command_supports_reload = false;
  bool server_start = true; // false when loaded again at a reload
};

// The server's certificate and key and the protocol settings, loaded at
// start and again at each reload.
class tls_context {
 public:
  // Errors are PostgreSQL's: they name the file ("could not load server
  // certificate file ..."), the setting ("ECDH: unrecognized curve name:
  // ...") or the range ("could not set SSL protocol version range").
  static expected<std::shared_ptr<tls_context>>
  load(const tls_settings& settings);
  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  ssl_ctx_st* raw() const { return ctx_; }
  // The certificate's tls-server-end-point hash (RFC 5929: its signature's
  // hash function, SHA-256 in place of MD5 and SHA-1).
  const std::string& end_point_hash() const { return end_point_hash_; }
  // The protocol range, for a failed handshake's hint: "TLSv1.2" and
  // "TLSv1.3" by default.
  const std::string& min_protocol() const { return min_protocol_; }
  const std::string& max_protocol() const { return max_protocol_; }

 private:
  explicit tls_context(ssl_ctx_st* ctx)
      : ctx_(ctx) {}
  // ssl_min/max_protocol_version, ssl_dh_params_file, ssl_ecdh_curve,
  // ssl_ciphers and ssl_prefer_server_ciphers, in PostgreSQL's order and
  // with its texts.
  status set_protocol(const tls_settings& s);
  // ssl_dh_params_file: PEM DH parameters, checked as PostgreSQL checks
  // them (a prime p, a suitable generator or a safe prime).
  status set_dh_params(const std::string& path);
  ssl_ctx_st* ctx_;
  std::string end_point_hash_;
  std::string min_protocol_;
  std::string max_protocol_;
};

struct tls_description {
  std::string version;
  std::string cipher;
  int bits = 0;
  // RFC 5929 tls-server-end-point: the server certificate's hash, what
  // SCRAM-SHA-256-PLUS binds to.
  std::string channel_binding;
  // The client's certificate, verified against ssl_ca_file (an unverified
  // one ends the handshake, so a present one is a valid one).
  bool client_certificate = false;
  std::string client_cn;          // its subject's common name ("alice")
  bool client_cn_has_nul = false; // a NUL inside the CN: refused
  std::string client_dn_rfc2253;  // "CN=alice,O=walmux", for clientname=DN
  // pg_stat_ssl's columns, in PostgreSQL's forms: "/O=walmux/CN=alice",
  // the serial in decimal, "/CN=walmux test CA".
  std::string client_dn;
  std::string client_serial;
  std::string issuer_dn;
};

// One connection's TLS state. Not thread-safe: connection_link serialises
// every call.
class tls_channel {
 public:
  explicit tls_channel(std::shared_ptr<tls_context> context);
  ~tls_channel();
  tls_channel(const tls_channel&) = delete;
  tls_channel& operator=(const tls_channel&) = delete;

  // Ciphertext from the client: the plaintext it held is appended to
  // `plain`, and what TLS must send back (handshake records) to `out`.
  status receive(std::string_view cipher, std::string& plain, std::string& out);
  // Plaintext for the client, encrypted into `out`.
  status send(std::string_view plain, std::string& out);
  // Once the handshake is done: "TLSv1.3", "TLS_AES_256_GCM_SHA384", 256.
  tls_description description() const;

 private:
  void drain(std::string& out);
  status failure(const char* what);

  std::shared_ptr<tls_context> context_;
  ssl_st* ssl_ = nullptr;
  bio_st* in_ = nullptr;  // ciphertext from the client (owned by ssl_)
  bio_st* out_ = nullptr; // ciphertext to the client (owned by ssl_)
};

} // namespace walmux::actors
