// upstream_lookup.cpp: publication and column definitions from the
// upstream's catalogs (upstream_lookup.hpp).
#include "actors/walsender/upstream_lookup.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <set>

namespace walmux::actors {

status pq_upstream_lookup::connected() {
  if (session_)
    return ok();
  auto s =
      pq_session::connect(conninfo_, {{"application_name", "walmux catalog"}});
  if (!s)
    return std::move(s).err();
  if (empty_search_path_)
    if (auto set = (*s)->exec(
            "SELECT pg_catalog.set_config('search_path', '', false)");
        !set)
      return std::move(set).err();
  session_ = std::move(*s);
  return ok();
}

expected<pq_result> pq_upstream_lookup::finished(expected<pq_result> r) {
  if (!r && r.err().code.rfind("08", 0) == 0)
    session_.reset(); // reconnect next time
  return r;
}

expected<pq_result> pq_upstream_lookup::query(const std::string& sql) {
  if (auto st = connected(); !st)
    return std::move(st).err();
  return finished(session_->exec(sql));
}

expected<publication_map>
pq_upstream_lookup::publications(const std::vector<std::string>& names,
                                 const std::vector<std::string>& streamed) {
  const std::string list = pq_quote_literal_list(names);
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
        published_actions{yes(2), yes(3), yes(4), yes(5), {}, {}};
  }
  if (session_->server_version() >= 150000) {
    if (auto st = add_column_lists(list, map); !st)
      return std::move(st).err();
    if (auto st = add_row_filters(names, streamed, map); !st)
      return std::move(st).err();
  }
  return map;
}

status
pq_upstream_lookup::add_row_filters(const std::vector<std::string>& names,
                                    const std::vector<std::string>& streamed,
                                    publication_map& map) {
  std::vector<std::string> all = streamed;
  all.insert(all.end(), names.begin(), names.end());
  auto r = query(
      "SELECT n.nspname || '.' || c.relname, p.pubname, p.pubinsert, "
      "p.pubupdate, p.pubdelete, pg_catalog.pg_get_expr(gpt.qual, gpt.relid) "
      "FROM pg_catalog.pg_publication p, "
      "LATERAL pg_catalog.pg_get_publication_tables(p.pubname) gpt "
      "JOIN pg_catalog.pg_class c ON c.oid = gpt.relid "
      "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE p.pubname IN (" +
      pq_quote_literal_list(all) + ")");
  if (!r)
    return std::move(r).err();
  // Per table and action (insert, update, delete), the filters a walsender
  // ORs for a list of publications, as PostgreSQL 15 does: those of the
  // publications that publish the action; none at all if one of them
  // publishes the table unfiltered.
  struct effective {
    std::set<std::string> filters;
    bool unfiltered = false;
    bool published = false;
    bool operator==(const effective& o) const {
      return published == o.published && unfiltered == o.unfiltered &&
             (unfiltered || filters == o.filters);
    }
  };
  using per_action = std::array<effective, 3>;
  std::map<std::string, per_action> client, node;
  auto in = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  for (const auto& row : r->rows) {
    const std::string table = row[0].value_or("");
    const std::string pub = row[1].value_or("");
    for (int a = 0; a < 3; ++a) {
      if (!(row[2 + a] && *row[2 + a] == "t"))
        continue;
      for (auto* side : {in(names, pub) ? &client : nullptr,
                         in(streamed, pub) ? &node : nullptr}) {
        if (side == nullptr)
          continue;
        effective& e = (*side)[table][a];
        e.published = true;
        if (row[5])
          e.filters.insert(*row[5]);
        else
          e.unfiltered = true;
      }
    }
  }
  for (const auto& [table, actions] : client) {
    const per_action& stored = node[table];
    bool same = true;
    for (int a = 0; a < 3; ++a)
      same = same && (!actions[a].published || actions[a] == stored[a]);
    if (same)
      continue; // the stored rows are the client's
    // The node stores a superset (its publications include the client's):
    // the client's filter is applied to each stored change, which needs
    // one filter for every action (a stored delete may have been an
    // update that the upstream turned into one).
    const effective* one = nullptr;
    for (int a = 0; a < 3; ++a)
      if (actions[a].published) {
        if (one != nullptr && !(*one == actions[a]))
          return error{sqlstate::feature_not_supported,
                       "the row filters of table \"" + table +
                           "\" differ between the actions its publications "
                           "publish, and from those of the publications "
                           "this walmux node streams"}
              .with_hint("Subscribe to the publications the node streams "
                         "for this table, or use one WHERE clause for all "
                         "actions.");
        one = &actions[a];
      }
    std::string filter;
    for (const auto& f : one->filters)
      filter += (filter.empty() ? "(" : " OR (") + f + ")";
    if (auto t = map.find(table); t != map.end())
      t->second.row_filter = std::move(filter);
  }
  return ok();
}

expected<std::vector<bool>> pq_upstream_lookup::rows_match(
    const std::string& filter, const std::vector<std::string>& names,
    const std::vector<uint32_t>& type_oids,
    const std::vector<const pgoutput::tuple*>& rows) {
  if (names.empty() || names.size() != type_oids.size())
    return error{sqlstate::protocol_violation,
                 "a stored relation has no usable column list"};
  for (const auto* row : rows)
    if (row->size() != names.size())
      return error{sqlstate::protocol_violation,
                   "a stored row does not match its relation's columns"};
  // Each row carries its ordinal in a column named unlike every column of
  // the table (the only names a row filter can use); the query returns
  // the ordinals of the rows that pass.
  std::string ordinal = "walmux_row_number";
  while (std::find(names.begin(), names.end(), ordinal) != names.end())
    ordinal += "_";
  std::string columns = pq_quote_identifier(ordinal);
  for (const auto& n : names)
    columns += ", " + pq_quote_identifier(n);
  // A statement takes at most 65535 parameters; 1000 rows a query bound
  // its size.
  const size_t rows_per_query =
      std::max<size_t>(1, std::min<size_t>(1000, 65535 / names.size()));
  std::vector<bool> passes(rows.size(), false);
  if (auto st = connected(); !st)
    return std::move(st).err();
  for (size_t first = 0; first < rows.size(); first += rows_per_query) {
    const size_t count = std::min(rows_per_query, rows.size() - first);
    std::string values;
    std::vector<uint32_t> types;
    std::vector<std::optional<std::string>> texts;
    for (size_t r = 0; r < count; ++r) {
      values += (r == 0 ? "(" : ", (") + std::to_string(r);
      for (size_t i = 0; i < names.size(); ++i) {
        const auto& value = (*rows[first + r])[i];
        types.push_back(type_oids[i]);
        texts.push_back(value.format == 't'
                            ? std::optional<std::string>(value.data)
                            : std::nullopt);
        values += ", $" + std::to_string(texts.size());
      }
      values += ")";
    }
    auto r = finished(session_->exec_params(
        "SELECT " + pq_quote_identifier(ordinal) + " FROM (VALUES " + values +
            ") AS walmux_row (" + columns + ") WHERE (" + filter + ") IS TRUE",
        types, texts));
    if (!r)
      return std::move(r).err();
    for (const auto& row : r->rows) {
      size_t index = count;
      if (row[0])
        std::from_chars(row[0]->data(), row[0]->data() + row[0]->size(), index);
      if (index >= count)
        return error{sqlstate::protocol_violation,
                     "unexpected row number in a row filter's result"};
      passes[first + index] = true;
    }
  }
  return passes;
}

status pq_upstream_lookup::add_column_lists(const std::string& list,
                                            publication_map& map) {
  // One row per table and publication, or per listed column when the
  // publication's list leaves some columns out (a list of every column is
  // no list, as in PostgreSQL).
  auto r = query(
      "SELECT n.nspname, c.relname, p.pubname, a.attname "
      "FROM pg_catalog.pg_publication p, "
      "LATERAL pg_catalog.pg_get_publication_tables(p.pubname) gpt "
      "JOIN pg_catalog.pg_class c ON c.oid = gpt.relid "
      "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
      "AND a.attnum = ANY (gpt.attrs) "
      "AND array_length(gpt.attrs, 1) < (SELECT count(*) FROM "
      "pg_catalog.pg_attribute x WHERE x.attrelid = c.oid AND x.attnum > 0 "
      "AND NOT x.attisdropped AND x.attgenerated = '') "
      "WHERE p.pubname IN (" +
      list + ") ORDER BY 1, 2, 3, a.attnum");
  if (!r)
    return std::move(r).err();
  // (table, publication) -> its list; then every publication of a table
  // must agree, or PostgreSQL's walsender refuses the table.
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> lists;
  for (const auto& row : r->rows) {
    auto& cols = lists[{row[0].value_or("") + "." + row[1].value_or(""),
                        row[2].value_or("")}];
    if (row[3])
      cols.push_back(*row[3]);
  }
  std::map<std::string, const std::vector<std::string>*> first;
  for (const auto& [key, cols] : lists) {
    auto [it, fresh] = first.emplace(key.first, &cols);
    if (!fresh && *it->second != cols)
      return error{sqlstate::feature_not_supported,
                   "cannot use different column lists for table \"" +
                       key.first + "\" in different publications"};
    if (auto t = map.find(key.first); t != map.end())
      t->second.columns = cols;
  }
  return ok();
}

expected<std::map<std::string, wal2json::column_meta>>
pq_upstream_lookup::columns(uint32_t relation_oid) {
  const std::string oid = std::to_string(relation_oid);
  auto r = query(
      "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), "
      "t.typname, a.attnotnull, COALESCE(a.attnum = ANY (i.indkey), false), "
      "a.attnum, COALESCE(pg_catalog.pg_get_expr(d.adbin, d.adrelid), ''), "
      "b.oid, b.typname, "
      "pg_catalog.format_type(t.typbasetype, t.typtypmod) "
      "FROM pg_catalog.pg_attribute a "
      "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
      "LEFT JOIN pg_catalog.pg_type b ON t.typtype = 'd' AND "
      "b.oid = t.typbasetype "
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
    if (row[7]) {
      m.domain_base_oid = static_cast<uint32_t>(std::stoul(*row[7]));
      m.domain_base_name = row[8].value_or("");
      m.domain_base_format_type = row[9].value_or("");
    }
    out[row[0].value_or("")] = std::move(m);
  }
  return out;
}

expected<std::optional<uint32_t>>
pq_upstream_lookup::origin_id(const std::string& name) {
  auto r = query("SELECT roident FROM pg_catalog.pg_replication_origin "
                 "WHERE roname = " +
                 pq_quote_literal(name));
  if (!r)
    return std::move(r).err();
  if (r->rows.empty() || !r->rows[0][0])
    return std::optional<uint32_t>{};
  return std::optional<uint32_t>(
      static_cast<uint32_t>(std::stoul(*r->rows[0][0])));
}

} // namespace walmux::actors
