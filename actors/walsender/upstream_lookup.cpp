// upstream_lookup.cpp: publication and column definitions from the
// upstream's catalogs (upstream_lookup.hpp).
#include "actors/walsender/upstream_lookup.hpp"

namespace walmux::actors {

expected<pq_result> pq_upstream_lookup::query(const std::string& sql) {
  if (!session_) {
    auto s = pq_session::connect(conninfo_,
                                 {{"application_name", "walmux catalog"}});
    if (!s)
      return std::move(s).err();
    session_ = std::move(*s);
  }
  auto r = session_->exec(sql);
  if (!r && r.err().code.rfind("08", 0) == 0)
    session_.reset(); // reconnect next time
  return r;
}

expected<publication_map>
pq_upstream_lookup::publications(const std::vector<std::string>& names) {
  std::string list;
  for (const auto& n : names)
    list += (list.empty() ? "" : ", ") + pq_quote_literal(n);
  auto found = query("SELECT p.pubname FROM pg_catalog.pg_publication p "
                     "WHERE p.pubname IN (" +
                     list + ")");
  if (!found)
    return std::move(found).err();
  for (const auto& n : names) {
    bool present = false;
    for (const auto& row : found->rows)
      present = present || (row[0] && *row[0] == n);
    if (!present)
      return error{sqlstate::undefined_object,
                   "publication \"" + n + "\" does not exist"};
  }
  if (session_->server_version() >= 150000) {
    auto filtered =
        query("SELECT count(*) FROM pg_catalog.pg_publication_rel r "
              "JOIN pg_catalog.pg_publication p ON p.oid = r.prpubid "
              "WHERE p.pubname IN (" +
              list +
              ") "
              "AND (r.prqual IS NOT NULL OR r.prattrs IS NOT NULL)");
    if (!filtered)
      return std::move(filtered).err();
    if (!filtered->rows.empty() && filtered->rows[0][0] &&
        *filtered->rows[0][0] != "0")
      return error{sqlstate::feature_not_supported,
                   "walmux does not support publications with row filters or "
                   "column lists yet"}
          .with_hint("Subscribe to a publication without WHERE clauses or "
                     "column lists.");
  }
  auto tables = query(
      "SELECT t.schemaname, t.tablename, bool_or(p.pubinsert), "
      "bool_or(p.pubupdate), bool_or(p.pubdelete), bool_or(p.pubtruncate) "
      "FROM pg_catalog.pg_publication p "
      "JOIN pg_catalog.pg_publication_tables t ON t.pubname = p.pubname "
      "WHERE p.pubname IN (" +
      list + ") GROUP BY 1, 2");
  if (!tables)
    return std::move(tables).err();
  publication_map map;
  for (const auto& row : tables->rows) {
    auto yes = [&](size_t i) { return row[i] && *row[i] == "t"; };
    map[row[0].value_or("") + "." + row[1].value_or("")] =
        published_actions{yes(2), yes(3), yes(4), yes(5)};
  }
  return map;
}

expected<std::map<std::string, wal2json::column_meta>>
pq_upstream_lookup::columns(uint32_t relation_oid) {
  const std::string oid = std::to_string(relation_oid);
  auto r = query(
      "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), "
      "t.typname, a.attnotnull, COALESCE(a.attnum = ANY (i.indkey), false), "
      "a.attnum, COALESCE(pg_catalog.pg_get_expr(d.adbin, d.adrelid), '') "
      "FROM pg_catalog.pg_attribute a "
      "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
      "LEFT JOIN pg_catalog.pg_index i ON i.indrelid = a.attrelid AND "
      "i.indisprimary "
      "LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND "
      "d.adnum = a.attnum "
      "WHERE a.attrelid = " +
      oid + " AND a.attnum > 0 AND NOT a.attisdropped");
  if (!r)
    return std::move(r).err();
  std::map<std::string, wal2json::column_meta> out;
  for (const auto& row : r->rows) {
    wal2json::column_meta m;
    m.format_type = row[1].value_or("");
    m.type_name = row[2].value_or("");
    m.not_null = row[3] && *row[3] == "t";
    m.primary_key = row[4] && *row[4] == "t";
    m.attnum = std::stoi(row[5].value_or("0"));
    m.default_expr = row[6].value_or("");
    out[row[0].value_or("")] = std::move(m);
  }
  return out;
}

} // namespace walmux::actors
