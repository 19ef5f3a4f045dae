// upstream_lookup.hpp: the decoder's view of the upstream's catalogs,
// queried over a libpq session of the walsender's own (blocking: the
// walsender is a detached actor).
#pragma once

#include "actors/common/pq_session.hpp"
#include "actors/decoder/decoder.hpp"

#include <memory>
#include <string>

namespace walmux::actors {

class pq_upstream_lookup : public upstream_lookup {
 public:
  // `empty_search_path`: the catalog session runs with search_path '' (as
  // the client's walsender session would), so that format_type() and
  // pg_get_expr() qualify every name outside pg_catalog.
  pq_upstream_lookup(std::string conninfo, bool empty_search_path)
      : conninfo_(std::move(conninfo))
      , empty_search_path_(empty_search_path) {}

  expected<publication_map>
  publications(const std::vector<std::string>& names,
               const std::vector<std::string>& streamed) override;
  expected<std::vector<bool>>
  rows_match(const std::string& filter, const std::vector<std::string>& names,
             const std::vector<uint32_t>& type_oids,
             const std::vector<const pgoutput::tuple*>& rows) override;
  expected<std::map<std::string, wal2json::column_meta>>
  columns(uint32_t relation_oid) override;
  expected<std::optional<uint32_t>> origin_id(const std::string& name) override;

 private:
  // Connects the catalog session if it is not.
  status connected();
  // Passes `r` on, dropping the session after a connection error (the
  // next query connects again).
  expected<pq_result> finished(expected<pq_result> r);
  expected<pq_result> query(const std::string& sql);
  // PostgreSQL 15+: the column lists of the publications in `list` (quoted
  // names) into `map`; 0A000 when they differ for a table.
  status add_column_lists(const std::string& list, publication_map& map);
  // PostgreSQL 15+: the row filter each table of `names` needs applied
  // to the rows stored for `streamed` into `map` (see
  // upstream_lookup::publications).
  status add_row_filters(const std::vector<std::string>& names,
                         const std::vector<std::string>& streamed,
                         publication_map& map);
  std::string conninfo_;
  bool empty_search_path_;
  std::unique_ptr<pq_session> session_;
};

} // namespace walmux::actors
