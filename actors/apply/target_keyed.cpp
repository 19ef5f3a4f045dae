// target_keyed.cpp: runs of UPDATEs and DELETEs by key as one statement,
// part of target_session (target_session.hpp).
//
// Consecutive updates (the key unchanged) or deletes of one relation, each
// naming a different key, are sent as one statement joining a VALUES list:
//
//   UPDATE ONLY t AS w SET a = v.c1, b = v.c2
//     FROM (VALUES ($1, $2), ($3, $4)) AS v(c1, c2) WHERE w.a = v.c1
//   DELETE FROM ONLY t AS w USING (VALUES ($1), ($2)) AS v(c1)
//     WHERE w.a = v.c1
//
// The target then finds each row through its index once per row, as a
// PostgreSQL subscriber does, instead of paying one statement's protocol
// round and executor start per row. The result is the same as row by row:
// every row of the run names a different key, so no row is changed twice
// and no change depends on another of the run; any other change ends the
// run first, so the order of changes on every row holds. Parameters carry
// the target columns' types (a VALUES list has no column to infer them
// from). A row changed by a key update, a REPLICA IDENTITY FULL change or a
// row whose key is an unchanged TOAST value goes alone, as before.
#include "actors/apply/target_session.hpp"
#include "common/log.hpp"

#include <libpq-fe.h>

namespace walmux::actors::apply {
namespace {

// Rows of one statement: planning a VALUES list grows with its length, and
// the protocol allows 65535 parameters.
constexpr size_t max_run_rows = 256;
constexpr size_t max_run_params = 65535;

} // namespace

bool target_session::keyed(const mapped_relation& r,
                           const pgoutput::tuple& key_source,
                           std::string& key) const {
  // A tuple of another width than its relation (a malformed message) goes
  // the row way, which reads only the columns the relation has.
  if (r.rel.replica_identity == 'f' ||
      r.target_types.size() != r.rel.columns.size() ||
      key_source.size() != r.rel.columns.size())
    return false;
  key.clear();
  for (size_t i = 0; i < r.rel.columns.size(); ++i) {
    if ((r.rel.columns[i].flags & 1) == 0)
      continue;
    const auto& v = key_source[i];
    if (v.format != 't' && v.format != 'b')
      return false; // NULL or unchanged TOAST: the row statement decides
    key += v.format;
    key += std::to_string(v.data.size()) + ':' + v.data;
  }
  return !key.empty();
}

status target_session::add_keyed(char kind, const mapped_relation& r,
                                 const std::string& shape, std::string key,
                                 const pgoutput::tuple& values,
                                 const change_context& ctx) {
  if (auto st = flush_copy(); !st)
    return st;
  if (keyed_.rows > 0 &&
      (keyed_.kind != kind || keyed_.generation != r.generation ||
       keyed_.shape != shape || keyed_.keys.count(key) ||
       keyed_.rows >= max_run_rows ||
       keyed_.params.size() + values.size() > max_run_params))
    if (auto st = flush_keyed(); !st)
      return st;
  if (keyed_.rows == 0) {
    keyed_.kind = kind;
    keyed_.generation = r.generation;
    keyed_.shape = shape;
    keyed_.first = ctx;
    keyed_.types.clear();
    std::string set, columns, join;
    size_t n = 0;
    for (size_t i = 0; i < r.rel.columns.size(); ++i) {
      const bool key_column = (r.rel.columns[i].flags & 1) != 0;
      if (shape[i] != 's')
        continue;
      const std::string name = pq_quote_identifier(r.rel.columns[i].name);
      const std::string c = "v.c" + std::to_string(++n);
      keyed_.types.push_back(r.target_types[i]);
      columns += (n > 1 ? ", c" : "c") + std::to_string(n);
      if (kind == 'U')
        set += (set.empty() ? "" : ", ") + name + " = " + c;
      if (key_column)
        join += (join.empty() ? "" : " AND ") + ("w." + name) + " = " + c;
    }
    keyed_.head = kind == 'U' ? "UPDATE ONLY " + r.qualified + " AS w SET " +
                                    set + " FROM (VALUES "
                              : "DELETE FROM ONLY " + r.qualified +
                                    " AS w USING (VALUES ";
    keyed_.tail = ") AS v(" + columns + ") WHERE " + join;
  }
  keyed_.last = ctx;
  keyed_.keys.insert(std::move(key));
  for (size_t i = 0; i < values.size(); ++i)
    if (shape[i] == 's') {
      group_bytes_ += values[i].data.size();
      keyed_.params.push_back(values[i]);
    }
  ++keyed_.rows;
  return ok();
}

status target_session::flush_keyed() {
  if (keyed_.rows == 0)
    return ok();
  key_run run = std::move(keyed_);
  keyed_ = key_run{};
  const size_t width = run.types.size();
  std::string sql = run.head;
  std::vector<Oid> types;
  std::vector<const char*> params;
  std::vector<int> lengths, formats;
  types.reserve(run.params.size());
  for (size_t i = 0; i < run.params.size(); ++i) {
    const auto& v = run.params[i];
    const size_t column = i % width;
    if (column == 0)
      sql += i == 0 ? "(" : "), (";
    sql += (column ? ", $" : "$") + std::to_string(i + 1);
    types.push_back(run.types[column]);
    params.push_back(v.format == 'n' ? nullptr : v.data.c_str());
    lengths.push_back(static_cast<int>(v.data.size()));
    formats.push_back(v.format == 'b' ? 1 : 0);
  }
  sql += ")" + run.tail;
  PGconn* c = session_->raw();
  if (PQsendQueryParams(c, sql.c_str(), static_cast<int>(params.size()),
                        types.data(), params.data(), lengths.data(),
                        formats.data(), 0) != 1)
    return pq_error(c, nullptr);
  change_context ctx = run.last;
  if (run.first.final_lsn != run.last.final_lsn)
    ctx.first_final_lsn = run.first.final_lsn;
  pending_.push_back({ctx, pending::what::change, run.rows});
  if (pending_.size() > max_outstanding)
    return drain(drain_to);
  return ok();
}

} // namespace walmux::actors::apply
