// tls_channel.cpp: see tls_channel.hpp.
#include "actors/walsender/tls_channel.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/dh.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace walmux::actors {
namespace {

std::string openssl_reason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return "no SSL error reported";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

// A name as PostgreSQL's X509_NAME_to_cstring writes it for pg_stat_ssl:
// "/short name=value" for each entry, in the certificate's order.
std::string slash_separated(X509_NAME* name) {
  std::string out;
  const int count = X509_NAME_entry_count(name);
  for (int i = 0; i < count; ++i) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    const int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    const char* short_name = nid == NID_undef ? "?" : OBJ_nid2sn(nid);
    unsigned char* utf8 = nullptr;
    const int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    out += '/';
    out += short_name;
    out += '=';
    if (n > 0)
      out.append(reinterpret_cast<const char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
  }
  return out;
}

// The name in RFC 2253's form ("CN=alice,O=walmux"), as clientname=DN
// compares it.
std::string rfc2253(X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  std::string out;
  if (bio != nullptr &&
      X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    if (n > 0)
      out.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  return out;
}

void describe_client_certificate(SSL* ssl, tls_description& d) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr)
    return;
  d.client_certificate = true;
  X509_NAME* subject = X509_get_subject_name(cert);
  const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at >= 0) {
    ASN1_STRING* cn =
        X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
    d.client_cn.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                       static_cast<size_t>(ASN1_STRING_length(cn)));
    d.client_cn_has_nul = d.client_cn.find('\0') != std::string::npos;
  }
  d.client_dn_rfc2253 = rfc2253(subject);
  d.client_dn = slash_separated(subject);
  d.issuer_dn = slash_separated(X509_get_issuer_name(cert));
  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (serial != nullptr) {
    char* decimal = BN_bn2dec(serial);
    if (decimal != nullptr)
      d.client_serial = decimal;
    OPENSSL_free(decimal);
    BN_free(serial);
  }
  X509_free(cert);
}

// What the key's passphrase callback learns while the key loads.
struct passphrase_source {
  const std::string& command;
  std::optional<error> failure; // the command failed
  bool refused = false;         // asked at a reload without a command
};

// OpenSSL's passphrase callback at a reload without a command to run: the
// key cannot be read (PostgreSQL's dummy callback).
int no_passphrase(char*, int, int, void* data) {
  static_cast<passphrase_source*>(data)->refused = true;
  return 0;
}

// OpenSSL's passphrase callback with ssl_passphrase_command: runs it (%p
// is the prompt, %% a percent sign) and takes the first line it prints,
// without its line end. Blocks: keys load at start and at a reload, on
// the node's main thread.
int passphrase_from_command(char* buf, int size, int, void* data) {
  auto* source = static_cast<passphrase_source*>(data);
  std::string command;
  const std::string& given = source->command;
  for (size_t i = 0; i < given.size(); ++i) {
    if (given[i] == '%' && i + 1 < given.size()) {
      if (given[i + 1] == 'p') {
        command += "Enter PEM pass phrase:"; // as written, unquoted
        ++i;
        continue;
      }
      if (given[i + 1] == '%') {
        command += '%';
        ++i;
        continue;
      }
    }
    command += given[i];
  }
  FILE* out = ::popen(command.c_str(), "r");
  if (out == nullptr) {
    source->failure = error{sqlstate::config_file_error,
                            "could not execute command \"" + command +
                                "\": " + std::strerror(errno)};
    return 0;
  }
  std::string line;
  char chunk[256];
  while (std::fgets(chunk, sizeof chunk, out) != nullptr) {
    line += chunk;
    if (!line.empty() && line.back() == '\n')
      break;
    if (line.size() >= static_cast<size_t>(size)) // no more than fits
      break;
  }
  const bool read_failed = std::ferror(out) != 0;
  const int read_errno = errno; // before pclose() can change it
  const int status = ::pclose(out);
  if (read_failed) {
    source->failure = error{sqlstate::config_file_error,
                            "could not read from command \"" + command +
                                "\": " + std::strerror(read_errno)};
    return 0;
  }
  if (status != 0) {
    const std::string why =
        WIFEXITED(status) ? "child process exited with exit code " +
                                std::to_string(WEXITSTATUS(status))
        : WIFSIGNALED(status)
            ? "child process was terminated by signal " +
                  std::to_string(WTERMSIG(status)) + ": " +
                  strsignal(WTERMSIG(status))
            : "child process exited with unrecognized status " +
                  std::to_string(status);
    source->failure =
        error{sqlstate::config_file_error, "command \"" + command + "\" failed"}
            .with_detail(why);
    return 0;
  }
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
    line.pop_back();
  const int n =
      static_cast<int>(std::min(line.size(), static_cast<size_t>(size)));
  std::memcpy(buf, line.data(), static_cast<size_t>(n));
  return n;
}

} // namespace

expected<std::shared_ptr<tls_context>>
tls_context::load(const tls_settings& files) {
  const std::string& cert_file = files.cert;
  const std::string& key_file = files.key;
  const std::string& ca_file = files.ca;
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr)
    return error{sqlstate::config_file_error,
                 "could not create SSL context: " + openssl_reason()};
  std::shared_ptr<tls_context> out(new tls_context(ctx));
  // No renegotiation, no compression, no session tickets or cache: each
  // connection is new.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                               SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1)
    return error{sqlstate::config_file_error,
                 "could not load server certificate file \"" + cert_file +
                     "\": " + openssl_reason()};
  // As PostgreSQL: a key others can read is refused.
  struct stat st {};
  if (::stat(key_file.c_str(), &st) != 0)
    return error{sqlstate::config_file_error,
                 "could not access private key file \"" + key_file +
                     "\": " + std::strerror(errno)};
  const bool own = st.st_uid == ::geteuid();
  if ((own && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) ||
      (st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)) != 0))
    return error{sqlstate::config_file_error,
                 "private key file \"" + key_file +
                     "\" has group or world access"}
        .with_detail("File must have permissions u=rw (0600) or less if "
                     "owned by the database user, or permissions u=rw,g=r "
                     "(0640) or less if owned by root.");
  passphrase_source passphrase{files.passphrase_command, std::nullopt, false};
  const bool run_command =
      !files.passphrase_command.empty() &&
      (files.server_start || files.passphrase_command_supports_reload);
  if (run_command || !files.server_start) {
    SSL_CTX_set_default_passwd_cb(ctx, run_command ? passphrase_from_command
                                                   : no_passphrase);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, &passphrase);
  }
  const bool loaded =
      SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) == 1;
  SSL_CTX_set_default_passwd_cb(ctx, nullptr);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
  if (passphrase.failure) {
    ERR_clear_error();
    return std::move(*passphrase.failure);
  }
  if (!loaded && passphrase.refused) {
    ERR_clear_error();
    return error{sqlstate::config_file_error,
                 "private key file \"" + key_file +
                     "\" cannot be reloaded because it requires a "
                     "passphrase"};
  }
  if (!loaded)
    return error{sqlstate::config_file_error,
                 "could not load private key file \"" + key_file +
                     "\": " + openssl_reason()};
  if (SSL_CTX_check_private_key(ctx) != 1)
    return error{sqlstate::config_file_error,
                 "check of private key failed: " + openssl_reason()};
  X509* cert = SSL_CTX_get0_certificate(ctx);
  int digest_nid = NID_undef;
  if (cert == nullptr || OBJ_find_sigid_algs(X509_get_signature_nid(cert),
                                             &digest_nid, nullptr) != 1)
    return error{sqlstate::config_file_error,
                 "could not determine the signature algorithm of server "
                 "certificate file \"" +
                     cert_file + "\""};
  const EVP_MD* digest = digest_nid == NID_md5 || digest_nid == NID_sha1
                             ? EVP_sha256()
                             : EVP_get_digestbynid(digest_nid);
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int hash_length = 0;
  if (digest == nullptr || X509_digest(cert, digest, hash, &hash_length) != 1)
    return error{sqlstate::config_file_error,
                 "could not generate the hash of server certificate file \"" +
                     cert_file + "\""};
  out->end_point_hash_.assign(reinterpret_cast<const char*>(hash), hash_length);
  if (auto st = out->set_protocol(files); !st)
    return std::move(st).err();
  if (!ca_file.empty()) {
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca_file.c_str());
    if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1 ||
        names == nullptr) {
      if (names != nullptr)
        sk_X509_NAME_pop_free(names, X509_NAME_free);
      return error{sqlstate::config_file_error,
                   "could not load root certificate file \"" + ca_file +
                       "\": " + openssl_reason()};
    }
    // The authorities named to the client, so that it picks its
    // certificate; the context owns the list from here.
    SSL_CTX_set_client_CA_list(ctx, names);
    // Ask, do not require: pg_hba.conf decides about a client without
    // one. A certificate that does not verify fails the handshake.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, nullptr);
  }
  if (!files.crl_file.empty() || !files.crl_dir.empty()) {
    // Revocation is checked along the whole chain, as PostgreSQL checks it.
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    if (X509_STORE_load_locations(
            store, files.crl_file.empty() ? nullptr : files.crl_file.c_str(),
            files.crl_dir.empty() ? nullptr : files.crl_dir.c_str()) != 1) {
      const std::string what =
          files.crl_dir.empty() ? "file \"" + files.crl_file + "\""
          : files.crl_file.empty()
              ? "directory \"" + files.crl_dir + "\""
              : "file \"" + files.crl_file + "\" or directory \"" +
                    files.crl_dir + "\"";
      return error{sqlstate::config_file_error,
                   "could not load SSL certificate revocation list " + what +
                       ": " + openssl_reason()};
    }
    X509_STORE_set_flags(store,
                         X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  }
  return out;
}

status tls_context::set_protocol(const tls_settings& s) {
  // The versions in the order of OpenSSL's numbers.
  constexpr std::pair<const char*, int> versions[] = {
      {"TLSv1", TLS1_VERSION},
      {"TLSv1.1", TLS1_1_VERSION},
      {"TLSv1.2", TLS1_2_VERSION},
      {"TLSv1.3", TLS1_3_VERSION}};
  // One end of the range (0 when `name` is empty: no bound).
  auto bound = [&](const std::string& name, bool lower) -> expected<int> {
    if (name.empty())
      return 0;
    const char* setting =
        lower ? "ssl_min_protocol_version" : "ssl_max_protocol_version";
    int version = -1;
    for (const auto& [n, v] : versions)
      if (name == n)
        version = v;
    if (version < 0)
      return error{sqlstate::config_file_error,
                   "\"" + std::string(setting) + "\" setting \"" + name +
                       "\" not supported by this build"};
    if ((lower ? SSL_CTX_set_min_proto_version(ctx_, version)
               : SSL_CTX_set_max_proto_version(ctx_, version)) != 1)
      return error{sqlstate::config_file_error,
                   std::string("could not set ") +
                       (lower ? "minimum" : "maximum") +
                       " SSL protocol version"};
    return version;
  };
  auto min = bound(s.min_protocol, true);
  if (!min)
    return std::move(min).err();
  auto max = bound(s.max_protocol, false);
  if (!max)
    return std::move(max).err();
  if (*min != 0 && *max != 0 && *min > *max)
    return error{sqlstate::config_file_error,
                 "could not set SSL protocol version range"}
        .with_detail("\"ssl_min_protocol_version\" cannot be higher than "
                     "\"ssl_max_protocol_version\"");
  min_protocol_ = s.min_protocol.empty() ? "TLSv1" : s.min_protocol;
  max_protocol_ = s.max_protocol.empty() ? "TLSv1.3" : s.max_protocol;
  // Ephemeral keys: ssl_dh_params_file's group (or OpenSSL's built-in one
  // of the key's strength) for DHE, and the one curve of ssl_ecdh_curve
  // for ECDHE (and TLS 1.3's key exchange), as PostgreSQL sets them.
  if (s.dh_params_file.empty())
    SSL_CTX_set_dh_auto(ctx_, 1);
  else if (auto st = set_dh_params(s.dh_params_file); !st)
    return st;
  const int curve = OBJ_sn2nid(s.ecdh_curve.c_str());
  if (curve == NID_undef)
    return error{sqlstate::config_file_error,
                 "ECDH: unrecognized curve name: " + s.ecdh_curve};
  if (SSL_CTX_set1_groups(ctx_, &curve, 1) != 1) {
    ERR_clear_error();
    return error{sqlstate::config_file_error, "ECDH: could not create key"};
  }
  if (SSL_CTX_set_cipher_list(ctx_, s.ciphers.c_str()) != 1) {
    ERR_clear_error();
    return error{sqlstate::config_file_error,
                 "could not set the cipher list (no valid ciphers available)"};
  }
  if (s.prefer_server_ciphers)
    SSL_CTX_set_options(ctx_, SSL_OP_CIPHER_SERVER_PREFERENCE);
  return ok();
}

status tls_context::set_dh_params(const std::string& path) {
  BIO* file = BIO_new_file(path.c_str(), "r");
  if (file == nullptr) {
    const int err = errno;
    ERR_clear_error();
    return error{sqlstate::config_file_error,
                 "could not open DH parameters file \"" + path +
                     "\": " + std::strerror(err)};
  }
  EVP_PKEY* params = PEM_read_bio_Parameters(file, nullptr);
  BIO_free(file);
  if (params == nullptr || !EVP_PKEY_is_a(params, "DH")) {
    EVP_PKEY_free(params);
    return error{sqlstate::config_file_error,
                 "could not load DH parameters file: " + openssl_reason()};
  }
  EVP_PKEY_CTX* check = EVP_PKEY_CTX_new_from_pkey(nullptr, params, nullptr);
  const bool valid = check != nullptr && EVP_PKEY_param_check(check) == 1;
  EVP_PKEY_CTX_free(check);
  if (!valid) {
    // PostgreSQL's words for what OpenSSL's check found.
    bool not_prime = false, no_generator = false, not_safe = false;
    unsigned long code = 0;
    while ((code = ERR_get_error()) != 0) {
      not_prime = not_prime || ERR_GET_REASON(code) == DH_R_CHECK_P_NOT_PRIME;
      no_generator =
          no_generator || ERR_GET_REASON(code) == DH_R_NOT_SUITABLE_GENERATOR;
      not_safe =
          not_safe || ERR_GET_REASON(code) == DH_R_CHECK_P_NOT_SAFE_PRIME;
    }
    EVP_PKEY_free(params);
    return error{sqlstate::config_file_error,
                 not_prime ? "invalid DH parameters: p is not prime"
                 : no_generator && not_safe
                     ? "invalid DH parameters: neither suitable generator or "
                       "safe prime"
                     : "invalid DH parameters: the check failed"};
  }
  if (SSL_CTX_set0_tmp_dh_pkey(ctx_, params) != 1) { // owns it on success
    EVP_PKEY_free(params);
    return error{sqlstate::config_file_error,
                 "DH: could not set DH parameters: " + openssl_reason()};
  }
  return ok();
}

tls_context::~tls_context() {
  SSL_CTX_free(ctx_);
}

tls_channel::tls_channel(std::shared_ptr<tls_context> context)
    : context_(std::move(context)) {
  ssl_ = SSL_new(context_->raw());
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  // An empty read BIO means "wait for more", not end of file.
  BIO_set_mem_eof_return(in_, -1);
  BIO_set_mem_eof_return(out_, -1);
  SSL_set_bio(ssl_, in_, out_);
  SSL_set_accept_state(ssl_);
}

tls_channel::~tls_channel() {
  SSL_free(ssl_);
}

void tls_channel::drain(std::string& out) {
  char buf[16384];
  int n;
  while ((n = BIO_read(out_, buf, sizeof buf)) > 0)
    out.append(buf, static_cast<size_t>(n));
}

status tls_channel::failure(const char* what) {
  const unsigned long code = ERR_peek_error();
  error e{sqlstate::protocol_violation,
          std::string(what) + ": " + openssl_reason()};
  if (SSL_is_init_finished(ssl_) || ERR_GET_LIB(code) != ERR_LIB_SSL)
    return e;
  // A handshake that found no version both sides allow: PostgreSQL's hint.
  switch (ERR_GET_REASON(code)) {
  case SSL_R_NO_PROTOCOLS_AVAILABLE:
  case SSL_R_UNSUPPORTED_PROTOCOL:
  case SSL_R_BAD_PROTOCOL_VERSION_NUMBER:
  case SSL_R_UNKNOWN_PROTOCOL:
  case SSL_R_UNKNOWN_SSL_VERSION:
  case SSL_R_UNSUPPORTED_SSL_VERSION:
  case SSL_R_WRONG_SSL_VERSION:
  case SSL_R_WRONG_VERSION_NUMBER:
  case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
  case SSL_R_VERSION_TOO_HIGH:
  case SSL_R_VERSION_TOO_LOW:
    return std::move(e).with_hint(
        "This may indicate that the client does not support any SSL "
        "protocol version between " +
        context_->min_protocol() + " and " + context_->max_protocol() + ".");
  default:
    return e;
  }
}

status tls_channel::receive(std::string_view cipher, std::string& plain,
                            std::string& out) {
  while (!cipher.empty()) {
    const int wrote =
        BIO_write(in_, cipher.data(), static_cast<int>(cipher.size()));
    if (wrote <= 0)
      return failure("could not accept SSL connection");
    cipher.remove_prefix(static_cast<size_t>(wrote));
  }
  if (!SSL_is_init_finished(ssl_)) {
    const int rc = SSL_do_handshake(ssl_);
    drain(out);
    if (rc != 1) {
      const int e = SSL_get_error(ssl_, rc);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return ok();
      return failure("could not accept SSL connection");
    }
  }
  char buf[16384];
  while (true) {
    const int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      plain.append(buf, static_cast<size_t>(n));
      continue;
    }
    const int e = SSL_get_error(ssl_, n);
    drain(out);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
      return ok();
    if (e == SSL_ERROR_ZERO_RETURN)
      return error{"08006", "the client closed the SSL connection"};
    return failure("SSL error");
  }
}

status tls_channel::send(std::string_view plain, std::string& out) {
  while (!plain.empty()) {
    const int n = SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
    if (n <= 0)
      return failure("SSL error");
    plain.remove_prefix(static_cast<size_t>(n));
    drain(out);
  }
  return ok();
}

tls_description tls_channel::description() const {
  tls_description d;
  d.version = SSL_get_version(ssl_);
  const char* c = SSL_get_cipher_name(ssl_);
  d.cipher = c ? c : "";
  d.bits = SSL_get_cipher_bits(ssl_, nullptr);
  d.channel_binding = context_->end_point_hash();
  if (SSL_is_init_finished(ssl_))
    describe_client_certificate(ssl_, d);
  return d;
}

} // namespace walmux::actors
