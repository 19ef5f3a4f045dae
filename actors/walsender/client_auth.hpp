// client_auth.hpp: authenticating a client at startup, as PostgreSQL's
// ClientAuthentication does: the first matching pg_hba.conf rule decides,
// then trust, reject, a password exchange (SCRAM-SHA-256, md5, cleartext)
// against the password file's secret, or the client's TLS certificate
// (cert, and clientcert= on any hostssl rule).
//
// The rules, secrets and TLS certificate are loaded once and at each reload
// (auth_config_holder); a session keeps the snapshot it started with.
// Without hba_file, the built-in rule is "host all all 127.0.0.1/32
// trust", walmux's behaviour before hba_file existed.
#pragma once

#include "actors/walsender/tls_channel.hpp"
#include "common/expected.hpp"
#include "protocol/auth.hpp"
#include "protocol/frame.hpp"
#include "protocol/hba.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace walmux::actors {

// The rules without hba_file: trust from the node's own machine only.
inline constexpr std::string_view builtin_hba_rules =
    "host all all 127.0.0.1/32 trust\n";

struct auth_config {
  std::string hba_path; // empty: the built-in rule
  std::vector<hba::rule> rules;
  std::string password_path;
  std::map<std::string, std::string> secrets; // user -> pg_authid form
  std::shared_ptr<tls_context> tls;           // ssl = on
  std::string ident_path;                     // empty: no user name maps
  std::vector<hba::ident_mapping> ident;
};

// A configuration file's whole text; `what` names it in the error
// ("configuration file", "password file").
expected<std::string> read_config_text(const std::string& path,
                                       const char* what);

// The hba file's text, or the built-in rules when `hba_path` is empty.
expected<std::string> read_hba_text(const std::string& hba_path);

// The files that make an auth_config (relative to the data directory).
struct auth_files {
  std::string hba_file;
  std::string auth_file;
  std::string ident_file; // empty: no user name maps
  bool ssl = false;
  tls_settings tls; // its files relative to the data directory
};

// Reads them; errors name the file (and line). All or nothing: at a reload
// a failure keeps the configuration in force.
expected<std::shared_ptr<const auth_config>>
load_auth_config(const std::string& data_dir, const auth_files& files);

// The current configuration, replaced whole at reload.
class auth_config_holder {
 public:
  std::shared_ptr<const auth_config> get() const {
    std::lock_guard g(mu_);
    return config_;
  }
  void set(std::shared_ptr<const auth_config> c) {
    std::lock_guard g(mu_);
    config_ = std::move(c);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const auth_config> config_;
};

// One client's authentication. begin() decides by the rules; a password
// method then takes the client's frames until it is accepted or refused.
// Refusals carry PostgreSQL's SQLSTATE and text; `log_detail` says what
// only the server log should (as PostgreSQL keeps the reason of a failed
// password from the client).
class client_auth {
 public:
  enum class outcome { accepted, waiting, refused };

  // `tls`: over TLS, the connection's state: its tls-server-end-point
  // data (SCRAM-SHA-256-PLUS is then offered) and the client's
  // certificate, which clientcert and cert lines check.
  client_auth(std::shared_ptr<const auth_config> config, hba::connection who,
              std::string peer_text, tls_description tls = {});

  // The first decision; frames to send are appended to `out`.
  outcome begin(std::string& out);
  // A frame from the client while waiting.
  outcome on_frame(const wire::frame& f, std::string& out);

  const error& refusal() const { return refusal_; }
  const std::string& log_detail() const { return log_detail_; }
  // The rule that decided (for the log), or 0.
  int rule_line() const { return rule_line_; }

 private:
  enum class step { none, cleartext, md5, sasl_initial, sasl_final };
  outcome refuse_password(std::string detail);
  // The method accepted the client: the certificate's name is checked
  // now where the rule asks it (cert, clientcert=verify-full), as
  // PostgreSQL checks it after the method.
  outcome accept();
  // The method's own failure text ("\"trust\" authentication failed ..."),
  // with what only the log should say.
  outcome refuse_by_method(std::string detail);
  outcome start_scram(std::string& out);
  outcome check_cleartext(const std::string& password);

  std::shared_ptr<const auth_config> config_;
  hba::connection who_;
  std::string peer_text_;
  step step_ = step::none;
  std::optional<std::string> secret_; // absent: unknown user
  std::string md5_salt_;
  tls_description tls_;
  const hba::rule* rule_ = nullptr; // the rule that matched (in config_)
  std::optional<auth::scram_secret> scram_secret_; // until the mechanism
  std::optional<auth::scram_server> scram_;
  std::string scram_problem_; // why the exchange cannot succeed, if it can't
  error refusal_;
  std::string log_detail_;
  int rule_line_ = 0;
};

} // namespace walmux::actors
