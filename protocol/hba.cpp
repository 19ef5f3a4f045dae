// hba.cpp: pg_hba.conf rules and the password file (see hba.hpp).
#include "protocol/hba.hpp"

#include "protocol/auth.hpp"
#include "protocol/posix_regex.hpp"

#include <arpa/inet.h>
#include <cstring>

namespace walmux::hba {
namespace {

// PostgreSQL's 42601-less file errors are config_file_error (F0000) with
// the line as context, as its own log shows them.
error line_error(int line, const std::string& path, std::string message) {
  return error{sqlstate::config_file_error, std::move(message)}.with_context(
      "line " + std::to_string(line) + " of configuration file \"" + path +
      "\"");
}

// One field: comma-separated tokens, each maybe double-quoted.
struct field {
  std::vector<name_token> tokens;
};

// Splits a line (comment already removed) into fields; false on an
// unterminated quote.
bool split_fields(std::string_view line, std::vector<field>& out) {
  size_t i = 0;
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (true) {
    while (i < line.size() && blank(line[i]))
      ++i;
    if (i >= line.size())
      return true;
    field f;
    while (true) {
      name_token t;
      bool in_quotes = false;
      while (i < line.size()) {
        char c = line[i];
        if (in_quotes) {
          if (c == '"') {
            in_quotes = false;
          } else {
            t.text += c;
          }
          ++i;
          continue;
        }
        if (c == '"') {
          in_quotes = true;
          t.quoted = true;
          ++i;
          continue;
        }
        if (blank(c) || c == ',')
          break;
        t.text += c;
        ++i;
      }
      if (in_quotes)
        return false;
      f.tokens.push_back(std::move(t));
      if (i < line.size() && line[i] == ',') {
        ++i;
        continue; // a list goes on
      }
      break;
    }
    out.push_back(std::move(f));
  }
}

// Walks a file's text line by line, counting lines from 1.
struct line_cursor {
  std::string_view text;
  size_t at = 0;
  int number = 0;
  // The next line without its newline; false at the end.
  bool next(std::string_view& line) {
    if (at >= text.size())
      return false;
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos)
      end = text.size();
    line = text.substr(at, end - at);
    at = end + 1;
    ++number;
    return true;
  }
};

// Removes a # comment that is not inside quotes.
std::string_view strip_comment(std::string_view line) {
  bool in_quotes = false;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '"')
      in_quotes = !in_quotes;
    else if (line[i] == '#' && !in_quotes)
      return line.substr(0, i);
  }
  return line;
}

bool is_host_type(std::string_view t) {
  return t == "host" || t == "hostssl" || t == "hostnossl" ||
         t == "hostgssenc" || t == "hostnogssenc";
}

std::optional<auth_method> method_from_name(std::string_view m) {
  if (m == "trust")
    return auth_method::trust;
  if (m == "reject")
    return auth_method::reject;
  if (m == "scram-sha-256")
    return auth_method::scram_sha_256;
  if (m == "md5")
    return auth_method::md5;
  if (m == "password")
    return auth_method::password;
  if (m == "cert")
    return auth_method::cert;
  for (const char* other :
       {"gss", "sspi", "ident", "peer", "pam", "ldap", "radius", "bsd"})
    if (m == other)
      return auth_method::other;
  return std::nullopt;
}

// Applies one "name=value" option of a host line to `r`; the problem, in
// PostgreSQL's words where it has them, if the option cannot be honoured.
std::optional<std::string> apply_option(std::string_view option, rule& r) {
  const auto eq = option.find('=');
  if (eq == std::string_view::npos)
    return "authentication option not in name=value format: " +
           std::string(option);
  const std::string name(option.substr(0, eq));
  const std::string value(option.substr(eq + 1));
  const bool ssl_line = r.type == "hostssl";
  if (name == "clientcert") {
    if (!ssl_line)
      return std::string("clientcert can only be configured for \"hostssl\" "
                         "rows");
    if (value == "verify-full") {
      r.clientcert = client_cert::verify_full;
    } else if (value == "verify-ca") {
      if (r.method == auth_method::cert)
        return std::string("clientcert can only be set to \"verify-full\" "
                           "when using \"cert\" authentication");
      r.clientcert = client_cert::verify_ca;
    } else {
      return "invalid value for clientcert: \"" + value + "\"";
    }
    return std::nullopt;
  }
  if (name == "clientname") {
    if (!ssl_line)
      return std::string("clientname can only be configured for \"hostssl\" "
                         "rows");
    if (value != "CN" && value != "DN")
      return "invalid value for clientname: \"" + value + "\"";
    r.clientname_dn = value == "DN";
    return std::nullopt;
  }
  if (name == "map") {
    if (r.method != auth_method::cert)
      return std::string("authentication option \"map\" is only valid for "
                         "authentication methods ident, peer, gssapi, sspi, "
                         "and cert");
    r.map = value;
    return std::nullopt;
  }
  for (const char* known :
       {"pamservice",        "pam_use_hostname", "ldaptls",
        "ldapscheme",        "ldapserver",       "ldapport",
        "ldapbinddn",        "ldapbindpasswd",   "ldapsearchattribute",
        "ldapsearchfilter",  "ldapbasedn",       "ldapprefix",
        "ldapsuffix",        "krb_realm",        "include_realm",
        "compat_realm",      "upn_username",     "radiusservers",
        "radiusserver",      "radiussecrets",    "radiussecret",
        "radiusidentifiers", "radiusidentifier", "radiusports",
        "radiusport"})
    if (name == known)
      return "walmux does not support authentication option \"" + name + "\"";
  return "unrecognized authentication option name: \"" + name + "\"";
}

// A mask of `bits` leading ones for the family.
std::optional<ip_mask> mask_of_length(int family, std::string_view bits) {
  const int max_bits = family == 4 ? 32 : 128;
  if (bits.empty() || bits.size() > 3)
    return std::nullopt;
  int n = 0;
  for (char c : bits) {
    if (c < '0' || c > '9')
      return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n > max_bits)
    return std::nullopt;
  ip_mask m;
  m.family = family;
  for (int i = 0; i < n; ++i)
    m.mask[static_cast<size_t>(i / 8)] |= static_cast<uint8_t>(0x80 >> (i % 8));
  return m;
}

bool same_network(const ip_mask& rule_address, const ip_mask& peer) {
  if (rule_address.family != peer.family)
    return false;
  for (size_t i = 0; i < 16; ++i)
    if ((rule_address.address[i] ^ peer.address[i]) & rule_address.mask[i])
      return false;
  return true;
}

bool matches_name(const std::vector<name_token>& list, std::string_view name,
                  std::string_view user, bool database_list) {
  for (const auto& t : list) {
    if (t.is_keyword("all"))
      return true;
    if (database_list && t.is_keyword("sameuser")) {
      if (name == user)
        return true;
      continue;
    }
    if (database_list && t.is_keyword("replication"))
      continue; // physical replication only
    if (t.text == name)
      return true;
  }
  return false;
}

} // namespace

std::optional<ip_mask> parse_address(std::string_view text) {
  if (text.size() > 63)
    return std::nullopt;
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  ip_mask m;
  if (::inet_pton(AF_INET, buf, m.address.data()) == 1) {
    m.family = 4;
    return m;
  }
  if (::inet_pton(AF_INET6, buf, m.address.data()) == 1) {
    m.family = 6;
    return m;
  }
  return std::nullopt;
}

namespace {

// Calls `entry(line_number, raw_line, fields)` for each line of `text` that
// holds fields (comments stripped, blank lines skipped), until the first
// error: an unterminated quote, or what `entry` returns.
template <typename Entry>
status for_each_entry(std::string_view text, const std::string& path,
                      Entry entry) {
  line_cursor lines{text};
  std::string_view raw;
  while (lines.next(raw)) {
    std::vector<field> fields;
    if (!split_fields(strip_comment(raw), fields))
      return line_error(lines.number, path, "unterminated quoted string");
    if (fields.empty())
      continue;
    if (auto st = entry(lines.number, raw, fields); !st)
      return st;
  }
  return ok();
}

} // namespace

expected<std::vector<rule>> parse_hba(std::string_view text,
                                      const std::string& path) {
  std::vector<rule> rules;
  auto st = for_each_entry(
      text, path,
      [&](const int line_number, std::string_view raw,
          const std::vector<field>& fields) -> status {
        auto fail = [&](std::string message) {
          return line_error(line_number, path, std::move(message));
        };
        size_t k = 0; // the field being read
        // Moves to the next field, which must hold exactly one value.
        auto next_single =
            [&](const char* specification,
                const char* values_for) -> expected<const name_token*> {
          if (++k >= fields.size())
            return fail(std::string("end-of-line before ") + specification);
          if (fields[k].tokens.size() != 1)
            return fail(std::string("multiple values specified for ") +
                        values_for);
          return &fields[k].tokens.front();
        };
        rule r;
        r.line_number = line_number;
        r.raw_line = std::string(raw);
        if (fields[k].tokens.size() != 1)
          return fail("multiple values specified for connection type");
        r.type = fields[k].tokens.front().text;
        if (r.type == "include" || r.type == "include_if_exists" ||
            r.type == "include_dir")
          return fail("walmux does not support \"" + r.type +
                      "\" in pg_hba.conf");
        if (r.type != "local" && !is_host_type(r.type))
          return fail("invalid connection type \"" + r.type + "\"");
        if (++k >= fields.size())
          return fail("end-of-line before database specification");
        r.databases = fields[k].tokens;
        if (++k >= fields.size())
          return fail("end-of-line before role specification");
        r.users = fields[k].tokens;
        for (const auto& t : r.databases) {
          if (t.text.empty())
            return fail("empty database name");
          if (!t.quoted && t.text.front() == '@')
            return fail("walmux does not support @file lists in pg_hba.conf");
          if (t.is_keyword("samerole") || t.is_keyword("samegroup"))
            return fail("walmux does not support \"" + t.text +
                        "\" in pg_hba.conf: it has no roles");
        }
        for (const auto& t : r.users) {
          if (t.text.empty())
            return fail("empty role name");
          if (!t.quoted && (t.text.front() == '@' || t.text.front() == '+' ||
                            t.text.front() == '/'))
            return fail("walmux does not support \"" + t.text +
                        "\" in pg_hba.conf: only role names and all");
        }
        const bool host = r.type != "local";
        if (host) {
          auto address =
              next_single("IP address specification", "host address");
          if (!address)
            return std::move(address).err();
          const name_token& a = **address;
          r.address_text = a.text;
          if (a.is_keyword("all")) {
            r.all_addresses = true;
          } else if (a.is_keyword("samehost") || a.is_keyword("samenet")) {
            return fail("walmux does not support \"" + a.text +
                        "\" in pg_hba.conf; write the addresses");
          } else {
            std::string_view addr = a.text;
            std::string_view bits;
            if (auto slash = addr.find('/'); slash != std::string_view::npos) {
              bits = addr.substr(slash + 1);
              addr = addr.substr(0, slash);
            }
            auto ip = parse_address(addr);
            if (!ip)
              return fail("invalid IP address \"" + std::string(addr) +
                          "\": walmux does not resolve host names");
            if (a.text.find('/') != std::string::npos) {
              auto m = mask_of_length(ip->family, bits);
              if (!m)
                return fail("invalid CIDR mask in address \"" + a.text + "\"");
              ip->mask = m->mask;
            } else {
              // The mask is the next field.
              auto netmask = next_single("netmask specification", "netmask");
              if (!netmask)
                return std::move(netmask).err();
              r.netmask_text = (*netmask)->text;
              auto m = parse_address(r.netmask_text);
              if (!m)
                return fail("invalid IP mask \"" + r.netmask_text + "\"");
              if (m->family != ip->family)
                return fail("IP address and mask do not match");
              ip->mask = m->address;
            }
            r.address = *ip;
          }
        }
        auto method_field =
            next_single("authentication method", "authentication type");
        if (!method_field)
          return std::move(method_field).err();
        r.method_name = (*method_field)->text;
        auto method = method_from_name(r.method_name);
        if (!method)
          return fail("invalid authentication method \"" + r.method_name +
                      "\"");
        if (host && *method == auth_method::other)
          return error{sqlstate::feature_not_supported,
                       "authentication method \"" + r.method_name +
                           "\" is not supported by walmux"}
              .with_context("line " + std::to_string(line_number) +
                            " of configuration file \"" + path + "\"")
              .with_hint("Use trust, reject, scram-sha-256, md5, password or "
                         "cert.");
        r.method = *method;
        if (host) {
          if (r.method == auth_method::cert) {
            if (r.type != "hostssl")
              return fail("cert authentication is only supported on hostssl "
                          "connections");
            r.clientcert = client_cert::verify_full;
          }
          while (++k < fields.size()) {
            // A value may hold commas: the field's tokens joined again.
            std::string option;
            for (const auto& t : fields[k].tokens)
              option += (option.empty() ? "" : ",") + t.text;
            if (auto problem = apply_option(option, r))
              return fail(std::move(*problem));
          }
        }
        rules.push_back(std::move(r));
        return ok();
      });
  if (!st)
    return std::move(st).err();
  return rules;
}

namespace {

// Each non-blank line of `text` parsed on its own by `parse` (a whole-file
// parser given one line), as the file views show a file: what it gives,
// numbered as in the file, or its error.
template <typename Result, typename Parse>
std::vector<Result> each_line(std::string_view text, Parse parse) {
  std::vector<Result> out;
  line_cursor lines{text};
  std::string_view line;
  while (lines.next(line)) {
    const int line_number = lines.number;
    auto one = parse(line, "");
    if (one && one->empty())
      continue; // blank or comment
    Result r;
    r.line_number = line_number;
    if (one) {
      r.parsed = std::move(one->front());
      r.parsed->line_number = line_number;
    } else {
      r.error = one.err().message;
    }
    out.push_back(std::move(r));
  }
  return out;
}

} // namespace

std::vector<line_result> parse_hba_lines(std::string_view text) {
  return each_line<line_result>(text, parse_hba);
}

std::string address_to_text(int family, const std::array<uint8_t, 16>& bytes) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes.data(), buf,
                  sizeof buf) == nullptr)
    return {};
  return buf;
}

const rule* match(const std::vector<rule>& rules, const connection& c) {
  for (const auto& r : rules) {
    // No Unix-domain socket, no GSS encryption.
    if (r.type == "local" || r.type == "hostgssenc")
      continue;
    if ((r.type == "hostssl" && !c.ssl) || (r.type == "hostnossl" && c.ssl))
      continue;
    if (!r.all_addresses && !(r.address && same_network(*r.address, c.peer)))
      continue;
    if (!matches_name(r.databases, c.database, c.user, true))
      continue;
    if (!matches_name(r.users, c.user, c.user, false))
      continue;
    return &r;
  }
  return nullptr;
}

expected<std::map<std::string, std::string>>
parse_password_file(std::string_view text, const std::string& path) {
  std::map<std::string, std::string> out;
  line_cursor lines{text};
  std::string_view line;
  while (lines.next(line)) {
    const int line_number = lines.number;
    size_t i = 0;
    auto skip_blanks = [&] {
      while (i < line.size() &&
             (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        ++i;
    };
    skip_blanks();
    if (i >= line.size() || line[i] == ';' || line[i] == '#')
      continue;
    auto fail = [&](std::string message) {
      return line_error(line_number, path, std::move(message));
    };
    auto quoted = [&](std::string& value) {
      skip_blanks();
      if (i >= line.size() || line[i] != '"')
        return false;
      ++i;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            value += '"';
            i += 2;
            continue;
          }
          ++i;
          return true;
        }
        value += line[i++];
      }
      return false;
    };
    std::string user, secret;
    if (!quoted(user) || !quoted(secret))
      return fail("a password file line is \"user\" \"secret\", each in "
                  "double quotes");
    skip_blanks();
    if (i < line.size())
      return fail("unexpected text after the secret");
    const bool md5 =
        secret.size() == 35 && secret.rfind("md5", 0) == 0 &&
        secret.find_first_not_of("0123456789abcdef", 3) == std::string::npos;
    if (!md5 && !auth::scram_secret_from_text(secret))
      return fail("the secret of user \"" + user +
                  "\" is neither a SCRAM-SHA-256 verifier nor an md5 hash")
          .with_hint("Copy it from pg_authid.rolpassword; walmux keeps no "
                     "plain passwords.");
    out[user] = std::move(secret);
  }
  return out;
}

std::vector<std::string> shown_options(const rule& r) {
  std::vector<std::string> out;
  if (!r.map.empty())
    out.push_back("map=" + r.map);
  switch (r.clientcert) {
  case client_cert::off:
    break;
  case client_cert::verify_ca:
    out.push_back("clientcert=verify-ca");
    break;
  case client_cert::verify_full:
    out.push_back("clientcert=verify-full");
    break;
  }
  return out;
}

expected<std::vector<ident_mapping>> parse_ident(std::string_view text,
                                                 const std::string& path) {
  std::vector<ident_mapping> out;
  auto st = for_each_entry(
      text, path,
      [&](const int line_number, std::string_view,
          const std::vector<field>& fields) -> status {
        if (fields.size() < 3)
          return line_error(line_number, path, "missing entry at end of line");
        for (size_t k = 0; k < 3; ++k)
          if (fields[k].tokens.size() != 1)
            return line_error(line_number, path,
                              "multiple values in ident field");
        ident_mapping m;
        m.line_number = line_number;
        m.map_name = fields[0].tokens.front().text;
        m.system_name = fields[1].tokens.front().text;
        m.pg_username = fields[2].tokens.front().text;
        if (!m.system_name.empty() && m.system_name.front() == '/') {
          const std::string pattern = m.system_name.substr(1);
          if (auto re = posix_regex::compile(pattern); !re)
            return line_error(line_number, path,
                              "invalid regular expression \"" + pattern +
                                  "\": " + re.err().message);
        }
        out.push_back(std::move(m));
        return ok();
      });
  if (!st)
    return std::move(st).err();
  return out;
}

std::vector<ident_line_result> parse_ident_lines(std::string_view text) {
  return each_line<ident_line_result>(text, parse_ident);
}

expected<bool> map_allows(const std::vector<ident_mapping>& mappings,
                          const std::string& map_name,
                          const std::string& system_user,
                          const std::string& pg_user) {
  for (const auto& m : mappings) {
    if (m.map_name != map_name)
      continue;
    if (m.system_name.empty() || m.system_name.front() != '/') {
      if (m.system_name == system_user && m.pg_username == pg_user)
        return true;
      continue;
    }
    const std::string pattern = m.system_name.substr(1);
    auto re = posix_regex::compile(pattern);
    if (!re)
      return error{"2201B", "invalid regular expression \"" + pattern +
                                "\": " + re.err().message};
    if (!(*re)->matches(system_user))
      continue;
    std::string expected_user = m.pg_username;
    if (const auto at = expected_user.find("\\1"); at != std::string::npos) {
      auto group = (*re)->first_group(system_user);
      if (!group)
        return error{"2201B", "regular expression \"" + pattern +
                                  "\" has no subexpressions as requested by "
                                  "backreference in \"" +
                                  m.pg_username + "\""};
      expected_user.replace(at, 2, *group);
    }
    if (expected_user == pg_user)
      return true;
  }
  return false;
}

} // namespace walmux::hba
