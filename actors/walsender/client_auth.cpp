// client_auth.cpp: see client_auth.hpp.
#include "actors/walsender/client_auth.hpp"

#include "protocol/messages.hpp"
#include "storage/data_dir.hpp"

#include <fstream>
#include <functional>
#include <random>
#include <sstream>

namespace walmux::actors {
namespace {

// Printable random characters for a SCRAM nonce (base64 of 18 bytes).
std::string random_nonce() {
  std::random_device rd;
  std::string bytes(18, '\0');
  for (auto& c : bytes)
    c = static_cast<char>(rd() & 0xff);
  return auth::base64_encode(bytes);
}

// The salt of the exchange run for a user without a usable secret: stable
// for a name within a process, so that repeated tries look like those of a
// real user, as PostgreSQL's mock authentication does.
std::string mock_salt(const std::string& user) {
  static const uint64_t key = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) | rd();
  }();
  std::mt19937_64 g(key ^ std::hash<std::string>{}(user));
  std::string salt(16, '\0');
  for (auto& c : salt)
    c = static_cast<char>(g() & 0xff);
  return salt;
}

bool is_md5_secret(const std::string& s) {
  return s.rfind("md5", 0) == 0;
}

std::string encoded(const wire::authentication& a) {
  std::string out;
  wire::encode(out, a);
  return out;
}

} // namespace

expected<std::string> read_config_text(const std::string& path,
                                       const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return error{sqlstate::config_file_error,
                 std::string("could not open ") + what + " \"" + path + "\""};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

expected<std::string> read_hba_text(const std::string& hba_path) {
  if (hba_path.empty())
    return std::string(builtin_hba_rules);
  return read_config_text(hba_path, "configuration file");
}

expected<std::shared_ptr<const auth_config>>
load_auth_config(const std::string& data_dir, const auth_files& files) {
  auto config = std::make_shared<auth_config>();
  config->hba_path = storage::path_in_data_dir(data_dir, files.hba_file);
  auto text = read_hba_text(config->hba_path);
  if (!text)
    return std::move(text).err();
  auto rules = hba::parse_hba(
      *text, config->hba_path.empty() ? "(built-in)" : config->hba_path);
  if (!rules)
    return std::move(rules).err();
  config->rules = std::move(*rules);
  // An optional file (empty name: none) read whole and parsed by `parse`,
  // its path kept for the views; errors name the file.
  auto load_optional = [&data_dir](const std::string& name, const char* what,
                                   std::string& path, auto& into,
                                   auto parse) -> status {
    if (name.empty())
      return ok();
    path = storage::path_in_data_dir(data_dir, name);
    auto text = read_config_text(path, what);
    if (!text)
      return std::move(text).err();
    auto parsed = parse(*text, path);
    if (!parsed)
      return std::move(parsed).err();
    into = std::move(*parsed);
    return ok();
  };
  if (auto st =
          load_optional(files.auth_file, "password file", config->password_path,
                        config->secrets, hba::parse_password_file);
      !st)
    return std::move(st).err();
  if (auto st =
          load_optional(files.ident_file, "usermap file", config->ident_path,
                        config->ident, hba::parse_ident);
      !st)
    return std::move(st).err();
  if (files.ssl) {
    // Each path relative to the data directory; an empty one stays unset.
    auto path = [&](const std::string& f) {
      return f.empty() ? std::string() : storage::path_in_data_dir(data_dir, f);
    };
    tls_settings settings = files.tls;
    for (std::string* f :
         {&settings.cert, &settings.key, &settings.ca, &settings.crl_file,
          &settings.crl_dir, &settings.dh_params_file})
      *f = path(*f);
    auto tls = tls_context::load(settings);
    if (!tls)
      return std::move(tls).err();
    config->tls = std::move(*tls);
  }
  return std::shared_ptr<const auth_config>(std::move(config));
}

client_auth::client_auth(std::shared_ptr<const auth_config> config,
                         hba::connection who, std::string peer_text,
                         tls_description tls)
    : config_(std::move(config))
    , who_(std::move(who))
    , peer_text_(std::move(peer_text))
    , tls_(std::move(tls)) {}

client_auth::outcome client_auth::refuse_by_method(std::string detail) {
  if (rule_->method == hba::auth_method::password ||
      rule_->method == hba::auth_method::md5 ||
      rule_->method == hba::auth_method::scram_sha_256)
    return refuse_password(std::move(detail));
  const std::string text = rule_->method == hba::auth_method::cert
                               ? "certificate authentication failed"
                               : "\"trust\" authentication failed";
  refusal_ = error{sqlstate::invalid_authorization,
                   text + " for user \"" + who_.user + "\""};
  log_detail_ = std::move(detail);
  step_ = step::none;
  return outcome::refused;
}

client_auth::outcome client_auth::accept() {
  const bool cert_method = rule_->method == hba::auth_method::cert;
  if (!cert_method && rule_->clientcert != hba::client_cert::verify_full)
    return outcome::accepted;
  const std::string& name =
      rule_->clientname_dn ? tls_.client_dn_rfc2253 : tls_.client_cn;
  if (name.empty())
    return refuse_by_method("certificate authentication failed for user \"" +
                            who_.user +
                            "\": client certificate contains no user name");
  if (!rule_->map.empty()) {
    // A user name map decides (PostgreSQL's check_usermap).
    auto allowed = hba::map_allows(config_->ident, rule_->map, name, who_.user);
    if (!allowed)
      return refuse_by_method(allowed.err().message);
    if (*allowed)
      return outcome::accepted;
    return refuse_by_method("no match in usermap \"" + rule_->map +
                            "\" for user \"" + who_.user +
                            "\" authenticated as \"" + name + "\"");
  }
  if (name == who_.user)
    return outcome::accepted;
  std::string detail = "provided user name (" + who_.user +
                       ") and authenticated user name (" + name +
                       ") do not match";
  if (!cert_method)
    detail += "\ncertificate validation (clientcert=verify-full) failed for "
              "user \"" +
              who_.user + "\": " + (rule_->clientname_dn ? "DN" : "CN") +
              " mismatch";
  return refuse_by_method(std::move(detail));
}

client_auth::outcome client_auth::refuse_password(std::string detail) {
  refusal_ =
      error{sqlstate::invalid_password,
            "password authentication failed for user \"" + who_.user + "\""};
  log_detail_ = std::move(detail);
  step_ = step::none;
  return outcome::refused;
}

client_auth::outcome client_auth::begin(std::string& out) {
  if (!config_) {
    refusal_ = error{sqlstate::internal_error,
                     "client authentication is not configured"};
    return outcome::refused;
  }
  const hba::rule* r = hba::match(config_->rules, who_);
  const std::string who_text =
      "host \"" + peer_text_ + "\", user \"" + who_.user + "\", database \"" +
      who_.database + "\", " + (who_.ssl ? "SSL encryption" : "no encryption");
  if (r == nullptr) {
    refusal_ = error{sqlstate::invalid_authorization,
                     "no pg_hba.conf entry for " + who_text};
    return outcome::refused;
  }
  rule_line_ = r->line_number;
  rule_ = r;
  // Before the method, as PostgreSQL: a rule with clientcert (cert implies
  // it) wants a verified certificate, whatever the method.
  if (r->clientcert != hba::client_cert::off && !tls_.client_certificate) {
    refusal_ = error{sqlstate::invalid_authorization,
                     "connection requires a valid client certificate"};
    return outcome::refused;
  }
  if (tls_.client_cn_has_nul) {
    refusal_ = error{sqlstate::protocol_violation,
                     "SSL certificate's common name contains embedded null"};
    return outcome::refused;
  }
  auto found = config_->secrets.find(who_.user);
  if (found != config_->secrets.end())
    secret_ = found->second;
  switch (r->method) {
  case hba::auth_method::trust:
  case hba::auth_method::cert:
    return accept();
  case hba::auth_method::reject:
    refusal_ = error{sqlstate::invalid_authorization,
                     "pg_hba.conf rejects connection for " + who_text};
    return outcome::refused;
  case hba::auth_method::password: {
    wire::authentication a;
    a.code = wire::authentication::cleartext_password;
    out += encoded(a);
    step_ = step::cleartext;
    return outcome::waiting;
  }
  case hba::auth_method::md5:
    // As PostgreSQL: md5 with a SCRAM secret runs SCRAM.
    if (secret_ && is_md5_secret(*secret_)) {
      std::random_device rd;
      md5_salt_.resize(4);
      for (auto& c : md5_salt_)
        c = static_cast<char>(rd() & 0xff);
      wire::authentication a;
      a.code = wire::authentication::md5_password;
      a.salt = md5_salt_;
      out += encoded(a);
      step_ = step::md5;
      return outcome::waiting;
    }
    return start_scram(out);
  case hba::auth_method::scram_sha_256:
    return start_scram(out);
  case hba::auth_method::other:
    break; // only on local lines, which never match
  }
  refusal_ = error{sqlstate::invalid_authorization,
                   "pg_hba.conf rejects connection for " + who_text};
  return outcome::refused;
}

client_auth::outcome client_auth::start_scram(std::string& out) {
  std::optional<auth::scram_secret> secret;
  if (!secret_)
    scram_problem_ = "Role \"" + who_.user + "\" does not exist.";
  else if (is_md5_secret(*secret_))
    scram_problem_ =
        "User \"" + who_.user + "\" does not have a valid SCRAM secret.";
  else if (auto s = auth::scram_secret_from_text(*secret_))
    secret = std::move(*s);
  else
    scram_problem_ =
        "User \"" + who_.user + "\" does not have a valid SCRAM secret.";
  if (!secret) {
    // A mock exchange that cannot succeed: the client learns nothing
    // about which users exist.
    auth::scram_secret mock;
    mock.salt = mock_salt(who_.user);
    mock.stored_key = (random_nonce() + random_nonce()).substr(0, 32);
    mock.server_key = mock.stored_key;
    secret = std::move(mock);
  }
  scram_secret_ = std::move(*secret);
  wire::authentication a;
  a.code = wire::authentication::sasl;
  // Over TLS, PostgreSQL's order: the bound mechanism first.
  if (!tls_.channel_binding.empty())
    a.mechanisms.push_back("SCRAM-SHA-256-PLUS");
  a.mechanisms.push_back("SCRAM-SHA-256");
  out += encoded(a);
  step_ = step::sasl_initial;
  return outcome::waiting;
}

client_auth::outcome client_auth::check_cleartext(const std::string& password) {
  if (!secret_)
    return refuse_password("Role \"" + who_.user + "\" does not exist.");
  if (is_md5_secret(*secret_)) {
    if (auth::md5_stored(who_.user, password) == *secret_)
      return accept();
    return refuse_password("Password does not match for user \"" + who_.user +
                           "\".");
  }
  auto s = auth::scram_secret_from_text(*secret_);
  if (!s)
    return refuse_password("User \"" + who_.user +
                           "\" does not have a valid SCRAM secret.");
  auto computed = auth::scram_make_secret(password, s->salt, s->iterations);
  if (computed.stored_key == s->stored_key &&
      computed.server_key == s->server_key)
    return accept();
  return refuse_password("Password does not match for user \"" + who_.user +
                         "\".");
}

client_auth::outcome client_auth::on_frame(const wire::frame& f,
                                           std::string& out) {
  if (f.type != 'p') {
    refusal_ = error{sqlstate::protocol_violation,
                     "expected password response, got message type " +
                         std::to_string(static_cast<int>(f.type))};
    return outcome::refused;
  }
  wire::password_packet packet{f.body};
  switch (step_) {
  case step::cleartext: {
    auto pw = wire::decode_password(packet);
    if (!pw) {
      refusal_ = pw.err();
      return outcome::refused;
    }
    if (pw->empty())
      return refuse_password("Empty password.");
    return check_cleartext(*pw);
  }
  case step::md5: {
    auto pw = wire::decode_password(packet);
    if (!pw) {
      refusal_ = pw.err();
      return outcome::refused;
    }
    if (auth::md5_verify(*secret_, md5_salt_, *pw))
      return accept();
    return refuse_password("Password does not match for user \"" + who_.user +
                           "\".");
  }
  case step::sasl_initial: {
    auto init = wire::decode_sasl_initial(packet);
    if (!init) {
      refusal_ = init.err();
      return outcome::refused;
    }
    const bool plus = init->mechanism == "SCRAM-SHA-256-PLUS";
    if (init->mechanism != "SCRAM-SHA-256" &&
        !(plus && !tls_.channel_binding.empty())) {
      refusal_ = error{sqlstate::protocol_violation,
                       "client selected an invalid SASL authentication "
                       "mechanism"};
      return outcome::refused;
    }
    scram_.emplace(std::move(*scram_secret_), random_nonce(),
                   tls_.channel_binding, plus);
    if (!init->data) {
      refusal_ = error{sqlstate::protocol_violation, "malformed SCRAM message"}
                     .with_detail("The message is empty.");
      return outcome::refused;
    }
    auto first = scram_->client_first(*init->data);
    if (!first) {
      refusal_ = first.err();
      return outcome::refused;
    }
    wire::authentication a;
    a.code = wire::authentication::sasl_continue;
    a.data = *first;
    out += encoded(a);
    step_ = step::sasl_final;
    return outcome::waiting;
  }
  case step::sasl_final: {
    auto final_message = scram_->client_final(f.body);
    if (!final_message) {
      if (final_message.err().code != sqlstate::invalid_password) {
        refusal_ = final_message.err();
        return outcome::refused;
      }
      return refuse_password(scram_problem_.empty()
                                 ? "Password does not match for user \"" +
                                       who_.user + "\"."
                                 : scram_problem_);
    }
    if (!scram_problem_.empty())
      return refuse_password(scram_problem_);
    wire::authentication a;
    a.code = wire::authentication::sasl_final;
    a.data = *final_message;
    out += encoded(a);
    return accept();
  }
  case step::none:
    break;
  }
  refusal_ = error{sqlstate::protocol_violation,
                   "unexpected message during authentication"};
  return outcome::refused;
}

} // namespace walmux::actors
