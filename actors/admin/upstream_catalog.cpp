// upstream_catalog.cpp: see upstream_catalog.hpp.
#include "actors/admin/upstream_catalog.hpp"

#include "actors/admin/sql_values.hpp"
#include "actors/common/pq_session.hpp"

#include <cstdint>
#include <functional>

namespace walmux::actors::admin {
namespace {

// One column of an upstream result: how the engine keeps it.
enum class kind { oid, text, boolean };

// A table whose rows are `query` on the upstream, run with the node's
// publication names as $1 (a text[]), each column kept as `kinds` says.
table_def upstream_table(walsender_env& env, std::string name,
                         std::string schema, std::string query,
                         std::vector<kind> kinds) {
  return {std::move(name), std::move(schema), 0,
          [&env, query = std::move(query), kinds = std::move(kinds)](
              const std::vector<sql_value>&) -> expected<std::vector<sql_row>> {
            std::vector<sql_row> out;
            if (env.upstream_conninfo.empty() ||
                env.upstream_publications.empty())
              return out;
            // The names as an array literal: each quoted, \ and " escaped.
            std::string names = "{";
            for (const auto& n : env.upstream_publications) {
              names += names.size() > 1 ? ",\"" : "\"";
              for (char ch : n) {
                if (ch == '"' || ch == '\\')
                  names += '\\';
                names += ch;
              }
              names += '"';
            }
            names += '}';
            auto session = pq_session::connect(
                env.upstream_conninfo, {{"application_name", "walmux_catalog"}},
                "upstream server");
            if (!session)
              return std::move(session).err();
            auto r = (*session)->exec_params(query, {1009}, {names});
            if (!r)
              return std::move(r).err();
            for (const auto& row : r->rows) {
              sql_row values;
              for (size_t c = 0; c < kinds.size() && c < row.size(); ++c) {
                if (!row[c]) {
                  values.push_back(null());
                } else if (kinds[c] == kind::boolean) {
                  values.push_back(boolean(*row[c] == "t"));
                } else if (kinds[c] == kind::oid) {
                  auto v = integer_from_text(*row[c], "oid", 0, UINT32_MAX);
                  if (!v)
                    return std::move(v).err();
                  values.push_back(integer(*v));
                } else {
                  values.push_back(text(*row[c]));
                }
              }
              out.push_back(std::move(values));
            }
            return out;
          }};
}

} // namespace

void add_upstream_catalog(node_catalog& c, walsender_env& env) {
  c.tables.push_back(upstream_table(
      env, "pg_publication",
      "CREATE TABLE x(oid oid, pubname name, pubowner oid, puballtables "
      "bool, pubinsert bool, pubupdate bool, pubdelete bool, pubtruncate "
      "bool, pubviaroot bool)",
      "SELECT oid, pubname, pubowner, puballtables, pubinsert, pubupdate, "
      "pubdelete, pubtruncate, pubviaroot FROM pg_catalog.pg_publication "
      "WHERE pubname = ANY ($1) ORDER BY pubname",
      {kind::oid, kind::text, kind::oid, kind::boolean, kind::boolean,
       kind::boolean, kind::boolean, kind::boolean, kind::boolean}));
  c.tables.push_back(upstream_table(
      env, "pg_publication_tables",
      "CREATE TABLE x(pubname name, schemaname name, tablename name, "
      "attnames text, rowfilter text)",
      "SELECT pubname, schemaname, tablename, attnames, rowfilter FROM "
      "pg_catalog.pg_publication_tables WHERE pubname = ANY ($1) ORDER BY "
      "1, 2, 3",
      {kind::text, kind::text, kind::text, kind::text, kind::text}));
}

} // namespace walmux::actors::admin
