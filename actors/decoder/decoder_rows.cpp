// decoder_rows.cpp: a client's row filter that is narrower than the
// node's (decoder.hpp): stored changes are checked against it by the
// upstream, in batches: those of a transaction (up to rows_ahead's bound at
// a time) or of a run of small transactions the walsender read ahead, and
// each change then looks its verdict up.
#include "actors/decoder/decoder.hpp"
#include "protocol/pgoutput.hpp"

#include <deque>

namespace walmux::actors {
namespace {

const pgoutput::decode_context plain{};

} // namespace

expected<std::string> decoder::filter_change(std::string_view bytes,
                                             const relation_def& def,
                                             const published_actions& a) {
  auto m = pgoutput::decode(bytes, plain);
  if (!m)
    return std::move(m).err();
  // The verdict found ahead, or the upstream asked for this row alone.
  const row_verdict* ahead = verdict_for(bytes);
  auto passes = [&](const pgoutput::tuple& t, bool old) -> expected<bool> {
    if (ahead != nullptr)
      return old ? ahead->old_row : ahead->new_row;
    auto verdicts = params_.lookup->rows_match(a.row_filter, def.names,
                                               def.type_oids, {&t});
    if (!verdicts)
      return std::move(verdicts).err();
    return static_cast<bool>(verdicts->at(0));
  };
  if (!std::holds_alternative<pgoutput::update>(*m)) {
    const auto* i = std::get_if<pgoutput::insert>(&*m);
    auto ok = i != nullptr
                  ? passes(i->new_tuple, false)
                  : passes(std::get<pgoutput::delete_>(*m).old_tuple, true);
    if (!ok)
      return std::move(ok).err();
    return *ok ? std::string(bytes) : std::string();
  }
  const auto& u = std::get<pgoutput::update>(*m);
  auto new_ok = passes(u.new_tuple, false);
  if (!new_ok)
    return std::move(new_ok).err();
  if (u.old_kind == 0) // key unchanged: the old row passes as the new does
    return *new_ok ? std::string(bytes) : std::string();
  auto old_ok = passes(u.old_tuple, true);
  if (!old_ok)
    return std::move(old_ok).err();
  if (*old_ok == *new_ok)
    return *new_ok ? std::string(bytes) : std::string();
  std::string out;
  if (*new_ok) {
    // Enters the filter: an insert of the new row, its unchanged TOAST
    // values taken from a whole old row where there is one.
    pgoutput::insert ins{u.xid, u.relation_oid, u.new_tuple};
    if (u.old_kind == 'O')
      for (size_t i = 0; i < ins.new_tuple.size() && i < u.old_tuple.size();
           ++i)
        if (ins.new_tuple[i].format == 'u' && u.old_tuple[i].format == 't')
          ins.new_tuple[i] = u.old_tuple[i];
    pgoutput::encode(out, ins);
  } else {
    // Leaves it: a delete of the old row.
    pgoutput::encode(
        out, pgoutput::delete_{u.xid, u.relation_oid, u.old_kind, u.old_tuple});
  }
  return out;
}

// Rows of a window of stored changes waiting for the client's row filter:
// per relation (one filter each), the rows and whose verdict each one is.
struct decoder::rows_ahead {
  // Bounds what is decoded at once: a window of rows, not a stream.
  static constexpr size_t max_rows = 4096;
  static constexpr size_t max_bytes = 8 << 20;
  struct batch {
    const relation_def* def = nullptr;
    const std::string* filter = nullptr;
    std::vector<const pgoutput::tuple*> rows;
    std::vector<std::pair<const char*, bool>> verdicts; // message, old row
  };
  std::unordered_map<uint32_t, batch> batches;
  std::deque<pgoutput::any_message> decoded; // the rows' storage
  size_t rows = 0, bytes = 0;
  // At a Relation that redefines a table: later changes use a definition
  // not known yet.
  bool stopped = false;
  bool full() const {
    return stopped || rows >= max_rows || bytes >= max_bytes;
  }
};

status decoder::collect_rows(const storage::transaction_view& txn, size_t first,
                             rows_ahead& ahead) {
  using pgoutput::kind;
  for (size_t i = first; i < txn.messages.size() && !ahead.full(); ++i) {
    const std::string_view m = txn.messages[i].bytes;
    auto k = pgoutput::peek_kind(m);
    if (!k)
      return std::move(k).err();
    if (*k != kind::relation && *k != kind::insert && *k != kind::update &&
        *k != kind::delete_)
      continue;
    auto info = pgoutput::scan(m, plain);
    if (!info)
      return std::move(info).err();
    auto rel = relations_.find(info->relation_oid);
    if (*k == kind::relation) {
      ahead.stopped = rel == relations_.end() || rel->second.bytes != m;
      continue;
    }
    if (rel == relations_.end()) {
      ahead.stopped = true;
      break;
    }
    auto pub = published_.find(rel->second.qualified);
    if (pub == published_.end())
      continue;
    const published_actions& a = pub->second;
    if (a.row_filter.empty() || (*k == kind::insert && !a.insert) ||
        (*k == kind::update && !a.update) || (*k == kind::delete_ && !a.del))
      continue;
    auto change = pgoutput::decode(m, plain);
    if (!change)
      return std::move(change).err();
    ahead.decoded.push_back(std::move(*change));
    rows_ahead::batch& b = ahead.batches[info->relation_oid];
    b.def = &rel->second;
    b.filter = &a.row_filter;
    auto add = [&](const pgoutput::tuple& t, bool old) {
      b.rows.push_back(&t);
      b.verdicts.emplace_back(m.data(), old);
      ++ahead.rows;
    };
    const auto& c = ahead.decoded.back();
    if (const auto* ins = std::get_if<pgoutput::insert>(&c)) {
      add(ins->new_tuple, false);
    } else if (const auto* del = std::get_if<pgoutput::delete_>(&c)) {
      add(del->old_tuple, true);
    } else {
      const auto& u = std::get<pgoutput::update>(c);
      add(u.new_tuple, false);
      if (u.old_kind != 0)
        add(u.old_tuple, true);
    }
    ahead.bytes += m.size();
  }
  return ok();
}

status decoder::evaluate_rows(rows_ahead& ahead) {
  verdicts_.clear();
  verdicts_generation_ = published_generation_;
  for (const auto& [oid, b] : ahead.batches) {
    auto passes = params_.lookup->rows_match(*b.filter, b.def->names,
                                             b.def->type_oids, b.rows);
    if (!passes)
      return std::move(passes).err();
    for (size_t r = 0; r < b.rows.size(); ++r) {
      row_verdict& v = verdicts_[b.verdicts[r].first];
      (b.verdicts[r].second ? v.old_row : v.new_row) = (*passes)[r];
    }
  }
  return ok();
}

const decoder::row_verdict*
decoder::verdict_for(std::string_view change) const {
  if (verdicts_generation_ != published_generation_)
    return nullptr; // found with filters looked up again since
  auto it = verdicts_.find(change.data());
  return it == verdicts_.end() ? nullptr : &it->second;
}

status decoder::check_rows_ahead(const storage::transaction_view& txn,
                                 size_t first) {
  if (verdict_for(txn.messages[first].bytes) != nullptr)
    return ok();
  rows_ahead ahead;
  if (auto st = collect_rows(txn, first, ahead); !st)
    return st;
  return evaluate_rows(ahead);
}

status
decoder::check_rows_ahead(std::span<const storage::transaction_view> txns) {
  rows_ahead ahead;
  for (const auto& txn : txns)
    if (txn.commit.commit_lsn >= params_.start_point && !ahead.full())
      if (auto st = collect_rows(txn, 0, ahead); !st)
        return st;
  if (auto st = evaluate_rows(ahead); !st)
    return st;
  keep_verdicts_ = true;
  return ok();
}

void decoder::end_rows_ahead() {
  keep_verdicts_ = false;
  verdicts_.clear();
}

} // namespace walmux::actors
