// auth.cpp: MD5 and SCRAM-SHA-256 computations (see auth.hpp).
#include "protocol/auth.hpp"

#include "protocol/pg_text.hpp"

#include <vector>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace walmux::auth {
namespace {

constexpr size_t key_length = 32; // SHA-256
constexpr int max_iterations = 1 << 24;

std::string hex(const unsigned char* p, size_t n) {
  std::string out;
  pgtext::append_hex(out, {reinterpret_cast<const char*>(p), n});
  return out;
}

std::string md5_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  return hex(md, len);
}

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md,
       &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string salted_password(std::string_view password, std::string_view salt,
                            int iterations) {
  unsigned char out[key_length];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), iterations, EVP_sha256(),
                    key_length, out);
  return std::string(reinterpret_cast<char*>(out), key_length);
}

std::string xor_bytes(std::string_view a, std::string_view b) {
  std::string out(a);
  for (size_t i = 0; i < out.size() && i < b.size(); ++i)
    out[i] = static_cast<char>(out[i] ^ b[i]);
  return out;
}

error exchange_error(const std::string& detail) {
  return error{sqlstate::protocol_violation, "malformed SCRAM message"}
      .with_detail(detail);
}

error auth_failed() {
  return error{sqlstate::invalid_password, "password authentication failed"};
}

// Splits "a=x,b=y,..." attributes in order; values may contain '='.
std::vector<std::pair<char, std::string_view>> attributes(std::string_view m) {
  std::vector<std::pair<char, std::string_view>> out;
  while (!m.empty()) {
    auto comma = m.find(',');
    auto part = m.substr(0, comma);
    if (part.size() >= 2 && part[1] == '=')
      out.emplace_back(part[0], part.substr(2));
    else
      out.emplace_back('\0', part);
    if (comma == std::string_view::npos)
      break;
    m.remove_prefix(comma + 1);
  }
  return out;
}

bool printable_nonce(std::string_view n) {
  if (n.empty())
    return false;
  for (char c : n)
    if (c < 0x21 || c > 0x7e || c == ',')
      return false;
  return true;
}

} // namespace

std::string md5_stored(std::string_view user, std::string_view password) {
  return "md5" + md5_hex(std::string(password) + std::string(user));
}

std::string md5_client_response(std::string_view user,
                                std::string_view password,
                                std::string_view salt4) {
  return "md5" +
         md5_hex(md5_stored(user, password).substr(3) + std::string(salt4));
}

bool md5_verify(std::string_view stored, std::string_view salt4,
                std::string_view response) {
  if (stored.size() != 35 || stored.substr(0, 3) != "md5")
    return false;
  return response ==
         "md5" + md5_hex(std::string(stored.substr(3)) + std::string(salt4));
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

expected<std::string> base64_decode(std::string_view text) {
  auto bad = error{sqlstate::protocol_violation, "invalid base64 data"};
  if (text.size() % 4 != 0)
    return bad;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '+' || c == '/' ||
              (c == '=' && i + 2 >= text.size());
    if (!ok)
      return bad;
  }
  if (text.size() >= 2 && text[text.size() - 2] == '=' && text.back() != '=')
    return bad;
  std::string out(3 * (text.size() / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0)
    return bad;
  // EVP_DecodeBlock counts padding as zero bytes.
  size_t pad = 0;
  if (!text.empty() && text.back() == '=')
    pad = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

scram_secret scram_make_secret(std::string_view password, std::string_view salt,
                               int iterations) {
  scram_secret s;
  s.iterations = iterations;
  s.salt = salt;
  auto sp = salted_password(password, salt, iterations);
  s.stored_key = sha256(hmac(sp, "Client Key"));
  s.server_key = hmac(sp, "Server Key");
  return s;
}

std::string scram_secret_to_text(const scram_secret& s) {
  return "SCRAM-SHA-256$" + std::to_string(s.iterations) + ":" +
         base64_encode(s.salt) + "$" + base64_encode(s.stored_key) + ":" +
         base64_encode(s.server_key);
}

expected<scram_secret> scram_secret_from_text(std::string_view text) {
  auto bad = error{sqlstate::invalid_parameter_value, "invalid SCRAM secret"};
  std::string_view prefix = "SCRAM-SHA-256$";
  if (text.substr(0, prefix.size()) != prefix)
    return bad;
  text.remove_prefix(prefix.size());
  auto colon1 = text.find(':');
  auto dollar = text.find('$');
  if (colon1 == std::string_view::npos || dollar == std::string_view::npos ||
      dollar < colon1)
    return bad;
  auto colon2 = text.find(':', dollar);
  if (colon2 == std::string_view::npos)
    return bad;
  scram_secret s;
  auto iter_text = text.substr(0, colon1);
  if (iter_text.empty() || iter_text.size() > 9)
    return bad;
  s.iterations = 0;
  for (char c : iter_text) {
    if (c < '0' || c > '9')
      return bad;
    s.iterations = s.iterations * 10 + (c - '0');
  }
  auto salt = base64_decode(text.substr(colon1 + 1, dollar - colon1 - 1));
  auto stored = base64_decode(text.substr(dollar + 1, colon2 - dollar - 1));
  auto server = base64_decode(text.substr(colon2 + 1));
  if (!salt || !stored || !server || stored->size() != key_length ||
      server->size() != key_length || s.iterations < 1 ||
      s.iterations > max_iterations)
    return bad;
  s.salt = *salt;
  s.stored_key = *stored;
  s.server_key = *server;
  return s;
}

scram_server::scram_server(scram_secret secret, std::string server_nonce,
                           std::string channel_binding, bool plus)
    : secret_(std::move(secret))
    , server_nonce_(std::move(server_nonce))
    , channel_binding_(std::move(channel_binding))
    , plus_(plus) {}

expected<std::string> scram_server::client_first(std::string_view message) {
  if (step_ != 0)
    return exchange_error("Unexpected client-first-message.");
  // gs2-header: "n,,", "y,," or "p=tls-server-end-point,," (authzid must
  // be empty), checked against what was offered as PostgreSQL checks it.
  constexpr std::string_view bound = "p=tls-server-end-point,,";
  if (message.substr(0, 2) == "p=") {
    if (channel_binding_.empty())
      return exchange_error("The client requires SCRAM channel binding, but "
                            "it is not supported.");
    if (message.substr(0, bound.size()) != bound)
      return exchange_error("Unsupported SCRAM channel-binding type.");
    if (!plus_)
      return exchange_error("The client selected SCRAM-SHA-256 without "
                            "channel binding, but the SCRAM message includes "
                            "channel binding data.");
    gs2_header_ = std::string(bound);
  } else {
    if (message.size() < 3 || (message[0] != 'n' && message[0] != 'y') ||
        message[1] != ',' || message[2] != ',')
      return exchange_error("Unexpected channel-binding flag or authzid.");
    if (plus_)
      return exchange_error("The client selected SCRAM-SHA-256-PLUS, but the "
                            "SCRAM message does not include channel binding "
                            "data.");
    // "y": the client could bind but thinks the server cannot.
    if (message[0] == 'y' && !channel_binding_.empty())
      return error{sqlstate::protocol_violation,
                   "SCRAM channel binding negotiation error"}
          .with_detail("The client supports SCRAM channel binding but thinks "
                       "the server does not.  However, this server does "
                       "support channel binding.");
    gs2_header_ = std::string(message.substr(0, 3));
  }
  client_first_bare_ = message.substr(gs2_header_.size());
  std::string_view client_nonce;
  for (const auto& [k, v] : attributes(client_first_bare_)) {
    if (k == 'm')
      return exchange_error("Extensions are not supported.");
    if (k == 'r')
      client_nonce = v;
  }
  auto attrs = attributes(client_first_bare_);
  if (attrs.size() < 2 || attrs[0].first != 'n' || attrs[1].first != 'r' ||
      !printable_nonce(client_nonce))
    return exchange_error("Could not parse client-first-message.");
  combined_nonce_ = std::string(client_nonce) + server_nonce_;
  server_first_ = "r=" + combined_nonce_ + ",s=" + base64_encode(secret_.salt) +
                  ",i=" + std::to_string(secret_.iterations);
  step_ = 1;
  return server_first_;
}

expected<std::string> scram_server::client_final(std::string_view message) {
  if (step_ != 1)
    return exchange_error("Unexpected client-final-message.");
  step_ = 2;
  auto attrs = attributes(message);
  if (attrs.size() < 3 || attrs[0].first != 'c' || attrs[1].first != 'r' ||
      attrs.back().first != 'p')
    return exchange_error("Could not parse client-final-message.");
  // c= repeats the gs2 header, and with "p=" the binding data itself:
  // the proof of talking to this certificate.
  const std::string expected_binding = base64_encode(
      gs2_header_ + (gs2_header_[0] == 'p' ? channel_binding_ : ""));
  if (attrs[0].second != expected_binding)
    return exchange_error(gs2_header_[0] == 'p'
                              ? "SCRAM channel binding check failed."
                              : "Unexpected SCRAM channel-binding attribute.");
  if (attrs[1].second != combined_nonce_)
    return exchange_error("Nonce does not match.");
  auto proof = base64_decode(attrs.back().second);
  if (!proof || proof->size() != key_length)
    return exchange_error("Malformed proof.");
  auto without_proof = message.substr(0, message.rfind(",p="));
  std::string auth_message = client_first_bare_ + "," + server_first_ + "," +
                             std::string(without_proof);
  auto client_signature = hmac(secret_.stored_key, auth_message);
  auto client_key = xor_bytes(*proof, client_signature);
  if (sha256(client_key) != secret_.stored_key)
    return auth_failed();
  return "v=" + base64_encode(hmac(secret_.server_key, auth_message));
}

scram_client::scram_client(std::string password, std::string client_nonce,
                           std::string user, std::string channel_binding)
    : password_(std::move(password))
    , client_nonce_(std::move(client_nonce))
    , user_(std::move(user))
    , channel_binding_(std::move(channel_binding)) {}

std::string scram_client::gs2_header() const {
  return channel_binding_.empty() ? "n,," : "p=tls-server-end-point,,";
}

std::string scram_client::client_first() {
  client_first_bare_ = "n=" + user_ + ",r=" + client_nonce_;
  step_ = 1;
  return gs2_header() + client_first_bare_;
}

expected<std::string> scram_client::server_first(std::string_view message) {
  if (step_ != 1)
    return exchange_error("Unexpected server-first-message.");
  step_ = 2;
  auto attrs = attributes(message);
  if (attrs.size() < 3 || attrs[0].first != 'r' || attrs[1].first != 's' ||
      attrs[2].first != 'i')
    return exchange_error("Could not parse server-first-message.");
  auto nonce = attrs[0].second;
  if (nonce.substr(0, client_nonce_.size()) != client_nonce_ ||
      nonce.size() == client_nonce_.size() || !printable_nonce(nonce))
    return exchange_error("The server's nonce does not extend ours.");
  auto salt = base64_decode(attrs[1].second);
  int iterations = 0;
  for (char c : attrs[2].second) {
    if (c < '0' || c > '9' || iterations > max_iterations / 10)
      return exchange_error("Invalid iteration count.");
    iterations = iterations * 10 + (c - '0');
  }
  if (!salt || salt->empty() || iterations < 1 || iterations > max_iterations)
    return exchange_error("Invalid salt or iteration count.");
  salted_password_ = salted_password(password_, *salt, iterations);
  std::string without_proof =
      "c=" + base64_encode(gs2_header() + channel_binding_) +
      ",r=" + std::string(nonce);
  auth_message_ =
      client_first_bare_ + "," + std::string(message) + "," + without_proof;
  auto client_key = hmac(salted_password_, "Client Key");
  auto signature = hmac(sha256(client_key), auth_message_);
  return without_proof +
         ",p=" + base64_encode(xor_bytes(client_key, signature));
}

status scram_client::server_final(std::string_view message) {
  if (step_ != 2)
    return exchange_error("Unexpected server-final-message.");
  step_ = 3;
  if (message.substr(0, 2) == "e=")
    return error{sqlstate::invalid_password,
                 "server rejected the SCRAM exchange: " +
                     std::string(message.substr(2))};
  if (message.substr(0, 2) != "v=")
    return exchange_error("Could not parse server-final-message.");
  auto expected_signature =
      hmac(hmac(salted_password_, "Server Key"), auth_message_);
  auto got = base64_decode(message.substr(2));
  if (!got || *got != expected_signature)
    return error{sqlstate::invalid_password, "invalid server signature"};
  return ok();
}

} // namespace walmux::auth
