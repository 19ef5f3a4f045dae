// walsender_proxy.cpp: what a replication connection to walmux runs on the
// upstream (walsender_session.hpp): the strict proxy of subscriber SQL and
// the snapshot of an initial table copy.
//
// Each walmux session that needs the upstream gets one upstream session of
// its own: a replication=database connection (so that it can create the
// temporary slot whose snapshot a table copy uses), with
// default_transaction_read_only = on and the settings under which
// PostgreSQL subscribers expect COPY text (ISO dates, extra_float_digits 3).
// Only statements that protocol/proxy_sql.hpp allows are sent to it; a COPY
// must also name a table that a publication walmux streams covers.
//
// CREATE_REPLICATION_SLOT ... (SNAPSHOT 'use') inside the client's
// transaction: walmux creates its own slot first, at the point up to which
// it has everything (that holds retention), then a TEMPORARY upstream slot
// with SNAPSHOT 'use' in the upstream transaction, and moves its slot to
// that slot's consistent point. The client's COPY then sees exactly the
// transactions that commit before the point, and its slot streams exactly
// those that commit at or after it: the rule a PostgreSQL publisher keeps
// for its own slot and snapshot. The temporary upstream slot is dropped as
// soon as the client's transaction ends.
#include "actors/walsender/walsender_session.hpp"
#include "common/log.hpp"
#include "protocol/proxy_sql.hpp"

#include <random>

namespace walmux::actors::walsender_detail {

char session::transaction_status() const {
  return upstream_sql_ ? upstream_sql_->transaction_status() : 'I';
}

expected<pq_session*> session::upstream_session() {
  if (!upstream_sql_) {
    std::vector<std::pair<std::string, std::string>> extra{
        {"replication", "database"},
        {"application_name", "walmux: " + application_name_},
        {"client_encoding", client_encoding_},
        {"options", "-c datestyle=ISO -c intervalstyle=postgres "
                    "-c extra_float_digits=3 "
                    "-c default_transaction_read_only=on"}};
    auto s = pq_session::connect(env_.upstream_conninfo, extra);
    if (!s)
      return std::move(s).err();
    upstream_sql_ = std::move(*s);
  }
  return upstream_sql_.get();
}

void session::close_upstream_session() {
  upstream_sql_.reset(); // the upstream drops its temporary slot with it
  upstream_temp_slot_.clear();
}

void session::upstream_statement_done(const error* failed) {
  if (failed && failed->code.rfind("08", 0) == 0) {
    close_upstream_session();
    return;
  }
  if (!upstream_temp_slot_.empty() && upstream_sql_ &&
      upstream_sql_->transaction_status() == 'I') {
    auto dropped =
        upstream_sql_->exec("DROP_REPLICATION_SLOT " + upstream_temp_slot_);
    if (!dropped)
      close_upstream_session(); // the slot goes with the connection
    upstream_temp_slot_.clear();
  }
}

void session::forward_sql(const std::string& sql) {
  auto statement = proxy::classify(sql);
  if (!statement) {
    send_error(statement.err());
    ready();
    return;
  }
  auto up = upstream_session();
  if (!up) {
    send_error(up.err());
    ready();
    return;
  }
  if (statement->kind == proxy::statement_kind::copy_out) {
    relay_copy(sql, *statement);
    ready();
    return;
  }
  auto r = (*up)->exec(sql);
  if (!r) {
    send_error(r.err());
  } else if (r->has_rows) {
    std::vector<field_description> fields;
    for (const auto& c : r->columns)
      fields.push_back({c.name, static_cast<int32_t>(c.table_oid),
                        c.table_column, static_cast<int32_t>(c.type_oid),
                        c.type_size, c.type_modifier, 0});
    send_rows(fields, r->rows, r->command_tag);
  } else {
    link_->send(encoded(wire::command_complete{r->command_tag}));
  }
  upstream_statement_done(r ? nullptr : &r.err());
  ready();
}

status session::check_published(const std::string& schema,
                                const std::string& table) {
  const std::string list = pq_quote_literal_list(env_.upstream_publications);
  if (list.empty())
    return error{"42501", "permission denied for table " + table}.with_detail(
        "walmux streams no publications (upstream_publications is empty), "
        "so it copies no tables.");
  auto r = upstream_sql_->exec(
      "SELECT 1 FROM pg_catalog.pg_publication_tables WHERE pubname IN (" +
      list + ") AND schemaname = " + pq_quote_literal(schema) +
      " AND tablename = " + pq_quote_literal(table));
  if (!r)
    return std::move(r).err();
  if (r->rows.empty())
    return error{"42501", "permission denied for table " + table}.with_detail(
        "walmux copies only tables of the publications it streams (" + list +
        "), and \"" + schema + "." + table + "\" is in none of them.");
  return ok();
}

status session::check_row_filter(const proxy::statement& statement) {
  const std::string list = pq_quote_literal_list(env_.upstream_publications);
  auto r = upstream_sql_->exec(
      "SELECT DISTINCT pg_catalog.pg_get_expr(gpt.qual, gpt.relid) FROM "
      "pg_catalog.pg_publication p, "
      "LATERAL pg_catalog.pg_get_publication_tables(p.pubname) gpt "
      "WHERE gpt.relid = pg_catalog.to_regclass(" +
      pq_quote_literal(pq_quote_identifier(statement.schema) + "." +
                       pq_quote_identifier(statement.table)) +
      ") AND p.pubname IN (" + list + ") AND gpt.qual IS NOT NULL");
  if (!r)
    return std::move(r).err();
  std::vector<std::string> filters;
  for (const auto& row : r->rows)
    if (!row.empty() && row[0])
      filters.push_back(proxy::expression_form(*row[0]));
  if (proxy::is_disjunction_of(statement.where, filters))
    return ok();
  return error{"42501", "permission denied for table " + statement.table}
      .with_detail("walmux copies rows of \"" + statement.schema + "." +
                   statement.table +
                   "\" only with the row filters of the publications it "
                   "streams, and this WHERE clause is not one of them or "
                   "their OR.");
}

void session::relay_copy(const std::string& sql,
                         const proxy::statement& statement) {
  status st = check_published(statement.schema, statement.table);
  if (st && !statement.where.empty())
    st = check_row_filter(statement);
  if (!st) {
    send_error(st.err());
    upstream_statement_done(&st.err());
    return;
  }
  // Rows are gathered into batches and handed to the link within the send
  // bound: a subscriber that reads slowly slows the upstream COPY down
  // instead of growing walmux's memory.
  const size_t bound = static_cast<size_t>(env_.send_buffer_bytes.load());
  std::string batch;
  auto flush = [&]() -> bool {
    while (link_->queued() >= bound && !link_->closed())
      link_->wait_for_room(bound, pump_wait);
    if (link_->closed())
      return false;
    link_->send(std::move(batch));
    batch.clear();
    batch.reserve(send_batch_bytes + 1024);
    return true;
  };
  batch.reserve(send_batch_bytes + 1024);
  auto tag = upstream_sql_->copy_out(
      sql,
      [&](const pq_copy_format& format) {
        wire::encode(batch,
                     wire::copy_response{'H', format.overall, format.columns});
      },
      [&](std::string_view row) {
        wire::encode_copy_data(batch, row);
        return batch.size() < send_batch_bytes || flush();
      });
  if (!tag) {
    if (tag.err().code == "57014") {
      close_upstream_session(); // the client is gone
      return;
    }
    // An error before the first row leaves no CopyOutResponse to end.
    if (!batch.empty())
      flush();
    send_error(tag.err());
    upstream_statement_done(&tag.err());
    return;
  }
  wire::encode(batch, wire::copy_done{});
  wire::encode(batch, wire::command_complete{*tag});
  flush();
}

expected<lsn> session::upstream_snapshot_point() {
  if (!upstream_sql_ || upstream_sql_->transaction_status() != 'T')
    return error{sqlstate::internal_error,
                 "CREATE_REPLICATION_SLOT ... (SNAPSHOT 'use') must be "
                 "called inside a transaction"};
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char name[40];
  std::snprintf(name, sizeof name, "walmux_snapshot_%016llx",
                static_cast<unsigned long long>(rng()));
  const bool new_syntax = upstream_sql_->server_version() >= 150000;
  auto r =
      upstream_sql_->exec(std::string("CREATE_REPLICATION_SLOT ") + name +
                          " TEMPORARY LOGICAL pgoutput" +
                          (new_syntax ? " (SNAPSHOT 'use')" : " USE_SNAPSHOT"));
  if (!r) {
    upstream_statement_done(&r.err());
    return std::move(r).err();
  }
  if (r->rows.size() != 1 || r->rows[0].size() < 2 || !r->rows[0][1])
    return error{sqlstate::protocol_violation,
                 "unexpected answer to CREATE_REPLICATION_SLOT from the "
                 "upstream"};
  auto point = lsn_parse(*r->rows[0][1]);
  if (!point)
    return std::move(point).err();
  upstream_temp_slot_ = name;
  return *point;
}

} // namespace walmux::actors::walsender_detail
