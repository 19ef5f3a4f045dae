// wal2json.cpp: wal2json formats 1 and 2 from pgoutput messages (see
// wal2json.hpp). The layout rules (which separators, which whitespace under
// pretty-print, which columns are skipped) follow the wal2json plugin.
#include "protocol/wal2json.hpp"

#include "protocol/pg_text.hpp"
#include "protocol/wal2json_internal.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace walmux::wal2json {

using namespace detail;
namespace {

// Type OIDs wal2json prints without quotes (and bool, bytea).
constexpr uint32_t int2_oid = 21, int4_oid = 23, int8_oid = 20, oid_oid = 26,
                   float4_oid = 700, float8_oid = 701, numeric_oid = 1700,
                   bool_oid = 16, bytea_oid = 17;

error not_supported(const std::string& what) {
  return error{sqlstate::feature_not_supported, what};
}

bool matches(const std::vector<table_pattern>& list, const std::string& schema,
             const std::string& table) {
  for (const auto& t : list)
    if ((t.all_schemas || t.schema == schema) &&
        (t.all_tables || t.table == table))
      return true;
  return false;
}

bool is_numeric_type(uint32_t oid) {
  return oid == int2_oid || oid == int4_oid || oid == int8_oid ||
         oid == oid_oid || oid == float4_oid || oid == float8_oid ||
         oid == numeric_oid;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size())
    return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

bool only_number_chars(std::string_view s) {
  return s.find_first_not_of("0123456789+-eE.") == std::string_view::npos;
}

} // namespace

namespace detail {

// Appends a column value as wal2json prints it.
status write_value(std::string& out, uint32_t type_oid,
                   const pgoutput::column_value& v, bool numbers_as_string) {
  if (v.format == 'n') {
    out += "null";
    return ok();
  }
  if (v.format != 't')
    return not_supported("wal2json output from binary-format column values "
                         "is not supported");
  const std::string& s = v.data;
  if (is_numeric_type(type_oid)) {
    bool special = starts_with_nocase(s, "NaN") ||
                   starts_with_nocase(s, "Infinity") ||
                   starts_with_nocase(s, "-Infinity");
    if (numbers_as_string) {
      if (!only_number_chars(s) && !special)
        return error{sqlstate::internal_error, s + " is not a number"};
      pgtext::escape_json(out, s);
    } else if (special) {
      out += "null";
    } else if (only_number_chars(s)) {
      out += s;
    } else {
      return error{sqlstate::internal_error, s + " is not a number"};
    }
    return ok();
  }
  if (type_oid == bool_oid) {
    out += s == "t" ? "true" : "false";
    return ok();
  }
  if (type_oid == bytea_oid) {
    pgtext::escape_json(out,
                        s.size() >= 2 ? std::string_view(s).substr(2) : "");
    return ok();
  }
  pgtext::escape_json(out, s);
  return ok();
}

// A type name as wal2json prints it: format_type() already quotes names
// that need it, except that an array of such a type ends in "[]" outside
// the quotes and must be escaped as a whole.
void write_type(std::string& out, const std::string& type, bool check_array) {
  if (!type.empty() && type[0] == '"' && (!check_array || type.back() != ']'))
    out += type;
  else
    pgtext::escape_json(out, type);
}

error document_too_large() {
  return error{sqlstate::program_limit_exceeded,
               "wal2json output for a transaction exceeds the document size "
               "limit"}
      .with_hint("Use the option write-in-chunks, or format-version 2.");
}

error missing_meta(const pgoutput::relation& rel, size_t i) {
  return error{sqlstate::internal_error,
               "no catalog information for column \"" + rel.columns[i].name +
                   "\" of relation \"" + rel.nspname + "." + rel.relname +
                   "\""};
}

} // namespace detail

encoder::encoder(options opts, const catalog_view* catalog)
    : opts_(std::move(opts))
    , catalog_(catalog) {
  if (opts_.pretty_print) {
    ht_ = "\t";
    nl_ = "\n";
    sp_ = " ";
  }
  ht2_ = ht_ + ht_;
  ht3_ = ht2_ + ht_;
  ht4_ = ht3_ + ht_;
  comma_ = "," + sp_;
}

bool encoder::table_selected(const std::string& schema,
                             const std::string& table) const {
  if (matches(opts_.filter_tables, schema, table))
    return false;
  return matches(opts_.add_tables, schema, table);
}

std::string encoder::v2_open(char action, bool in_transaction) const {
  std::string text = "{\"action\":\"";
  text += action;
  text += '"';
  if (opts_.include_xids)
    text += in_transaction ? ",\"xid\":" + std::to_string(txn_.xid)
                           : std::string(",\"xid\":null");
  if (opts_.include_timestamp)
    text += in_transaction
                ? ",\"timestamp\":\"" +
                      pgtext::timestamptz_utc(txn_.commit_time) + "\""
                : std::string(",\"timestamp\":null");
  if (opts_.include_origin)
    text += in_transaction ? ",\"origin\":" + std::to_string(txn_.origin_id)
                           : std::string(",\"origin\":null");
  return text;
}

status encoder::feed(const pgoutput::any_message& m,
                     const message_position& pos, std::vector<document>& out) {
  using namespace pgoutput;
  if (txn_.open && txn_.begin_pending) {
    if (auto st = after_begin(m, out); !st || std::holds_alternative<origin>(m))
      return st;
  }
  if (txn_.open && txn_.filtered) {
    // wal2json forgets a transaction filtered by its origin; the relation
    // map still learns its definitions.
    if (auto* r = std::get_if<relation>(&m))
      return on_relation(*r);
    if (std::holds_alternative<commit>(m))
      txn_ = txn_state{};
    return ok();
  }
  if (auto* b = std::get_if<begin>(&m))
    return on_begin(*b, pos, out);
  if (auto* c = std::get_if<commit>(&m))
    return on_commit(*c, pos, out);
  if (auto* r = std::get_if<relation>(&m))
    return on_relation(*r);
  if (auto* i = std::get_if<insert>(&m))
    return on_change('I', i->relation_oid, &i->new_tuple, 0, nullptr, pos, out);
  if (auto* u = std::get_if<update>(&m))
    return on_change('U', u->relation_oid, &u->new_tuple, u->old_kind,
                     u->old_kind ? &u->old_tuple : nullptr, pos, out);
  if (auto* d = std::get_if<delete_>(&m))
    return on_change('D', d->relation_oid, nullptr, d->old_kind, &d->old_tuple,
                     pos, out);
  if (auto* t = std::get_if<truncate>(&m))
    return on_truncate(*t, pos, out);
  if (auto* msg = std::get_if<message>(&m))
    return on_message(*msg, pos, out);
  if (std::holds_alternative<origin>(m) || std::holds_alternative<type>(m))
    return ok(); // names come from the catalog; origins are not printed
  return not_supported("wal2json output needs whole transactions: streamed "
                       "and two-phase pgoutput messages are not supported");
}

status encoder::on_begin(const pgoutput::begin& b, const message_position& pos,
                         std::vector<document>& out) {
  if (txn_.open)
    return error{sqlstate::protocol_violation,
                 "BEGIN inside an open transaction"};
  if (opts_.include_lsn && !pos.txn_end_lsn.valid())
    return error{sqlstate::internal_error,
                 "wal2json include-lsn needs the transaction's end LSN"};
  txn_ = txn_state{};
  txn_.open = true;
  txn_.xid = b.xid;
  txn_.commit_time = b.commit_time;
  txn_.final_lsn = b.final_lsn;
  txn_.end_lsn = pos.txn_end_lsn;
  txn_.begin_pos = pos;
  if (opts_.include_origin || !opts_.filter_origins.empty())
    txn_.begin_pending = true; // an Origin message may come next
  else
    emit_begin(out);
  return ok();
}

status encoder::after_begin(const pgoutput::any_message& m,
                            std::vector<document>& out) {
  txn_.begin_pending = false;
  if (auto* o = std::get_if<pgoutput::origin>(&m)) {
    auto id = catalog_ != nullptr ? catalog_->origin_id(o->name)
                                  : std::optional<uint32_t>{};
    if (!id)
      return error{sqlstate::undefined_object,
                   "replication origin \"" + o->name + "\" does not exist"}
          .with_detail("wal2json prints and filters origins by their numeric "
                       "id, which walmux looks up by name on the upstream; "
                       "the origin was dropped there since this transaction "
                       "was stored.")
          .with_hint("Use the plugin without include-origin and "
                     "filter-origins for this stream.");
    txn_.origin_id = *id;
  }
  emit_begin(out);
  return ok();
}

void encoder::emit_begin(std::vector<document>& out) {
  if (txn_.origin_id != 0 &&
      std::find(opts_.filter_origins.begin(), opts_.filter_origins.end(),
                txn_.origin_id) != opts_.filter_origins.end()) {
    txn_.filtered = true;
    return;
  }
  const message_position& pos = txn_.begin_pos;
  std::string text;
  if (opts_.format_version == 1) {
    text = "{" + nl_;
    if (opts_.include_xids)
      text += ht_ + "\"xid\":" + sp_ + std::to_string(txn_.xid) + "," + nl_;
    if (opts_.include_lsn)
      text += ht_ + "\"nextlsn\":" + sp_ + "\"" + lsn_to_string(txn_.end_lsn) +
              "\"," + nl_;
    if (opts_.include_timestamp)
      text += ht_ + "\"timestamp\":" + sp_ + "\"" +
              pgtext::timestamptz_utc(txn_.commit_time) + "\"," + nl_;
    if (opts_.include_origin)
      text += ht_ + "\"origin\":" + sp_ + std::to_string(txn_.origin_id) + "," +
              nl_;
    text += ht_ + "\"change\":" + sp_ + "[";
    if (opts_.write_in_chunks)
      out.push_back({pos.at, txn_.xid, std::move(text)});
    else
      txn_.body = std::move(text);
    return;
  }
  if (!opts_.include_transaction)
    return;
  text = v2_open('B', true);
  if (opts_.include_lsn)
    text += ",\"lsn\":\"" + lsn_to_string(txn_.final_lsn) +
            "\",\"nextlsn\":\"" + lsn_to_string(txn_.end_lsn) + "\"";
  text += "}";
  out.push_back({pos.at, txn_.xid, std::move(text)});
}

status encoder::on_commit(const pgoutput::commit& c,
                          const message_position& pos,
                          std::vector<document>& out) {
  if (!txn_.open)
    return error{sqlstate::protocol_violation, "COMMIT without BEGIN"};
  txn_.open = false;
  if (opts_.format_version == 1) {
    std::string tail = ht_ + "]" + nl_ + "}";
    if (opts_.write_in_chunks) {
      out.push_back({pos.at, txn_.xid, std::move(tail)});
    } else {
      txn_.body += nl_ + tail;
      out.push_back({pos.at, txn_.xid, std::move(txn_.body)});
    }
    return ok();
  }
  if (!opts_.include_transaction)
    return ok();
  std::string text = v2_open('C', true);
  if (opts_.include_lsn)
    text += ",\"lsn\":\"" + lsn_to_string(c.commit_lsn) + "\",\"nextlsn\":\"" +
            lsn_to_string(c.end_lsn) + "\"";
  text += "}";
  out.push_back({pos.at, txn_.xid, std::move(text)});
  return ok();
}

status encoder::on_relation(const pgoutput::relation& r) {
  relation_entry e;
  e.rel = r;
  for (const auto& col : r.columns) {
    const column_meta* meta =
        catalog_ != nullptr ? catalog_->column(r.oid, col.name) : nullptr;
    e.meta.push_back(meta);
    if (meta != nullptr && meta->primary_key)
      e.has_pk = true;
  }
  relations_[r.oid] = std::move(e);
  return ok();
}

status encoder::on_change(char action, uint32_t relation_oid,
                          const pgoutput::tuple* new_tuple, char old_kind,
                          const pgoutput::tuple* old_tuple,
                          const message_position& pos,
                          std::vector<document>& out) {
  if ((action == 'I' && !opts_.action_insert) ||
      (action == 'U' && !opts_.action_update) ||
      (action == 'D' && !opts_.action_delete))
    return ok();
  auto it = relations_.find(relation_oid);
  if (it == relations_.end())
    return error{sqlstate::protocol_violation,
                 "no relation map entry for remote relation ID " +
                     std::to_string(relation_oid)};
  const relation_entry& e = it->second;
  const pgoutput::relation& rel = e.rel;
  if (!table_selected(rel.nspname, rel.relname))
    return ok();
  const size_t n = rel.columns.size();
  for (const auto* t : {new_tuple, old_tuple})
    if (t != nullptr && t->size() != n)
      return error{sqlstate::protocol_violation,
                   "tuple has " + std::to_string(t->size()) +
                       " columns, relation has " + std::to_string(n)};
  // The replica identity index: the key columns of the Relation message,
  // for DEFAULT (the primary key) and USING INDEX; FULL has none.
  bool any_key = false;
  for (const auto& c : rel.columns)
    any_key = any_key || (c.flags & 1) != 0;
  const bool full = rel.replica_identity == 'f';
  const bool has_identity_index =
      !full &&
      (rel.replica_identity == 'i' || (rel.replica_identity == 'd' && any_key));
  // wal2json skips UPDATE/DELETE it cannot identify (with a WARNING).
  if (action != 'I' && !has_identity_index && !full &&
      (opts_.format_version == 1 || old_kind == 0))
    return ok();
  if (opts_.include_pk || opts_.include_types || opts_.include_not_null ||
      opts_.include_column_positions || opts_.include_default) {
    for (size_t i = 0; i < n; ++i)
      if (e.meta[i] == nullptr)
        return missing_meta(rel, i);
  }
  const change c{action, e, new_tuple, old_tuple, has_identity_index};
  return opts_.format_version == 2 ? change_v2(c, pos, out)
                                   : change_v1(c, pos, out);
}

status encoder::change_v2(const change& c, const message_position& pos,
                          std::vector<document>& out) {
  const relation_entry& e = c.e;
  const pgoutput::relation& rel = e.rel;
  const size_t n = rel.columns.size();
  const char action = c.action;
  const pgoutput::tuple* new_tuple = c.new_tuple;
  const pgoutput::tuple* old_tuple = c.old_tuple;
  enum class kind { change, identity, pk };
  auto write_tuple = [&](std::string& out_text, const pgoutput::tuple& t,
                         kind k) -> status {
    bool sep = false;
    for (size_t i = 0; i < n; ++i) {
      if (k == kind::identity && !c.in_identity(i))
        continue;
      if (k == kind::pk && !c.in_pk(i))
        continue;
      if (t[i].format == 'u')
        continue;
      if (sep)
        out_text += ',';
      sep = true;
      out_text += "{\"name\":";
      pgtext::escape_json(out_text, rel.columns[i].name);
      if (opts_.include_types) {
        // include-domain-data-type names a domain column's base type here
        // (its value stays printed as the domain's, as wal2json does).
        const bool as_base =
            opts_.include_domain_data_type && e.meta[i]->domain_base_oid != 0;
        out_text += ",\"type\":";
        write_type(out_text,
                   as_base ? e.meta[i]->domain_base_format_type
                           : e.meta[i]->format_type,
                   true);
      }
      if (opts_.include_type_oids)
        out_text +=
            ",\"typeoid\":" +
            std::to_string(static_cast<int32_t>(rel.columns[i].type_oid));
      if (k != kind::pk) {
        out_text += ",\"value\":";
        if (auto st = write_value(out_text, rel.columns[i].type_oid, t[i],
                                  opts_.numeric_data_types_as_string);
            !st)
          return st;
      }
      if (k == kind::change && opts_.include_not_null)
        out_text +=
            e.meta[i]->not_null ? ",\"optional\":false" : ",\"optional\":true";
      if (k == kind::change && opts_.include_column_positions)
        out_text += ",\"position\":" + std::to_string(e.meta[i]->attnum);
      if (k == kind::change && opts_.include_default) {
        if (e.meta[i]->default_expr.empty())
          out_text += ",\"default\":null";
        else
          out_text += ",\"default\":\"" + e.meta[i]->default_expr + "\"";
      }
      out_text += '}';
    }
    return ok();
  };
  std::string text = v2_open(action, true);
  if (opts_.include_lsn)
    text += ",\"lsn\":\"" + lsn_to_string(pos.at) + "\"";
  if (opts_.include_schemas) {
    text += ",\"schema\":";
    pgtext::escape_json(text, rel.nspname);
  }
  text += ",\"table\":";
  pgtext::escape_json(text, rel.relname);
  if (new_tuple != nullptr) {
    text += ",\"columns\":[";
    if (auto st = write_tuple(text, *new_tuple, kind::change); !st)
      return st;
    text += ']';
  }
  if (old_tuple != nullptr) {
    text += ",\"identity\":[";
    if (auto st = write_tuple(text, *old_tuple, kind::identity); !st)
      return st;
    text += ']';
  } else if (action == 'U' && (e.has_pk || c.has_identity_index)) {
    text += ",\"identity\":[";
    if (auto st = write_tuple(text, *new_tuple, kind::identity); !st)
      return st;
    text += ']';
  }
  if (opts_.include_pk) {
    text += ",\"pk\":[";
    if (e.has_pk)
      if (auto st =
              write_tuple(text, old_tuple ? *old_tuple : *new_tuple, kind::pk);
          !st)
        return st;
    text += ']';
  }
  text += '}';
  out.push_back({pos.at, txn_.xid, std::move(text)});
  return ok();
}

status encoder::on_truncate(const pgoutput::truncate& t,
                            const message_position& pos,
                            std::vector<document>& out) {
  // Format 1 prints nothing for TRUNCATE (wal2json never implemented it).
  if (opts_.format_version == 1 || !opts_.action_truncate)
    return ok();
  for (uint32_t oid : t.relation_oids) {
    auto it = relations_.find(oid);
    if (it == relations_.end())
      return error{sqlstate::protocol_violation,
                   "no relation map entry for remote relation ID " +
                       std::to_string(oid)};
    const auto& rel = it->second.rel;
    if (!table_selected(rel.nspname, rel.relname))
      continue;
    std::string text = v2_open('T', true);
    if (opts_.include_lsn)
      text += ",\"lsn\":\"" + lsn_to_string(pos.at) + "\"";
    if (opts_.include_schemas) {
      text += ",\"schema\":";
      pgtext::escape_json(text, rel.nspname);
    }
    text += ",\"table\":";
    pgtext::escape_json(text, rel.relname);
    text += '}';
    out.push_back({pos.at, txn_.xid, std::move(text)});
  }
  return ok();
}

status encoder::on_message(const pgoutput::message& m,
                           const message_position& pos,
                           std::vector<document>& out) {
  for (const auto& p : opts_.filter_msg_prefixes)
    if (p == m.prefix)
      return ok();
  if (!opts_.add_msg_prefixes.empty()) {
    bool wanted = false;
    for (const auto& p : opts_.add_msg_prefixes)
      wanted = wanted || p == m.prefix;
    if (!wanted)
      return ok();
  }
  const bool transactional = (m.flags & 1) != 0;
  if (transactional && !txn_.open)
    return error{sqlstate::protocol_violation,
                 "transactional message outside a transaction"};
  const uint32_t xid = transactional ? txn_.xid : 0;
  // The content is a C string in wal2json: it ends at the first NUL.
  std::string_view content(m.content.c_str());
  if (opts_.format_version == 2) {
    std::string text = v2_open('M', transactional);
    if (opts_.include_lsn)
      text += ",\"lsn\":\"" + lsn_to_string(m.message_lsn) + "\"";
    text +=
        transactional ? ",\"transactional\":true" : ",\"transactional\":false";
    text += ",\"prefix\":";
    pgtext::escape_json(text, m.prefix);
    text += ",\"content\":";
    pgtext::escape_json(text, content);
    text += '}';
    out.push_back({pos.at, xid, std::move(text)});
    return ok();
  }
  if (transactional)
    txn_.changes++;
  std::string piece;
  if (!opts_.write_in_chunks && transactional)
    piece += nl_;
  if (!transactional)
    piece += "{" + nl_ + ht_ + "\"change\":" + sp_ + "[" + nl_;
  piece += ht2_;
  if (transactional && txn_.changes > 1)
    piece += ',';
  piece += "{" + nl_ + ht3_ + "\"kind\":" + sp_ + "\"message\"," + nl_;
  piece += ht3_ + "\"transactional\":" + sp_ +
           (transactional ? "true," : "false,") + nl_;
  piece += ht3_ + "\"prefix\":" + sp_;
  pgtext::escape_json(piece, m.prefix);
  piece += "," + nl_ + ht3_ + "\"content\":" + sp_;
  pgtext::escape_json(piece, content);
  piece += nl_ + ht2_ + "}";
  if (!transactional)
    piece += nl_ + ht_ + "]" + nl_ + "}";
  if (opts_.write_in_chunks || !transactional)
    out.push_back({pos.at, xid, std::move(piece)});
  else
    txn_.body += piece;
  if (txn_.body.size() > opts_.max_document_bytes)
    return document_too_large();
  return ok();
}

} // namespace walmux::wal2json
