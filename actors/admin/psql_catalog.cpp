// psql_catalog.cpp: see psql_catalog.hpp.
#include "actors/admin/psql_catalog.hpp"

#include "actors/admin/sql_values.hpp"
#include "protocol/pg_text.hpp"
#include "protocol/posix_regex.hpp"

#include <climits>

namespace walmux::actors::admin {

std::string encoding_name(int64_t encoding) {
  // PostgreSQL's pg_enc numbering (src/include/mb/pg_wchar.h): the server
  // encodings, then the client-only ones.
  static constexpr const char* names[] = {
      "SQL_ASCII",    "EUC_JP",        "EUC_CN",        "EUC_KR",     "EUC_TW",
      "EUC_JIS_2004", "UTF8",          "MULE_INTERNAL", "LATIN1",     "LATIN2",
      "LATIN3",       "LATIN4",        "LATIN5",        "LATIN6",     "LATIN7",
      "LATIN8",       "LATIN9",        "LATIN10",       "WIN1256",    "WIN1258",
      "WIN866",       "WIN874",        "KOI8R",         "WIN1251",    "WIN1252",
      "ISO_8859_5",   "ISO_8859_6",    "ISO_8859_7",    "ISO_8859_8", "WIN1250",
      "WIN1253",      "WIN1254",       "WIN1255",       "WIN1257",    "KOI8U",
      "SJIS",         "BIG5",          "GBK",           "UHC",        "GB18030",
      "JOHAB",        "SHIFT_JIS_2004"};
  if (encoding < 0 ||
      encoding >= static_cast<int64_t>(sizeof names / sizeof names[0]))
    return "";
  return names[encoding];
}

expected<bool> regex_match(const std::string& pattern, const std::string& value,
                           bool case_insensitive) {
  auto re = posix_regex::compile(pattern, case_insensitive);
  if (!re)
    return error{"2201B", "invalid regular expression: " + re.err().message};
  return (*re)->matches(value);
}

void add_psql_catalog(node_catalog& c, const std::string& database) {
  c.tables.push_back(
      {"pg_database",
       "CREATE TABLE x(oid oid, datname name, datdba oid, encoding int4, "
       "datlocprovider text, datistemplate bool, datallowconn bool, "
       "datconnlimit int4, datfrozenxid xid, datminmxid xid, dattablespace "
       "oid, datcollate text, datctype text, daticulocale text, "
       "datcollversion text, datacl text)",
       0,
       [database](
           const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
         // UTF8 (the node's server_encoding); C ordering, which is how
         // the engine compares text. No transaction IDs, tablespaces or
         // privileges to show.
         return std::vector<sql_row>{
             {integer(node_database_oid), text(database), integer(10),
              integer(6), text("c"), boolean(false), boolean(true), integer(-1),
              null(), null(), null(), text("C"), text("C"), null(), null(),
              null()}};
       }});
  // SQLite's "value REGEXP pattern" calls regexp(pattern, value) and
  // "value MATCH pattern" match(pattern, value); the session writes
  // PostgreSQL's ~, !~ (REGEXP) and ~*, !~* (MATCH) so
  // (sqltext::regex_operators).
  for (const bool case_insensitive : {false, true})
    c.functions.push_back(
        {case_insensitive ? "match" : "regexp", 2, 2, "bool",
         [case_insensitive](
             const std::vector<sql_value>& args) -> expected<sql_value> {
           auto pattern = text_arg(args, 0);
           auto value = text_arg(args, 1);
           if (!pattern || !value)
             return null();
           auto matched = regex_match(*pattern, *value, case_insensitive);
           if (!matched)
             return std::move(matched).err();
           return boolean(*matched);
         }});
  c.functions.push_back(
      {"pg_get_userbyid", 1, 1, "name",
       [](const std::vector<sql_value>& args) -> expected<sql_value> {
         auto id = text_arg(args, 0);
         if (!id)
           return null();
         auto oid = oid_from_text(*id);
         if (!oid)
           return std::move(oid).err();
         return text("unknown (OID=" + std::to_string(*oid) + ")");
       }});
  c.functions.push_back(
      {"pg_encoding_to_char", 1, 1, "name",
       [](const std::vector<sql_value>& args) -> expected<sql_value> {
         auto n = text_arg(args, 0);
         if (!n)
           return null();
         auto parsed = integer_from_text(*n, "integer", INT32_MIN, INT32_MAX);
         if (!parsed)
           return std::move(parsed).err();
         return text(encoding_name(*parsed));
       }});
  c.functions.push_back(
      {"array_to_string", 2, 3, "text",
       [](const std::vector<sql_value>& args) -> expected<sql_value> {
         auto array = text_arg(args, 0);
         auto delimiter = text_arg(args, 1);
         if (!array || !delimiter)
           return null();
         auto elements = pgtext::array_elements(*array);
         if (!elements)
           return std::move(elements).err();
         const auto null_text = text_arg(args, 2);
         std::string out;
         bool first = true;
         for (const auto& e : *elements) {
           if (!e && !null_text)
             continue; // NULL elements are skipped without null_string
           if (!first)
             out += *delimiter;
           out += e ? *e : *null_text;
           first = false;
         }
         return text(std::move(out));
       }});
}

} // namespace walmux::actors::admin
