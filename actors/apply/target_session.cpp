// target_session.cpp: see target_session.hpp.
#include "actors/apply/target_session.hpp"

#include "common/log.hpp"
#include "protocol/pg_text.hpp"

#include <libpq-fe.h>

namespace walmux::actors::apply {
namespace {

std::string qualified_name(const std::string& schema, const std::string& rel) {
  return pq_quote_identifier(schema) + "." + pq_quote_identifier(rel);
}

std::string relation_text(const pgoutput::relation& r) {
  return r.nspname + "." + r.relname;
}

} // namespace

std::string target_origin_name(const std::string& target_key) {
  return "walmux_" + target_key;
}

target_session::target_session(std::unique_ptr<pq_session> s, options o)
    : session_(std::move(s))
    , opts_(std::move(o))
    , origin_name_(target_origin_name(opts_.target_key)) {}

target_session::~target_session() = default;

expected<std::unique_ptr<target_session>>
target_session::connect(const options& o) {
  auto s = pq_session::connect(
      o.conninfo, {{"application_name", "walmux_apply_" + o.subscription}},
      "target database");
  if (!s)
    return std::move(s).err();
  std::unique_ptr<target_session> t(new target_session(std::move(*s), o));
  if (auto st = t->setup(); !st)
    return std::move(st).err();
  return t;
}

status target_session::setup() {
  if (auto r = session_->exec("SET session_replication_role = replica"); !r) {
    if (r.err().code != "42501")
      return std::move(r).err();
    log_message(elevel::warning,
                "subscription \"" + opts_.subscription +
                    "\": the target role may not set session_replication_role"
                    " = replica; triggers and foreign keys of the target "
                    "tables fire during apply");
  }
  if (auto r = session_->exec("SET synchronous_commit = " +
                              pq_quote_literal(opts_.synchronous_commit));
      !r)
    return std::move(r).err();
  const std::string name = pq_quote_literal(origin_name_);
  auto oid = session_->exec("SELECT pg_catalog.pg_replication_origin_oid(" +
                            name + ")");
  if (oid) {
    use_origin_ = true;
    if (!oid->rows.at(0).at(0)) {
      auto made = session_->exec(
          "SELECT pg_catalog.pg_replication_origin_create(" + name + ")");
      if (!made)
        return std::move(made).err();
    }
    auto at = session_->exec(
        "SELECT pg_catalog.pg_replication_origin_progress(" + name + ", true)");
    if (!at)
      return std::move(at).err();
    if (const auto& v = at->rows.at(0).at(0); v) {
      auto parsed = lsn_parse(*v);
      if (!parsed)
        return std::move(parsed).err();
      progress_ = *parsed;
    }
    auto setup = session_->exec(
        "SELECT pg_catalog.pg_replication_origin_session_setup(" + name + ")");
    if (!setup)
      return std::move(setup).err();
  } else {
    if (oid.err().code != "42501")
      return std::move(oid).err();
    auto made = session_->exec(
        "CREATE TABLE IF NOT EXISTS public.walmux_apply_progress ("
        "subname text PRIMARY KEY, remote_lsn pg_lsn NOT NULL, "
        "remote_commit_time timestamptz)");
    if (!made)
      return std::move(made).err();
    auto at = session_->exec(
        "SELECT remote_lsn FROM public.walmux_apply_progress WHERE subname = " +
        pq_quote_literal(opts_.target_key));
    if (!at)
      return std::move(at).err();
    if (!at->rows.empty() && at->rows[0][0]) {
      auto parsed = lsn_parse(*at->rows[0][0]);
      if (!parsed)
        return std::move(parsed).err();
      progress_ = *parsed;
    }
  }
  flushes_ = flush_tracker(progress_);
  if (PQenterPipelineMode(session_->raw()) != 1)
    return pq_error(session_->raw(), nullptr);
  return ok();
}

status target_session::send_query(const std::string& sql,
                                  const change_context& ctx, pending::what w) {
  if (auto st = flush_runs(); !st)
    return st;
  if (PQsendQueryParams(session_->raw(), sql.c_str(), 0, nullptr, nullptr,
                        nullptr, nullptr, 0) != 1)
    return pq_error(session_->raw(), nullptr);
  pending_.push_back({ctx, w});
  return ok();
}

status target_session::send_prepared(
    const std::string& name, const std::function<std::string()>& sql_text,
    const std::vector<const pgoutput::column_value*>& values,
    const change_context& ctx) {
  if (auto st = flush_runs(); !st)
    return st;
  PGconn* c = session_->raw();
  // The statements a session keeps prepared are bounded (REPLICA IDENTITY
  // FULL makes one per NULL pattern of the old rows): past the bound a
  // new shape goes unnamed, parsed at every use.
  const bool named =
      prepared_.count(name) || prepared_.size() < max_prepared_statements;
  std::string unnamed_sql;
  if (!named) {
    unnamed_sql = sql_text();
  } else if (!prepared_.count(name)) {
    const std::string sql = sql_text();
    if (PQsendPrepare(c, name.c_str(), sql.c_str(),
                      static_cast<int>(values.size()), nullptr) != 1)
      return pq_error(c, nullptr);
    pending_.push_back({ctx, pending::what::control});
    prepared_[name] = true;
  }
  std::vector<const char*> params;
  std::vector<int> lengths, formats;
  params.reserve(values.size());
  for (const auto* v : values) {
    const bool null = v->format == 'n';
    params.push_back(null ? nullptr : v->data.c_str());
    lengths.push_back(static_cast<int>(v->data.size()));
    formats.push_back(v->format == 'b' ? 1 : 0);
    group_bytes_ += v->data.size();
  }
  const int sent =
      named
          ? PQsendQueryPrepared(c, name.c_str(),
                                static_cast<int>(params.size()), params.data(),
                                lengths.data(), formats.data(), 0)
          : PQsendQueryParams(c, unnamed_sql.c_str(),
                              static_cast<int>(params.size()), nullptr,
                              params.data(), lengths.data(), formats.data(), 0);
  if (sent != 1)
    return pq_error(c, nullptr);
  pending_.push_back({ctx, pending::what::change});
  if (pending_.size() > max_outstanding)
    return drain(drain_to);
  return ok();
}

status target_session::read_one() {
  PGconn* c = session_->raw();
  pending p = std::move(pending_.front());
  pending_.pop_front();
  if (p.ctx.kind == 'S') { // a Sync
    PGresult* r = PQgetResult(c);
    if (r == nullptr)
      return pq_error(c, nullptr);
    const auto st = PQresultStatus(r);
    PQclear(r);
    if (st != PGRES_PIPELINE_SYNC)
      return error{sqlstate::protocol_violation,
                   "the target sent an unexpected result in a pipeline"};
    return ok();
  }
  bool first = true;
  while (PGresult* r = PQgetResult(c)) {
    const auto st = PQresultStatus(r);
    if (first && st == PGRES_FATAL_ERROR && !first_error_) {
      first_error_ = pq_error(c, r);
      failed_ = p.ctx;
    } else if (first && p.w == pending::what::change &&
               st == PGRES_COMMAND_OK &&
               (p.ctx.kind == 'U' || p.ctx.kind == 'D') &&
               std::strtoull(PQcmdTuples(r), nullptr, 10) < p.rows) {
      // PostgreSQL's apply logs these and goes on (18 counts them).
      const size_t missing =
          p.rows - std::strtoull(PQcmdTuples(r), nullptr, 10);
      const bool upd = p.ctx.kind == 'U';
      (upd ? conflicts_.update_missing : conflicts_.delete_missing) +=
          static_cast<int64_t>(missing);
      const std::string where =
          p.ctx.first_final_lsn.valid()
              ? "transactions finished from " +
                    lsn_to_string(p.ctx.first_final_lsn) + " to " +
                    lsn_to_string(p.ctx.final_lsn)
              : "transaction " + std::to_string(p.ctx.xid) + ", finished at " +
                    lsn_to_string(p.ctx.final_lsn);
      log_message(
          elevel::log,
          "conflict detected on relation \"" + p.ctx.relation +
              "\": conflict=" + (upd ? "update_missing" : "delete_missing") +
              (p.rows == 1 ? std::string(", the row to be ") +
                                 (upd ? "updated" : "deleted") +
                                 " was not found; the change is skipped"
                           : ", " + std::to_string(missing) + " of the " +
                                 std::to_string(p.rows) + " rows to be " +
                                 (upd ? "updated" : "deleted") +
                                 " were not found; those changes are skipped") +
              " (" + where + ")");
    } else if (first && p.w == pending::what::flush_query &&
               st == PGRES_TUPLES_OK && PQntuples(r) == 1) {
      auto inserted = lsn_parse(PQgetvalue(r, 0, 0));
      auto flushed = lsn_parse(PQgetvalue(r, 0, 1));
      if (inserted && flushed) {
        local_lsn_ = *inserted;
        flushed_lsn_ = *flushed;
      }
    }
    first = false;
    PQclear(r);
  }
  return ok();
}

status target_session::drain(size_t keep) {
  PGconn* c = session_->raw();
  if (pending_.size() > keep && !syncs_outstanding_) {
    if (PQsendFlushRequest(c) != 1)
      return pq_error(c, nullptr);
  }
  if (PQflush(c) < 0)
    return pq_error(c, nullptr);
  while (pending_.size() > keep)
    if (auto st = read_one(); !st)
      return st;
  if (first_error_)
    return *first_error_;
  return ok();
}

expected<pq_result> target_session::query_now(const std::string& sql) {
  PGconn* c = session_->raw();
  if (auto st = flush_runs(); !st)
    return std::move(st).err();
  if (auto st = drain(0); !st)
    return std::move(st).err();
  if (PQsendQueryParams(c, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr,
                        0) != 1 ||
      PQpipelineSync(c) != 1)
    return pq_error(c, nullptr);
  pq_result out;
  std::optional<error> failed;
  while (PGresult* r = PQgetResult(c)) {
    if (PQresultStatus(r) == PGRES_FATAL_ERROR) {
      failed = pq_error(c, r);
    } else if (PQresultStatus(r) == PGRES_TUPLES_OK) {
      out.has_rows = true;
      for (int i = 0; i < PQntuples(r); ++i) {
        std::vector<std::optional<std::string>> row;
        for (int j = 0; j < PQnfields(r); ++j)
          row.push_back(PQgetisnull(r, i, j)
                            ? std::nullopt
                            : std::optional<std::string>(PQgetvalue(r, i, j)));
        out.rows.push_back(std::move(row));
      }
    }
    PQclear(r);
  }
  PGresult* sync = PQgetResult(c);
  const bool synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  if (sync)
    PQclear(sync);
  if (failed)
    return *failed;
  if (!synced)
    return error{sqlstate::protocol_violation,
                 "the target sent an unexpected result in a pipeline"};
  return out;
}

void target_session::relation(const pgoutput::relation& r) {
  auto& m = relations_[r.oid];
  // pgoutput sends a relation again after any invalidation of it; only a
  // real change needs new statements (each generation prepares its own, so
  // re-preparing on every resend would grow the target session's
  // statements without bound).
  if (m.generation != 0 && m.rel.nspname == r.nspname &&
      m.rel.relname == r.relname &&
      m.rel.replica_identity == r.replica_identity &&
      m.rel.columns == r.columns)
    return;
  m.rel = r;
  m.generation = ++next_generation_;
  m.checked = false;
  m.qualified = qualified_name(r.nspname, r.relname);
}

status target_session::check_relation(mapped_relation& m) {
  auto found = query_now(
      "SELECT c.oid, a.attname, t.typreceive <> 0, a.atttypid FROM "
      "pg_catalog.pg_class "
      "c LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND "
      "a.attnum > 0 AND NOT a.attisdropped LEFT JOIN pg_catalog.pg_type t ON "
      "t.oid = a.atttypid WHERE c.oid = pg_catalog.to_regclass(" +
      pq_quote_literal(m.qualified) + ")");
  if (!found)
    return std::move(found).err();
  if (found->rows.empty())
    return error{sqlstate::undefined_object,
                 "logical replication target relation \"" +
                     relation_text(m.rel) + "\" does not exist"};
  std::string missing;
  m.binary_copy = true;
  m.target_types.clear();
  for (const auto& col : m.rel.columns) {
    bool present = false;
    for (const auto& row : found->rows)
      if (row[1] && *row[1] == col.name) {
        present = true;
        m.binary_copy = m.binary_copy && row[2] && *row[2] == "t";
        m.target_types.push_back(
            row[3] ? static_cast<uint32_t>(std::stoul(*row[3])) : 0);
      }
    if (!present)
      missing += (missing.empty() ? "\"" : ", \"") + col.name + "\"";
  }
  if (!missing.empty())
    return error{"55000",
                 "logical replication target relation \"" +
                     relation_text(m.rel) + "\" is missing replicated column" +
                     (missing.find(',') == std::string::npos ? "" : "s") +
                     ": " + missing};
  m.checked = true;
  return ok();
}

expected<target_session::mapped_relation*>
target_session::relation_for(uint32_t oid) {
  auto it = relations_.find(oid);
  if (it == relations_.end())
    return error{sqlstate::protocol_violation,
                 "no relation map entry for remote relation ID " +
                     std::to_string(oid)};
  if (!it->second.checked)
    if (auto st = check_relation(it->second); !st)
      return std::move(st).err();
  return &it->second;
}

expected<target_session::mapped_relation*>
target_session::change_target(uint32_t oid, const pgoutput::tuple* values,
                              const char* what) {
  if (auto st = open_group(); !st)
    return std::move(st).err();
  auto rel = relation_for(oid);
  if (!rel)
    return std::move(rel).err();
  if (values && values->size() != (*rel)->rel.columns.size())
    return error{sqlstate::protocol_violation,
                 std::string("the ") + what +
                     "'s column count does not match its relation"};
  return rel;
}

status target_session::open_group() {
  if (group_open_)
    return ok();
  group_open_ = true;
  group_txns_ = 0;
  group_bytes_ = 0;
  return send_query("BEGIN", {});
}

namespace {

// The WHERE clause that finds the row an UPDATE or DELETE names: by the
// key columns, or (REPLICA IDENTITY FULL) one row equal in every sent old
// value, NULL where it was NULL (through any index the target has on those
// columns, as PostgreSQL 16's apply does). Parameters are numbered from
// `first`; `values` gets their values.
expected<std::string>
row_filter(const pgoutput::relation& rel, const std::string& qualified,
           const pgoutput::tuple& old_values, bool full, int first,
           std::vector<const pgoutput::column_value*>& values,
           std::string& shape) {
  std::string where;
  int n = first;
  for (size_t i = 0; i < rel.columns.size(); ++i) {
    const bool key = full ? true : (rel.columns[i].flags & 1) != 0;
    if (!key || i >= old_values.size() || old_values[i].format == 'u') {
      shape += '-';
      continue;
    }
    // Only `=` and IS NULL let the target use an index (IS NOT DISTINCT
    // FROM $n would scan the table for every change). A key column is
    // never NULL (primary key, or a replica identity index, which
    // PostgreSQL requires NOT NULL); with REPLICA IDENTITY FULL a NULL
    // old value is matched by IS NULL, which makes its own statement shape.
    where += std::string(where.empty() ? "" : " AND ") +
             pq_quote_identifier(rel.columns[i].name);
    if (full && old_values[i].format == 'n') {
      shape += 'n';
      where += " IS NULL";
      continue;
    }
    shape += 'k';
    where += " = $" + std::to_string(n++);
    values.push_back(&old_values[i]);
  }
  if (where.empty())
    return error{"55000",
                 "publisher did not send replica identity column expected by "
                 "the logical replication target relation \"" +
                     rel.nspname + "." + rel.relname + "\""};
  if (!full)
    return where;
  return "ctid = (SELECT ctid FROM ONLY " + qualified + " WHERE " + where +
         " LIMIT 1)";
}

} // namespace

status target_session::update(const pgoutput::update& m,
                              const change_context& ctx) {
  auto rel = change_target(m.relation_oid, &m.new_tuple, "UPDATE");
  if (!rel)
    return std::move(rel).err();
  mapped_relation& r = **rel;
  std::vector<const pgoutput::column_value*> values;
  std::string set, shape;
  for (size_t i = 0; i < m.new_tuple.size(); ++i) {
    if (m.new_tuple[i].format == 'u') {
      shape += 'u';
      continue;
    }
    shape += 's';
    values.push_back(&m.new_tuple[i]);
    set += (set.empty() ? "" : ", ") +
           pq_quote_identifier(r.rel.columns[i].name) + " = $" +
           std::to_string(values.size());
  }
  if (set.empty())
    return ok(); // nothing changed that the target can be told
  // The key unchanged (no old tuple sent): the row may join a keyed run.
  if (std::string key; m.old_kind == 0 && keyed(r, m.new_tuple, key))
    return add_keyed('U', r, shape, std::move(key), m.new_tuple, ctx);
  const bool full = r.rel.replica_identity == 'f';
  const pgoutput::tuple& old_values =
      m.old_kind != 0 ? m.old_tuple : m.new_tuple;
  auto where = row_filter(r.rel, r.qualified, old_values, full,
                          static_cast<int>(values.size()) + 1, values, shape);
  if (!where)
    return std::move(where).err();
  const std::string name = "u" + std::to_string(r.generation) + "_" + shape;
  const std::string sql =
      "UPDATE ONLY " + r.qualified + " SET " + set + " WHERE " + *where;
  return send_prepared(
      name, [&sql] { return sql; }, values, ctx);
}

status target_session::remove(const pgoutput::delete_& m,
                              const change_context& ctx) {
  auto rel = change_target(m.relation_oid, nullptr, "DELETE");
  if (!rel)
    return std::move(rel).err();
  mapped_relation& r = **rel;
  if (std::string key; keyed(r, m.old_tuple, key)) {
    std::string shape;
    for (const auto& c : r.rel.columns)
      shape += (c.flags & 1) ? 's' : '-';
    return add_keyed('D', r, shape, std::move(key), m.old_tuple, ctx);
  }
  std::vector<const pgoutput::column_value*> values;
  std::string shape;
  auto where = row_filter(r.rel, r.qualified, m.old_tuple,
                          r.rel.replica_identity == 'f', 1, values, shape);
  if (!where)
    return std::move(where).err();
  const std::string name = "d" + std::to_string(r.generation) + "_" + shape;
  const std::string sql =
      "DELETE FROM ONLY " + r.qualified + " WHERE " + *where;
  return send_prepared(
      name, [&sql] { return sql; }, values, ctx);
}

status target_session::truncate(const pgoutput::truncate& m,
                                const change_context& ctx) {
  if (auto st = open_group(); !st)
    return st;
  std::string list;
  for (uint32_t oid : m.relation_oids) {
    auto rel = relation_for(oid);
    if (!rel)
      return std::move(rel).err();
    list += (list.empty() ? "" : ", ") + (*rel)->qualified;
  }
  std::string sql = "TRUNCATE ONLY " + list;
  if (m.flags & 2)
    sql += " RESTART IDENTITY";
  if (m.flags & 1)
    sql += " CASCADE";
  if (auto st = send_query(sql, ctx, pending::what::change); !st)
    return st;
  return ok();
}

void target_session::transaction_done(lsn end, int64_t commit_time) {
  group_end_ = end;
  group_time_ = commit_time;
  ++group_txns_;
}

status target_session::commit_group() {
  return end_group("COMMIT", true);
}

status target_session::end_group(const std::string& finish,
                                 bool progress_inside) {
  if (!group_open_)
    return ok();
  PGconn* c = session_->raw();
  if (progress_inside && group_end_.valid()) {
    const std::string at = lsn_to_string(group_end_);
    const std::string when = pgtext::timestamptz_utc(group_time_);
    std::string sql;
    if (use_origin_)
      sql = "SELECT pg_catalog.pg_replication_origin_xact_setup(" +
            pq_quote_literal(at) + ", " + pq_quote_literal(when) + ")";
    else
      sql = "INSERT INTO public.walmux_apply_progress AS p VALUES (" +
            pq_quote_literal(opts_.target_key) + ", " + pq_quote_literal(at) +
            ", " + pq_quote_literal(when) +
            ") ON CONFLICT (subname) DO UPDATE SET remote_lsn = "
            "excluded.remote_lsn, remote_commit_time = "
            "excluded.remote_commit_time";
    if (auto st = send_query(sql, {}); !st)
      return st;
  }
  if (auto st = send_query(finish, {}); !st)
    return st;
  if (auto st = send_query("SELECT pg_catalog.pg_current_wal_insert_lsn(), "
                           "pg_catalog.pg_current_wal_flush_lsn()",
                           {}, pending::what::flush_query);
      !st)
    return st;
  if (PQpipelineSync(c) != 1)
    return pq_error(c, nullptr);
  pending_.push_back(
      {change_context{'S', {}, 0, {}, {}}, pending::what::control});
  syncs_outstanding_ = true;
  auto st = drain(0);
  syncs_outstanding_ = false;
  group_open_ = false;
  if (!st)
    return st;
  if (group_end_.valid()) {
    progress_ = group_end_;
    // The insert position read after COMMIT bounds the commit record.
    flushes_.committed(local_lsn_, group_end_);
  }
  group_end_ = lsn{};
  flushes_.flushed(flushed_lsn_);
  return ok();
}

status target_session::refresh_confirmed() {
  if (!flushes_.waiting() || group_open_)
    return ok();
  auto r = query_now("SELECT pg_catalog.pg_current_wal_flush_lsn()");
  if (!r)
    return std::move(r).err();
  if (r->rows.size() == 1 && r->rows[0][0]) {
    auto flushed = lsn_parse(*r->rows[0][0]);
    if (!flushed)
      return std::move(flushed).err();
    flushed_lsn_ = *flushed;
  }
  flushes_.flushed(flushed_lsn_);
  return ok();
}

void target_session::abandon() {
  // The session is dropped after an error; the server rolls the open
  // transaction back when the connection closes.
  group_open_ = false;
  pending_.clear();
  copy_ = copy_run{};
  keyed_ = key_run{};
}

status target_session::set_progress(lsn end, int64_t commit_time) {
  const std::string at = pq_quote_literal(lsn_to_string(end));
  if (use_origin_) {
    // An origin set up in this session cannot be advanced by it.
    const std::string name = pq_quote_literal(origin_name_);
    for (const std::string& sql :
         {std::string(
              "SELECT pg_catalog.pg_replication_origin_session_reset()"),
          "SELECT pg_catalog.pg_replication_origin_advance(" + name + ", " +
              at + ")",
          "SELECT pg_catalog.pg_replication_origin_session_setup(" + name +
              ")"})
      if (auto r = query_now(sql); !r)
        return std::move(r).err();
  } else {
    auto r = query_now("INSERT INTO public.walmux_apply_progress VALUES (" +
                       pq_quote_literal(opts_.target_key) + ", " + at + ", " +
                       pq_quote_literal(pgtext::timestamptz_utc(commit_time)) +
                       ") ON CONFLICT (subname) DO UPDATE SET remote_lsn = "
                       "excluded.remote_lsn, remote_commit_time = "
                       "excluded.remote_commit_time");
    if (!r)
      return std::move(r).err();
  }
  progress_ = end;
  return record_commit(end);
}

status target_session::record_commit(lsn end) {
  auto inserted = query_now("SELECT pg_catalog.pg_current_wal_insert_lsn()");
  if (!inserted)
    return std::move(inserted).err();
  auto local = inserted->rows.size() == 1 && inserted->rows[0][0]
                   ? lsn_parse(*inserted->rows[0][0])
                   : expected<lsn>(error{sqlstate::protocol_violation,
                                         "no WAL position from the target"});
  if (!local)
    return std::move(local).err();
  flushes_.committed(*local, end);
  return refresh_confirmed();
}

} // namespace walmux::actors::apply
