// wal2json_v1.cpp: format 1 of the wal2json encoder: one change inside a
// transaction's "change" array, with its pretty-print layout (see
// wal2json.hpp; the common checks are in wal2json.cpp).
#include "protocol/pg_text.hpp"
#include "protocol/wal2json.hpp"
#include "protocol/wal2json_internal.hpp"

namespace walmux::wal2json {

using namespace detail;

status encoder::change_v1(const change& c, const message_position& pos,
                          std::vector<document>& out) {
  const relation_entry& e = c.e;
  const pgoutput::relation& rel = e.rel;
  const size_t n = rel.columns.size();
  const char action = c.action;
  const pgoutput::tuple* new_tuple = c.new_tuple;
  const pgoutput::tuple* old_tuple = c.old_tuple;
  // Without include-typmod format 1 prints pg_type.typname.
  auto type_text = [&](size_t i) -> const std::string& {
    return opts_.include_typmod ? e.meta[i]->format_type : e.meta[i]->type_name;
  };
  // Starts `"outer": {` and, on the next line, `"inner": [`.
  auto open_nested = [&](std::string& buf, const char* outer,
                         const char* inner) {
    buf.assign(ht3_);
    buf += outer;
    buf += sp_;
    buf += '{';
    buf += nl_;
    buf += ht4_;
    buf += inner;
    buf += sp_;
    buf += '[';
  };
  // One "columns"/"oldkeys" block; `replident` prints the old key.
  auto columns_block = [&](std::string& out_text, const pgoutput::tuple& t,
                           bool replident, bool identity_filter,
                           bool addcomma) -> status {
    auto start = [&](std::string& buf, const std::string& indent,
                     const char* key) {
      buf.assign(indent);
      buf += key;
      buf += sp_;
      buf += '[';
    };
    if (replident) {
      open_nested(names_, "\"oldkeys\":", "\"keynames\":");
      start(types_, ht4_, "\"keytypes\":");
      start(oids_, ht4_, "\"keytypeoids\":");
      start(values_, ht4_, "\"keyvalues\":");
    } else {
      start(names_, ht3_, "\"columnnames\":");
      start(types_, ht3_, "\"columntypes\":");
      start(oids_, ht3_, "\"columntypeoids\":");
      start(positions_, ht3_, "\"columnpositions\":");
      start(notnulls_, ht3_, "\"columnoptionals\":");
      start(defaults_, ht3_, "\"columndefaults\":");
      start(values_, ht3_, "\"columnvalues\":");
    }
    bool first = true;
    for (size_t i = 0; i < n; ++i) {
      if (identity_filter && !c.in_identity(i))
        continue;
      if (t[i].format == 'n' && replident)
        continue;
      if (t[i].format == 'u')
        continue;
      const std::string_view sep = first ? std::string_view() : comma_;
      names_ += sep;
      pgtext::escape_json(names_, rel.columns[i].name);
      // include-domain-data-type: a domain column is printed, typed and
      // valued as its base type (wal2json does so only with include-types).
      uint32_t type_oid = rel.columns[i].type_oid;
      const std::string* type_name = &type_text(i);
      if (opts_.include_types && opts_.include_domain_data_type &&
          e.meta[i]->domain_base_oid != 0) {
        type_oid = e.meta[i]->domain_base_oid;
        type_name = opts_.include_typmod ? &e.meta[i]->domain_base_format_type
                                         : &e.meta[i]->domain_base_name;
      }
      if (opts_.include_types) {
        types_ += sep;
        write_type(types_, *type_name, true);
        if (!replident && opts_.include_not_null) {
          notnulls_ += sep;
          notnulls_ += e.meta[i]->not_null ? "false" : "true";
        }
      }
      if (opts_.include_type_oids) {
        oids_ += sep;
        oids_ += std::to_string(type_oid);
      }
      if (!replident && opts_.include_column_positions) {
        positions_ += sep;
        positions_ += std::to_string(e.meta[i]->attnum);
      }
      if (!replident && opts_.include_default) {
        defaults_ += sep;
        if (e.meta[i]->default_expr.empty()) {
          defaults_ += "null";
        } else {
          defaults_ += '"';
          defaults_ += e.meta[i]->default_expr;
          defaults_ += '"';
        }
      }
      values_ += sep;
      if (auto st = write_value(values_, type_oid, t[i],
                                opts_.numeric_data_types_as_string);
          !st)
        return st;
      first = false;
    }
    auto close = [&](std::string& buf, const char* tail) {
      out_text += buf;
      out_text += tail;
      out_text += nl_;
    };
    close(names_, "],");
    if (opts_.include_types)
      close(types_, "],");
    if (opts_.include_type_oids)
      close(oids_, "],");
    if (replident) {
      close(values_, "]");
      out_text += ht3_;
      out_text += '}';
      out_text += nl_;
      return ok();
    }
    if (opts_.include_column_positions)
      close(positions_, "],");
    if (opts_.include_not_null)
      close(notnulls_, "],");
    if (opts_.include_default)
      close(defaults_, "],");
    close(values_, addcomma ? "]," : "]");
    return ok();
  };
  auto pk_block = [&](std::string& out_text, bool addcomma) {
    open_nested(pk_names_, "\"pk\":", "\"pknames\":");
    pk_types_.assign(ht4_);
    pk_types_ += "\"pktypes\":";
    pk_types_ += sp_;
    pk_types_ += '[';
    bool first = true;
    for (size_t i = 0; i < n; ++i) {
      if (!c.in_pk(i))
        continue;
      if (!first)
        pk_names_ += comma_;
      pgtext::escape_json(pk_names_, rel.columns[i].name);
      if (opts_.include_types) {
        if (!first)
          pk_types_ += comma_;
        write_type(pk_types_, type_text(i), false);
      }
      first = false;
    }
    out_text += pk_names_;
    out_text += "],";
    out_text += nl_;
    out_text += pk_types_;
    out_text += ']';
    out_text += nl_;
    out_text += ht3_;
    out_text += addcomma ? "}," : "}";
    out_text += nl_;
  };

  txn_.changes++;
  // Without chunks the change is appended to the transaction's document in
  // place; with chunks it is a document of its own.
  std::string chunk;
  std::string& piece = opts_.write_in_chunks ? chunk : txn_.body;
  if (!opts_.write_in_chunks)
    piece += nl_;
  piece += ht2_;
  if (txn_.changes > 1)
    piece += ',';
  piece += '{';
  piece += nl_;
  piece += ht3_;
  piece += "\"kind\":";
  piece += sp_;
  piece += action == 'I'   ? "\"insert\","
           : action == 'U' ? "\"update\","
                           : "\"delete\",";
  piece += nl_;
  if (opts_.include_schemas) {
    piece += ht3_;
    piece += "\"schema\":";
    piece += sp_;
    pgtext::escape_json(piece, rel.nspname);
    piece += ',';
    piece += nl_;
  }
  piece += ht3_;
  piece += "\"table\":";
  piece += sp_;
  pgtext::escape_json(piece, rel.relname);
  piece += ',';
  piece += nl_;
  const bool print_pk = opts_.include_pk && e.has_pk;
  status st;
  if (action == 'I') {
    st = columns_block(piece, *new_tuple, false, false, print_pk);
    if (st && print_pk)
      pk_block(piece, false);
  } else if (action == 'U') {
    st = columns_block(piece, *new_tuple, false, false, true);
    if (st && print_pk)
      pk_block(piece, true);
    if (st)
      st = old_tuple == nullptr
               ? columns_block(piece, *new_tuple, true, true, false)
               : columns_block(piece, *old_tuple, true, false, false);
  } else {
    if (print_pk)
      pk_block(piece, true);
    st = columns_block(piece, *old_tuple, true, true, false);
  }
  if (!st)
    return st;
  piece += ht2_;
  piece += '}';
  if (opts_.write_in_chunks)
    out.push_back({pos.at, txn_.xid, std::move(chunk)});
  else if (txn_.body.size() > opts_.max_document_bytes)
    return document_too_large();
  return ok();
}

} // namespace walmux::wal2json
