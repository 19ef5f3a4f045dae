// hba.hpp: client authentication configuration: the rules of a
// pg_hba.conf file and the user name maps of a pg_ident.conf file, in
// PostgreSQL's formats, and the password file that holds the secrets
// walmux checks passwords against.
//
// Pure: file text in, rules out; matching takes the peer's address as
// bytes. Loading the files and the exchanges themselves are the
// walsender's (actors/walsender/client_auth.hpp).
//
// pg_hba.conf: PostgreSQL's syntax (fields separated by blanks, lists by
// commas, double quotes around names, # comments). What walmux cannot
// honour is refused when the file is read, naming the line, rather than
// ignored: host names, samehost/samenet, +group and @file lists, methods
// other than trust, reject, scram-sha-256, md5, password and cert on host
// lines, and options other than clientcert, clientname and map (map on
// cert lines, as PostgreSQL allows it there). `local` lines are read (any PostgreSQL method, no
// option checked) and never match: walmux has no Unix-domain socket.
// hostssl lines match TLS connections and hostnossl the others; hostgssenc
// lines never match (no GSS encryption). The keyword `replication` matches
// physical replication only, as in PostgreSQL, so it never matches here
// (logical replication connections match by database name).
//
// Password file: one `"user" "secret"` pair a line (PgBouncer's userlist
// format; "" inside quotes is a quote; lines starting with ; or # are
// comments). A secret is what PostgreSQL stores in pg_authid.rolpassword:
// a SCRAM-SHA-256 verifier or an md5 hash, never a plain password.
#pragma once

#include "common/expected.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace walmux::hba {

enum class auth_method {
  trust,
  reject,
  scram_sha_256,
  md5,
  password,
  cert, // the client certificate's name is the user name (hostssl only)
  other
};

// clientcert=: what a hostssl line asks of the client's certificate.
// verify_ca: a certificate signed by ssl_ca_file's authority; verify_full:
// also its name (CN, or the DN with clientname=DN) equal to the user name.
enum class client_cert { off, verify_ca, verify_full };

// A name in a database or user list; quoted names are never keywords.
struct name_token {
  std::string text;
  bool quoted = false;
  bool is_keyword(std::string_view k) const { return !quoted && text == k; }
};

// An IPv4 (family 4) or IPv6 (family 6) address with its mask.
struct ip_mask {
  int family = 0;
  std::array<uint8_t, 16> address{};
  std::array<uint8_t, 16> mask{};
};

struct rule {
  int line_number = 0;
  std::string type; // local, host, hostssl, hostnossl, hostgssenc, ...
  std::vector<name_token> databases;
  std::vector<name_token> users;
  bool all_addresses = false;     // the address field was `all`
  std::optional<ip_mask> address; // host lines other than `all`
  std::string address_text;       // as written (for pg_hba_file_rules)
  std::string netmask_text;       // the mask as an address, when given
  auth_method method = auth_method::trust;
  std::string method_name;                   // as written
  client_cert clientcert = client_cert::off; // cert implies verify_full
  std::string map; // map=: the pg_ident.conf map a cert line checks names by
  bool clientname_dn = false; // clientname=DN: match the DN, not the CN
  std::string raw_line;
};

// The options pg_hba_file_rules shows for a rule ("clientcert=verify-ca"),
// in PostgreSQL's form; empty when it has none.
std::vector<std::string> shown_options(const rule& r);

// Parses a pg_hba.conf file's text. An error names the line in its context
// ("line 3 of configuration file \"<path>\"").
expected<std::vector<rule>> parse_hba(std::string_view text,
                                      const std::string& path);

// Each rule line on its own, as pg_hba_file_rules shows a file: a rule, or
// the error that line alone has (blank and comment lines are skipped).
struct line_result {
  int line_number = 0;
  std::optional<rule> parsed;
  std::string error; // the message, when `parsed` is empty
};
std::vector<line_result> parse_hba_lines(std::string_view text);

// An address or mask as inet_ntop writes it ("10.0.0.0", "255.0.0.0").
std::string address_to_text(int family, const std::array<uint8_t, 16>& bytes);

// Parses an address as inet_pton would ("10.1.2.3", "::1"); nullopt if it
// is neither form.
std::optional<ip_mask> parse_address(std::string_view text);

// What a connection presents.
struct connection {
  ip_mask peer; // the mask is unused
  std::string user;
  std::string database;
  bool ssl = false; // the connection is encrypted
};

// The first rule that matches, as PostgreSQL's check_hba chooses it;
// nullptr when none does.
const rule* match(const std::vector<rule>& rules, const connection& c);

// pg_ident.conf: one mapping a line, MAPNAME SYSTEM-USERNAME PG-USERNAME
// (blanks between, quotes and # comments as in pg_hba.conf; fields past
// the third are ignored, as PostgreSQL 15 ignores them). A system user
// name starting with "/" is a POSIX extended regular expression (checked
// when the file is read); "\1" in the PostgreSQL user name then stands
// for its first parenthesized subexpression.
struct ident_mapping {
  int line_number = 0;
  std::string map_name;
  std::string system_name; // as written, "/" included for an expression
  std::string pg_username;
};

// Parses a pg_ident.conf file's text; an error names the line.
expected<std::vector<ident_mapping>> parse_ident(std::string_view text,
                                                 const std::string& path);

// Each mapping line on its own, as pg_ident_file_mappings shows a file.
struct ident_line_result {
  int line_number = 0;
  std::optional<ident_mapping> parsed;
  std::string error;
};
std::vector<ident_line_result> parse_ident_lines(std::string_view text);

// PostgreSQL's check_usermap for a certificate: whether map `map_name`
// lets `system_user` (the certificate's name) log in as `pg_user`, names
// compared case-sensitively. The first line that matches decides. An
// error (a \1 with no subexpression to take it from) is what PostgreSQL
// logs for it.
expected<bool> map_allows(const std::vector<ident_mapping>& mappings,
                          const std::string& map_name,
                          const std::string& system_user,
                          const std::string& pg_user);

// The password file: user -> secret.
expected<std::map<std::string, std::string>>
parse_password_file(std::string_view text, const std::string& path);

} // namespace walmux::hba
