// target_copy.cpp: runs of inserts as one COPY, part of target_session
// (target_session.hpp).
//
// Consecutive inserts into one relation, inside a transaction or across
// the transactions of a group, are sent as one COPY ... FROM STDIN, in
// text format, or in binary format when the publisher sends binary values
// and every target column type has a binary input function. COPY cannot
// run in pipeline mode: the pipeline is read to a Sync first (which does
// not end the open transaction), the COPY runs alone, and the pipeline
// resumes. Any other statement ends the run first, so the order of changes
// on every row holds.
#include "actors/apply/target_session.hpp"
#include "protocol/copy_rows.hpp"

#include <libpq-fe.h>

namespace walmux::actors::apply {
namespace {

// A run of inserts is sent as one COPY once it holds this much.
constexpr size_t max_copy_bytes = 4 << 20;

} // namespace

status target_session::insert(const pgoutput::insert& m,
                              const change_context& ctx) {
  auto rel = change_target(m.relation_oid, &m.new_tuple, "INSERT");
  if (!rel)
    return std::move(rel).err();
  mapped_relation& r = **rel;
  using copyrows::copy_format;
  copy_format format = copyrows::format_of(m.new_tuple);
  // A binary COPY needs every column's binary input, NULL or not.
  if (format == copy_format::binary && !r.binary_copy)
    format = copy_format::none;
  const auto columns = [&r] {
    std::string cols;
    for (size_t i = 0; i < r.rel.columns.size(); ++i)
      cols += (i ? ", " : "") + pq_quote_identifier(r.rel.columns[i].name);
    return cols;
  };
  if (format == copy_format::none) {
    // send_prepared sends the pending run first: the order holds.
    std::vector<const pgoutput::column_value*> values;
    std::string params;
    for (const auto& v : m.new_tuple) {
      values.push_back(&v);
      params += (params.empty() ? "$" : ", $") + std::to_string(values.size());
    }
    return send_prepared(
        "i" + std::to_string(r.generation),
        [&] {
          return "INSERT INTO " + r.qualified + " (" + columns() +
                 ") VALUES (" + params + ")";
        },
        values, ctx);
  }
  if (auto st = flush_keyed(); !st)
    return st;
  const bool binary = format == copy_format::binary;
  if (copy_.rows > 0 &&
      (copy_.generation != r.generation || copy_.binary != binary))
    if (auto st = flush_copy(); !st)
      return st;
  if (copy_.rows == 0) {
    copy_.generation = r.generation;
    copy_.binary = binary;
    copy_.first = ctx;
    copy_.statement = "COPY " + r.qualified + " (" + columns() +
                      ") FROM STDIN" + (binary ? " WITH (FORMAT binary)" : "");
    if (binary)
      copy_.data = copyrows::binary_header;
  }
  copy_.last = ctx;
  const size_t before = copy_.data.size();
  if (binary)
    copyrows::append_binary_row(copy_.data, m.new_tuple);
  else
    copyrows::append_text_row(copy_.data, m.new_tuple);
  ++copy_.rows;
  group_bytes_ += copy_.data.size() - before;
  if (copy_.data.size() >= max_copy_bytes)
    return flush_copy();
  return ok();
}

status target_session::flush_copy() {
  if (copy_.rows == 0)
    return ok();
  PGconn* c = session_->raw();
  // COPY cannot run in pipeline mode: everything sent so far is read to a
  // Sync (which does not end the open transaction), then the COPY runs
  // alone, then the pipeline resumes.
  if (PQpipelineSync(c) != 1)
    return pq_error(c, nullptr);
  pending_.push_back(
      {change_context{'S', {}, 0, {}, {}}, pending::what::control});
  syncs_outstanding_ = true;
  auto drained = drain(0);
  syncs_outstanding_ = false;
  copy_run run = std::move(copy_);
  copy_ = copy_run{};
  if (run.binary)
    run.data += copyrows::binary_trailer;
  if (!drained)
    return drained;
  if (PQexitPipelineMode(c) != 1)
    return pq_error(c, nullptr);
  PGresult* started = PQexec(c, run.statement.c_str());
  const bool copying = started && PQresultStatus(started) == PGRES_COPY_IN;
  std::optional<error> failed;
  if (!copying)
    failed = pq_error(c, started);
  if (started)
    PQclear(started);
  if (copying) {
    if (PQputCopyData(c, run.data.data(), static_cast<int>(run.data.size())) !=
            1 ||
        PQputCopyEnd(c, nullptr) != 1)
      return pq_error(c, nullptr);
    while (PGresult* r = PQgetResult(c)) {
      if (PQresultStatus(r) != PGRES_COMMAND_OK && !failed)
        failed = pq_error(c, r);
      PQclear(r);
    }
  }
  if (failed) {
    // The run may span transactions: the last one is named, so that the
    // retry applies each of them alone and the error finds its own.
    first_error_ = *failed;
    failed_ = run.last;
    if (run.first.final_lsn != run.last.final_lsn)
      failed_.first_final_lsn = run.first.final_lsn;
    return *failed;
  }
  if (PQenterPipelineMode(c) != 1)
    return pq_error(c, nullptr);
  return ok();
}

} // namespace walmux::actors::apply
