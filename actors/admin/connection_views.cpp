// connection_views.cpp: see connection_views.hpp.
#include "actors/admin/connection_views.hpp"

#include "actors/admin/sql_values.hpp"
#include "protocol/hba.hpp"

namespace walmux::actors::admin {
namespace {

// A text[] value as PostgreSQL prints it: {a,"b c"}.
std::string text_array(const std::vector<hba::name_token>& items) {
  std::string out = "{";
  for (const auto& t : items) {
    if (out.size() > 1)
      out += ',';
    bool quote = t.text.empty() || t.text == "NULL" || t.text == "null";
    for (char c : t.text)
      if (c == '{' || c == '}' || c == ',' || c == '"' || c == '\\' ||
          c == ' ' || c == '\t')
        quote = true;
    if (!quote) {
      out += t.text;
      continue;
    }
    out += '"';
    for (char c : t.text) {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

} // namespace

table_def hba_file_rules_table(walsender_env& env) {
  return {
      "pg_hba_file_rules",
      "CREATE TABLE x(line_number int4, type text, database text, user_name "
      "text, address text, netmask text, auth_method text, options text, "
      "error text)",
      0,
      [&env](const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
        auto config = env.auth.get();
        auto file_text = read_hba_text(config ? config->hba_path : "");
        if (!file_text)
          return std::move(file_text).err();
        std::vector<sql_row> rows;
        for (const auto& line : hba::parse_hba_lines(*file_text)) {
          if (!line.parsed) {
            rows.push_back({integer(line.line_number), null(), null(), null(),
                            null(), null(), null(), null(), text(line.error)});
            continue;
          }
          const hba::rule& r = *line.parsed;
          sql_value address = null(), netmask = null();
          if (r.all_addresses) {
            address = text("all");
          } else if (r.address) {
            address = text(
                hba::address_to_text(r.address->family, r.address->address));
            netmask =
                text(hba::address_to_text(r.address->family, r.address->mask));
          }
          std::vector<hba::name_token> options;
          for (auto& o : hba::shown_options(r))
            options.push_back({std::move(o)});
          rows.push_back(
              {integer(line.line_number), text(r.type),
               text(text_array(r.databases)), text(text_array(r.users)),
               address, netmask, text(r.method_name),
               options.empty() ? null() : text(text_array(options)), null()});
        }
        return rows;
      }};
}

table_def ident_file_mappings_table(walsender_env& env) {
  return {
      "pg_ident_file_mappings",
      "CREATE TABLE x(line_number int4, map_name text, sys_name text, "
      "pg_username text, error text)",
      0,
      [&env](const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
        auto config = env.auth.get();
        std::vector<sql_row> rows;
        if (!config || config->ident_path.empty())
          return rows; // no ident_file: no mappings
        auto file_text = read_config_text(config->ident_path, "usermap file");
        if (!file_text)
          return std::move(file_text).err();
        for (const auto& line : hba::parse_ident_lines(*file_text)) {
          if (!line.parsed) {
            rows.push_back({integer(line.line_number), null(), null(), null(),
                            text(line.error)});
            continue;
          }
          rows.push_back({integer(line.line_number),
                          text(line.parsed->map_name),
                          text(line.parsed->system_name),
                          text(line.parsed->pg_username), null()});
        }
        return rows;
      }};
}

table_def stat_ssl_table(walsender_env& env) {
  return {
      "pg_stat_ssl",
      "CREATE TABLE x(pid int4, ssl bool, version text, cipher text, bits "
      "int4, client_dn text, client_serial numeric, issuer_dn text)",
      0,
      [&env](const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
        std::vector<sql_row> rows;
        for (const auto& a : env.activity.list()) {
          auto link = a.link.lock();
          if (!link || !link->encrypted()) {
            rows.push_back({integer(a.pid), boolean(false), null(), null(),
                            null(), null(), null(), null()});
            continue;
          }
          const auto d = link->tls_state();
          auto or_null = [](const std::string& v) {
            return v.empty() ? null() : text(v);
          };
          rows.push_back({integer(a.pid), boolean(true), text(d.version),
                          text(d.cipher), integer(d.bits), or_null(d.client_dn),
                          or_null(d.client_serial), or_null(d.issuer_dn)});
        }
        return rows;
      }};
}

} // namespace walmux::actors::admin
