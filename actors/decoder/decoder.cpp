// decoder.cpp: one slot's filtering and encoding (decoder.hpp).
#include "actors/decoder/decoder.hpp"

#include "protocol/pgoutput.hpp"
#include "protocol/pgoutput_options.hpp"

#include <algorithm>

namespace walmux::actors {
namespace {

// pgoutput sends Type messages for column types at or above this OID
// (FirstGenbkiObjectId): the builtin ones need none.
constexpr uint32_t first_non_builtin_type = 10000;

const pgoutput::decode_context plain{};

} // namespace

// wal2json's catalog: the upstream's column definitions by relation.
class decoder::column_catalog : public wal2json::catalog_view {
 public:
  const wal2json::column_meta* column(uint32_t relation_oid,
                                      std::string_view name) const override {
    auto rel = tables.find(relation_oid);
    if (rel == tables.end())
      return nullptr;
    auto col = rel->second.find(std::string(name));
    return col == rel->second.end() ? nullptr : &col->second;
  }
  std::optional<uint32_t> origin_id(std::string_view name) const override {
    auto it = origins.find(std::string(name));
    return it == origins.end() ? std::nullopt
                               : std::optional<uint32_t>(it->second);
  }
  std::unordered_map<uint32_t, std::map<std::string, wal2json::column_meta>>
      tables;
  std::unordered_map<std::string, uint32_t> origins; // found upstream
};

decoder::decoder(decoder_params params)
    : params_(std::move(params)) {}
decoder::~decoder() = default;

expected<std::unique_ptr<decoder>> decoder::create(decoder_params params) {
  std::unique_ptr<decoder> d(new decoder(std::move(params)));
  if (d->params_.plugin == "wal2json") {
    auto opts = wal2json::parse_options(d->params_.options);
    if (!opts)
      return std::move(opts).err();
    d->wal2json_origins_ =
        opts->include_origin || !opts->filter_origins.empty();
    d->columns_ = std::make_unique<column_catalog>();
    d->wal2json_ = std::make_unique<wal2json::encoder>(std::move(*opts),
                                                       d->columns_.get());
    return d;
  }
  if (auto st = d->parse_pgoutput_options(); !st)
    return std::move(st).err();
  return d;
}

status decoder::parse_pgoutput_options() {
  auto opts =
      pgoutput::parse_start_options(params_.options, params_.max_proto_version);
  if (!opts)
    return std::move(opts).err();
  // Streaming and two-phase are the publisher's choice per transaction:
  // walmux stores committed transactions only, so it never streams or
  // prepares, which clients that asked for them accept. Binary values are
  // the publisher's choice per column in the same way (PostgreSQL sends a
  // type without a binary send function as text even when asked for
  // binary, and its subscribers decode each column by its own kind): the
  // store holds text, so a client that asked for binary gets text columns.
  messages_ = opts->messages;
  origin_none_ = opts->origin_none;
  for (const auto& p : opts->publication_names)
    if (std::find(params_.upstream_publications.begin(),
                  params_.upstream_publications.end(),
                  p) == params_.upstream_publications.end())
      return error{sqlstate::undefined_object,
                   "publication \"" + p +
                       "\" is not streamed by this walmux node"}
          .with_hint("Add it to upstream_publications, or subscribe to one "
                     "of the publications listed there.");
  if (params_.lookup == nullptr)
    return error{sqlstate::internal_error, "decoder without upstream lookup"};
  // From here on upstream_publications holds the client's publications.
  streamed_publications_ = std::move(params_.upstream_publications);
  params_.upstream_publications = std::move(opts->publication_names);
  return look_up_publications();
}

expected<decoder::noted_relation>
decoder::note_relation(std::string_view bytes) {
  auto m = pgoutput::decode(bytes, plain);
  if (!m)
    return std::move(m).err();
  const auto& r = std::get<pgoutput::relation>(*m);
  relation_def def;
  def.bytes = std::string(bytes);
  def.qualified = r.nspname + "." + r.relname;
  for (const auto& c : r.columns) {
    def.type_oids.push_back(c.type_oid);
    def.names.push_back(c.name);
  }
  relation_def& kept = relations_[r.oid];
  const bool redefined = !kept.bytes.empty() && kept.bytes != def.bytes;
  kept = std::move(def);
  return noted_relation{r.oid, redefined};
}

status decoder::look_up_publications() {
  auto map = params_.lookup->publications(params_.upstream_publications,
                                          streamed_publications_);
  if (!map)
    return std::move(map).err();
  published_ = std::move(*map);
  ++published_generation_;
  checks_rows_ =
      std::any_of(published_.begin(), published_.end(),
                  [](const auto& p) { return !p.second.row_filter.empty(); });
  return ok();
}

expected<const published_actions*> decoder::actions_for(uint32_t relation_oid) {
  auto rel = relations_.find(relation_oid);
  if (rel == relations_.end())
    return error{sqlstate::protocol_violation,
                 "no relation definition for relation ID " +
                     std::to_string(relation_oid) + " in the stored stream"};
  auto it = published_.find(rel->second.qualified);
  if (it != published_.end())
    return &it->second;
  if (unpublished_checked_.insert(relation_oid).second) {
    // Perhaps added to a publication since the last lookup.
    if (auto st = look_up_publications(); !st)
      return std::move(st).err();
    it = published_.find(rel->second.qualified);
    if (it != published_.end())
      return &it->second;
  }
  return nullptr;
}

expected<const published_actions*>
decoder::message_actions(std::string_view bytes, uint32_t& relation_oid) {
  auto info = pgoutput::scan(bytes, plain);
  if (!info)
    return std::move(info).err();
  relation_oid = info->relation_oid;
  return actions_for(relation_oid);
}

expected<const decoder::relation_def*>
decoder::shape(uint32_t relation_oid, const published_actions& a) {
  relation_def& def = relations_.at(relation_oid);
  if (def.shaped_generation == published_generation_)
    return &def;
  def.keep.clear();
  def.sent_bytes = def.bytes;
  if (!a.columns.empty()) {
    for (const auto& c : a.columns)
      if (std::find(def.names.begin(), def.names.end(), c) == def.names.end())
        return error{sqlstate::object_not_in_prerequisite_state,
                     "column \"" + c + "\" of table \"" + def.qualified +
                         "\" is published but not in the stream this walmux "
                         "node stores"}
            .with_hint("Stream the column from the upstream: the column "
                       "lists of upstream_publications must include it.");
    for (const auto& n : def.names)
      def.keep.push_back(std::find(a.columns.begin(), a.columns.end(), n) !=
                         a.columns.end());
    if (std::find(def.keep.begin(), def.keep.end(), false) == def.keep.end()) {
      def.keep.clear(); // the stored stream has the published columns only
    } else {
      auto m = pgoutput::decode(def.bytes, plain);
      if (!m)
        return std::move(m).err();
      auto r = std::get<pgoutput::relation>(std::move(*m));
      std::vector<pgoutput::relation_column> kept;
      for (size_t i = 0; i < r.columns.size(); ++i)
        if (def.keep[i])
          kept.push_back(std::move(r.columns[i]));
      r.columns = std::move(kept);
      def.sent_bytes.clear();
      pgoutput::encode(def.sent_bytes, r);
    }
  }
  def.shaped_generation = published_generation_;
  return &def;
}

expected<std::string> decoder::project_change(std::string_view bytes,
                                              const relation_def& def) {
  auto m = pgoutput::decode(bytes, plain);
  if (!m)
    return std::move(m).err();
  auto project = [&](pgoutput::tuple& t) -> status {
    if (t.size() != def.keep.size())
      return error{sqlstate::protocol_violation,
                   "stored change to \"" + def.qualified + "\" has " +
                       std::to_string(t.size()) + " columns, its relation " +
                       std::to_string(def.keep.size())};
    pgoutput::tuple kept;
    for (size_t i = 0; i < t.size(); ++i)
      if (def.keep[i])
        kept.push_back(std::move(t[i]));
    t = std::move(kept);
    return ok();
  };
  status st = ok();
  if (auto* i = std::get_if<pgoutput::insert>(&*m)) {
    st = project(i->new_tuple);
  } else if (auto* u = std::get_if<pgoutput::update>(&*m)) {
    st = project(u->new_tuple);
    if (st && u->old_kind != 0)
      st = project(u->old_tuple);
  } else if (auto* d = std::get_if<pgoutput::delete_>(&*m)) {
    st = project(d->old_tuple);
  }
  if (!st)
    return std::move(st).err();
  std::string out;
  pgoutput::encode(out, *m);
  return out;
}

status decoder::ensure_relation_sent(uint32_t relation_oid,
                                     const published_actions& a,
                                     std::vector<output>& out) {
  auto shaped = shape(relation_oid, a);
  if (!shaped)
    return std::move(shaped).err();
  const relation_def& def = **shaped;
  auto in_txn = txn_relations_.find(relation_oid);
  if (in_txn != txn_relations_.end() && in_txn->second == def.sent_bytes)
    return ok();
  auto sent = sent_relations_.find(relation_oid);
  if (in_txn == txn_relations_.end() && sent != sent_relations_.end() &&
      sent->second == def.sent_bytes)
    return ok();
  for (size_t i = 0; i < def.type_oids.size(); ++i)
    if (def.type_oids[i] >= first_non_builtin_type &&
        (def.keep.empty() || def.keep[i]))
      if (auto y = types_.find(def.type_oids[i]); y != types_.end())
        out.push_back({lsn{}, lsn{}, y->second});
  out.push_back({lsn{}, lsn{}, def.sent_bytes});
  txn_relations_[relation_oid] = def.sent_bytes;
  return ok();
}

status decoder::load_columns(const pgoutput::relation& r) {
  auto cols = params_.lookup->columns(r.oid);
  if (!cols)
    return std::move(cols).err();
  columns_->tables[r.oid] = std::move(*cols);
  return ok();
}

status decoder::learn(const storage::transaction_view& txn) {
  for (const auto& m : txn.messages) {
    auto k = pgoutput::peek_kind(m.bytes);
    if (!k)
      return std::move(k).err();
    if (*k == pgoutput::kind::relation) {
      if (auto noted = note_relation(m.bytes); !noted)
        return std::move(noted).err();
      if (wal2json_) {
        auto decoded = pgoutput::decode(m.bytes, plain);
        if (!decoded)
          return std::move(decoded).err();
        if (auto st = load_columns(std::get<pgoutput::relation>(*decoded)); !st)
          return st;
        std::vector<wal2json::document> none;
        if (auto st = wal2json_->feed(*decoded, {m.data_start, {}}, none); !st)
          return st;
      }
    } else if (*k == pgoutput::kind::type) {
      auto info = pgoutput::scan(m.bytes, plain);
      if (!info)
        return std::move(info).err();
      types_[info->relation_oid] = std::string(m.bytes);
    }
  }
  return ok();
}

status decoder::feed(const storage::transaction_view& txn,
                     std::vector<output>& out) {
  if (txn.commit.commit_lsn < params_.start_point)
    return learn(txn);
  return wal2json_ ? feed_wal2json(txn, out) : feed_pgoutput(txn, out);
}

status decoder::feed_pgoutput(const storage::transaction_view& txn,
                              std::vector<output>& out) {
  using pgoutput::kind;
  if (txn.commit.flags & storage::commit_flag_non_transactional) {
    if (messages_)
      for (const auto& m : txn.messages)
        out.push_back({m.data_start, m.data_start, std::string(m.bytes)});
    return ok();
  }
  if (txn.first_piece) {
    open_ = open_transaction{};
    txn_relations_.clear();
  }
  if (!keep_verdicts_)
    verdicts_.clear(); // keyed by addresses of the previous piece
  if (open_.dropped)
    return learn(txn);
  // Until the transaction has a change for the client, what would follow
  // Begin waits in open_.body; then Begin goes out and the rest follows.
  auto start = [&]() {
    if (open_.started)
      return;
    open_.started = true;
    out.push_back(std::move(open_.begin));
    if (open_.has_origin)
      out.push_back(std::move(open_.origin));
    for (auto& o : open_.body)
      out.push_back(std::move(o));
    open_.body.clear();
  };
  auto sink = [&]() -> std::vector<output>& {
    return open_.started ? out : open_.body;
  };
  for (size_t index = 0; index < txn.messages.size(); ++index) {
    const storage::message_view& m = txn.messages[index];
    auto k = pgoutput::peek_kind(m.bytes);
    if (!k)
      return std::move(k).err();
    switch (*k) {
    case kind::begin:
      open_.begin = {m.data_start, m.data_start, std::string(m.bytes)};
      open_.has_begin = true;
      break;
    case kind::origin:
      if (origin_none_) {
        // PostgreSQL drops such transactions.
        open_.dropped = true;
        storage::transaction_view rest;
        rest.messages.assign(txn.messages.begin() + index, txn.messages.end());
        return learn(rest);
      }
      open_.origin = {m.data_start, m.data_start, std::string(m.bytes)};
      open_.has_origin = true;
      break;
    case kind::type: {
      auto info = pgoutput::scan(m.bytes, plain);
      if (!info)
        return std::move(info).err();
      types_[info->relation_oid] = std::string(m.bytes);
      open_.types.push_back({m.data_start, m.data_start, std::string(m.bytes)});
      break;
    }
    case kind::relation: {
      auto noted = note_relation(m.bytes);
      if (!noted)
        return std::move(noted).err();
      // A definition that differs from the one stored before may come with
      // a publication change (a column list, say): look them up again.
      if (noted->redefined)
        if (auto st = look_up_publications(); !st)
          return st;
      const uint32_t oid = noted->oid;
      auto actions = actions_for(oid);
      if (!actions)
        return std::move(actions).err();
      if (*actions != nullptr) {
        // The upstream sent a (new) definition: pass it on as it came, for
        // the published columns.
        auto shaped = shape(oid, **actions);
        if (!shaped)
          return std::move(shaped).err();
        for (auto& y : open_.types)
          sink().push_back(std::move(y));
        sink().push_back({m.data_start, m.data_start, (*shaped)->sent_bytes});
        txn_relations_[oid] = (*shaped)->sent_bytes;
      }
      open_.types.clear();
      break;
    }
    case kind::insert:
    case kind::update:
    case kind::delete_: {
      uint32_t oid = 0;
      auto actions = message_actions(m.bytes, oid);
      if (!actions)
        return std::move(actions).err();
      const published_actions* a = *actions;
      if (a == nullptr || (*k == kind::insert && !a->insert) ||
          (*k == kind::update && !a->update) ||
          (*k == kind::delete_ && !a->del))
        break;
      std::string filtered;
      std::string_view change = m.bytes;
      if (!a->row_filter.empty()) {
        if (auto st = check_rows_ahead(txn, index); !st)
          return st;
        auto kept = filter_change(m.bytes, relations_.at(oid), *a);
        if (!kept)
          return std::move(kept).err();
        if (kept->empty())
          break; // the client's row filter leaves it out
        filtered = std::move(*kept);
        change = filtered;
      }
      start();
      if (auto st = ensure_relation_sent(oid, *a, out); !st)
        return st;
      const relation_def& def = relations_.at(oid);
      if (def.keep.empty()) {
        out.push_back({m.data_start, m.data_start, std::string(change)});
      } else {
        auto projected = project_change(change, def);
        if (!projected)
          return std::move(projected).err();
        out.push_back({m.data_start, m.data_start, std::move(*projected)});
      }
      break;
    }
    case kind::truncate: {
      auto decoded = pgoutput::decode(m.bytes, plain);
      if (!decoded)
        return std::move(decoded).err();
      auto t = std::get<pgoutput::truncate>(*decoded);
      std::vector<uint32_t> kept;
      // Copies: a lookup may replace published_.
      std::vector<published_actions> kept_actions;
      for (uint32_t oid : t.relation_oids) {
        auto actions = actions_for(oid);
        if (!actions)
          return std::move(actions).err();
        if (*actions != nullptr && (*actions)->truncate) {
          kept.push_back(oid);
          kept_actions.push_back(**actions);
        }
      }
      if (kept.empty())
        break;
      start();
      for (size_t i = 0; i < kept.size(); ++i)
        if (auto st = ensure_relation_sent(kept[i], kept_actions[i], out); !st)
          return st;
      if (kept.size() == t.relation_oids.size()) {
        out.push_back({m.data_start, m.data_start, std::string(m.bytes)});
      } else {
        t.relation_oids = std::move(kept);
        std::string bytes;
        pgoutput::encode(bytes, t);
        out.push_back({m.data_start, m.data_start, std::move(bytes)});
      }
      break;
    }
    case kind::message:
      if (messages_) {
        start();
        out.push_back({m.data_start, m.data_start, std::string(m.bytes)});
      }
      break;
    case kind::commit:
      if (!open_.started || !open_.has_begin)
        return ok(); // nothing published: not sent (PostgreSQL 15+)
      for (auto& [oid, bytes] : txn_relations_)
        sent_relations_[oid] = std::move(bytes);
      txn_relations_.clear();
      out.push_back({m.data_start, m.data_start, std::string(m.bytes)});
      return ok();
    default:
      return error{sqlstate::protocol_violation,
                   std::string("unexpected stored pgoutput message '") +
                       static_cast<char>(*k) + "'"};
    }
  }
  if (txn.last_piece)
    return error{sqlstate::data_corrupted,
                 "stored transaction without a Commit message"};
  return ok();
}

status decoder::feed_wal2json(const storage::transaction_view& txn,
                              std::vector<output>& out) {
  std::vector<wal2json::document> docs;
  for (const auto& m : txn.messages) {
    auto decoded = pgoutput::decode(m.bytes, plain);
    if (!decoded)
      return std::move(decoded).err();
    if (auto* r = std::get_if<pgoutput::relation>(&*decoded))
      if (auto st = load_columns(*r); !st)
        return st;
    if (auto* o = std::get_if<pgoutput::origin>(&*decoded);
        o != nullptr && wal2json_origins_ &&
        !columns_->origins.count(o->name)) {
      auto id = params_.lookup->origin_id(o->name);
      if (!id)
        return std::move(id).err();
      if (*id)
        columns_->origins[o->name] = **id;
    }
    if (auto st =
            wal2json_->feed(*decoded, {m.data_start, txn.commit.end_lsn}, docs);
        !st)
      return st;
  }
  for (auto& d : docs)
    out.push_back({d.data_start, d.data_start, std::move(d.text)});
  return ok();
}

} // namespace walmux::actors
