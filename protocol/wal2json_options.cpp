// wal2json_options.cpp: the wal2json plugin's options, parsed with its rules
// and error texts (see wal2json.hpp).
#include "common/pg_bool.hpp"
#include "protocol/wal2json.hpp"

#include <cctype>

namespace walmux::wal2json {
namespace {

error parse_value_error(std::string_view value, std::string_view name) {
  return error{sqlstate::invalid_parameter_value,
               "could not parse value \"" + std::string(value) +
                   "\" for parameter \"" + std::string(name) + "\""};
}

error not_supported(const std::string& what) {
  return error{sqlstate::feature_not_supported, what};
}

// wal2json's split_string_to_list: separator ',', surrounding spaces
// trimmed, a backslash protects the next character (and stays in the name).
// Its split_string_to_oid_list is the same but lets a name be empty.
bool split_list(std::string_view s, std::vector<std::string>& out,
                bool allow_empty = false) {
  size_t i = 0;
  auto space = [&](size_t k) {
    return k < s.size() && std::isspace(static_cast<unsigned char>(s[k]));
  };
  while (space(i))
    ++i;
  if (i == s.size())
    return true;
  while (true) {
    size_t start = i;
    while (i < s.size() && s[i] != ',' &&
           !std::isspace(static_cast<unsigned char>(s[i]))) {
      if (s[i] == '\\')
        ++i;
      ++i;
    }
    i = std::min(i, s.size());
    if (i == start && !allow_empty)
      return false;
    out.emplace_back(s.substr(start, i - start));
    while (space(i))
      ++i;
    if (i == s.size())
      return true;
    if (s[i] != ',')
      return false;
    ++i;
    while (space(i))
      ++i;
  }
}

// "schema.table" with '*' wildcards; backslash escapes are removed.
bool parse_tables(std::string_view s, std::vector<table_pattern>& out) {
  std::vector<std::string> items;
  if (!split_list(s, items))
    return false;
  for (const auto& item : items) {
    table_pattern t;
    t.all_schemas = item.size() >= 2 && item[0] == '*' && item[1] == '.';
    size_t i = 0;
    std::string schema;
    while (i < item.size() && item[i] != '.') {
      if (item[i] == '\\' && i + 1 < item.size())
        ++i;
      schema += item[i++];
    }
    if (i == item.size())
      return false; // no schema given
    ++i;
    t.all_tables = item.compare(i, std::string::npos, "*") == 0;
    std::string table;
    while (i < item.size()) {
      if (item[i] == '\\' && i + 1 < item.size())
        ++i;
      table += item[i++];
    }
    t.schema = std::move(schema);
    t.table = std::move(table);
    out.push_back(std::move(t));
  }
  return true;
}

// C's atoi() as wal2json applies it to an origin id: leading spaces, a
// sign, the digits up to the first other character; nothing is 0.
uint32_t atoi_like(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
    ++i;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-'))
    negative = s[i++] == '-';
  uint32_t v = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])))
    v = v * 10 + static_cast<uint32_t>(s[i++] - '0');
  return negative ? 0u - v : v;
}

} // namespace

expected<options> parse_options(const std::vector<repl::option>& opts) {
  options o;
  bool add_tables_given = false;
  for (const auto& opt : opts) {
    const std::string& name = opt.name;
    const bool has_value = opt.value_kind != repl::option::kind::none;
    auto boolean = [&](bool& field) -> status {
      if (!has_value) {
        field = true;
        return ok();
      }
      if (!parse_pg_bool(opt.value, field))
        return parse_value_error(opt.value, name);
      return ok();
    };
    status st;
    if (name == "include-transaction")
      st = boolean(o.include_transaction);
    else if (name == "include-xids")
      st = boolean(o.include_xids);
    else if (name == "include-timestamp")
      st = boolean(o.include_timestamp);
    else if (name == "include-lsn")
      st = boolean(o.include_lsn);
    else if (name == "include-schemas")
      st = boolean(o.include_schemas);
    else if (name == "include-types")
      st = boolean(o.include_types);
    else if (name == "include-type-oids")
      st = boolean(o.include_type_oids);
    else if (name == "include-typmod")
      st = boolean(o.include_typmod);
    else if (name == "include-not-null")
      st = boolean(o.include_not_null);
    else if (name == "include-pk")
      st = boolean(o.include_pk);
    else if (name == "include-column-positions")
      st = boolean(o.include_column_positions);
    else if (name == "include-default")
      st = boolean(o.include_default);
    else if (name == "numeric-data-types-as-string")
      st = boolean(o.numeric_data_types_as_string);
    else if (name == "pretty-print")
      st = boolean(o.pretty_print);
    else if (name == "write-in-chunks")
      st = boolean(o.write_in_chunks);
    else if (name == "include-unchanged-toast") {
      bool ignored = false;
      st = boolean(ignored); // deprecated in wal2json 2.x: accepted, no effect
    } else if (name == "include-origin") {
      st = boolean(o.include_origin);
    } else if (name == "include-domain-data-type") {
      st = boolean(o.include_domain_data_type);
    } else if (name == "filter-origins") {
      o.filter_origins.clear();
      std::vector<std::string> ids;
      if (has_value && !split_list(opt.value, ids, true))
        return error{sqlstate::invalid_name,
                     "could not parse value \"" + opt.value +
                         "\" for parameter \"" + name + "\""};
      for (const auto& id : ids)
        o.filter_origins.push_back(atoi_like(id));
    } else if (name == "actions") {
      if (!has_value)
        return parse_value_error("(null)", name);
      std::vector<std::string> items;
      if (!split_list(opt.value, items))
        return parse_value_error(opt.value, name);
      o.action_insert = o.action_update = o.action_delete = o.action_truncate =
          false;
      for (const auto& a : items) {
        if (a == "insert")
          o.action_insert = true;
        else if (a == "update")
          o.action_update = true;
        else if (a == "delete")
          o.action_delete = true;
        else if (a == "truncate")
          o.action_truncate = true;
        else
          return parse_value_error(a, name);
      }
    } else if (name == "filter-tables" || name == "add-tables") {
      auto& list = name == "filter-tables" ? o.filter_tables : o.add_tables;
      list.clear();
      if (name == "add-tables")
        add_tables_given = true;
      if (has_value && !parse_tables(opt.value, list))
        return parse_value_error(opt.value, name);
    } else if (name == "filter-msg-prefixes" || name == "add-msg-prefixes") {
      auto& list = name == "filter-msg-prefixes" ? o.filter_msg_prefixes
                                                 : o.add_msg_prefixes;
      list.clear();
      if (has_value && !split_list(opt.value, list))
        return parse_value_error(opt.value, name);
    } else if (name == "format-version") {
      if (!has_value) {
        o.format_version = 2;
      } else {
        const std::string& v = opt.value;
        if (v.empty() || v.size() > 9 ||
            v.find_first_not_of("0123456789") != std::string::npos)
          return parse_value_error(v, name);
        o.format_version = std::stoi(v);
      }
      if (o.format_version > 2)
        return not_supported(
            "client sent format_version=" + std::to_string(o.format_version) +
            " but we only support format 2 or lower");
      if (o.format_version < 1)
        return not_supported(
            "client sent format_version=" + std::to_string(o.format_version) +
            " but we only support format 1 or higher");
    } else {
      return error{sqlstate::invalid_parameter_value,
                   "option \"" + name + "\" = \"" +
                       (has_value ? opt.value : std::string("(null)")) +
                       "\" is unknown"};
    }
    if (!st)
      return std::move(st).err();
  }
  if (!add_tables_given)
    o.add_tables.push_back(table_pattern{true, true, "", ""});
  return o;
}

} // namespace walmux::wal2json
