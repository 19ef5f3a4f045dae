// wal2json_decode.cpp: see wal2json_decode.hpp.
#include "protocol/wal2json_decode.hpp"

#include <simdjson.h>

namespace walmux::wal2json {
namespace {

using namespace simdjson;

error bad(const std::string& detail) {
  return error{sqlstate::protocol_violation, "invalid wal2json document"}
      .with_detail(detail);
}

error bad(simdjson::error_code code) {
  return bad(std::string("JSON: ") + simdjson::error_message(code));
}

constexpr uint32_t bytea_oid = 17;

// A scalar JSON value in PostgreSQL text form (nullopt for null).
expected<std::optional<std::string>> scalar_text(ondemand::value v) {
  ondemand::json_type t;
  if (auto e = v.type().get(t))
    return bad(e);
  switch (t) {
  case ondemand::json_type::null:
    return std::optional<std::string>();
  case ondemand::json_type::boolean: {
    bool b = false;
    if (auto e = v.get_bool().get(b))
      return bad(e);
    return std::optional<std::string>(b ? "t" : "f");
  }
  case ondemand::json_type::number: {
    std::string_view raw = v.raw_json_token();
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' ||
                            raw.back() == '\t' || raw.back() == '\r'))
      raw.remove_suffix(1);
    return std::optional<std::string>(std::string(raw));
  }
  case ondemand::json_type::string: {
    std::string_view s;
    if (auto e = v.get_string().get(s))
      return bad(e);
    return std::optional<std::string>(std::string(s));
  }
  default:
    return bad("expected a scalar value");
  }
}

expected<std::string> string_value(ondemand::value v) {
  std::string_view s;
  if (auto e = v.get_string().get(s))
    return bad(e);
  return std::string(s);
}

expected<lsn> lsn_value(ondemand::value v) {
  auto s = string_value(v);
  if (!s)
    return std::move(s).err();
  auto l = lsn_parse(*s);
  if (!l)
    return bad("invalid LSN \"" + *s + "\"");
  return *l;
}

expected<std::optional<uint32_t>> xid_value(ondemand::value v) {
  bool is_null = false;
  if (auto e = v.is_null().get(is_null))
    return bad(e);
  if (is_null)
    return std::optional<uint32_t>();
  uint64_t x = 0;
  if (auto e = v.get_uint64().get(x))
    return bad(e);
  if (x > UINT32_MAX)
    return bad("xid out of range");
  return std::optional<uint32_t>(static_cast<uint32_t>(x));
}

// Restores bytea's "\x" prefix that wal2json strips.
void restore_bytea(decoded_column& c) {
  bool bytea = c.type == "bytea" || (c.type_oid && *c.type_oid == bytea_oid);
  if (bytea && c.value)
    c.value = "\\x" + *c.value;
}

expected<std::vector<std::string>> string_array(ondemand::value v) {
  ondemand::array arr;
  if (auto e = v.get_array().get(arr))
    return bad(e);
  std::vector<std::string> out;
  for (auto item : arr) {
    ondemand::value iv;
    if (auto e = item.get(iv))
      return bad(e);
    auto s = string_value(iv);
    if (!s)
      return std::move(s).err();
    out.push_back(std::move(*s));
  }
  return out;
}

expected<std::vector<std::optional<std::string>>>
scalar_array(ondemand::value v) {
  ondemand::array arr;
  if (auto e = v.get_array().get(arr))
    return bad(e);
  std::vector<std::optional<std::string>> out;
  for (auto item : arr) {
    ondemand::value iv;
    if (auto e = item.get(iv))
      return bad(e);
    auto s = scalar_text(iv);
    if (!s)
      return std::move(s).err();
    out.push_back(std::move(*s));
  }
  return out;
}

expected<std::vector<uint32_t>> oid_array(ondemand::value v) {
  ondemand::array arr;
  if (auto e = v.get_array().get(arr))
    return bad(e);
  std::vector<uint32_t> out;
  for (auto item : arr) {
    uint64_t x = 0;
    if (auto e = item.get_uint64().get(x))
      return bad(e);
    if (x > UINT32_MAX)
      return bad("type OID out of range");
    out.push_back(static_cast<uint32_t>(x));
  }
  return out;
}

// Builds columns from format 1's parallel arrays.
expected<std::vector<decoded_column>>
zip_columns(const std::vector<std::string>& names,
            const std::vector<std::string>& types,
            const std::vector<uint32_t>& oids,
            const std::vector<std::optional<std::string>>& values) {
  if (values.size() != names.size() ||
      (!types.empty() && types.size() != names.size()) ||
      (!oids.empty() && oids.size() != names.size()))
    return bad("column arrays differ in length");
  std::vector<decoded_column> out(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    out[i].name = names[i];
    if (!types.empty())
      out[i].type = types[i];
    if (!oids.empty())
      out[i].type_oid = oids[i];
    out[i].value = values[i];
    restore_bytea(out[i]);
  }
  return out;
}

// Format 1: one element of "change".
expected<decoded_record> v1_change(ondemand::object obj) {
  decoded_record r;
  std::vector<std::string> names, types;
  std::vector<uint32_t> oids;
  std::vector<std::optional<std::string>> values;
  for (auto field : obj) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key))
      return bad(e);
    ondemand::value v;
    if (auto e = field.value().get(v))
      return bad(e);
    if (key == "kind") {
      auto kind = string_value(v);
      if (!kind)
        return std::move(kind).err();
      if (*kind == "insert")
        r.action = 'I';
      else if (*kind == "update")
        r.action = 'U';
      else if (*kind == "delete")
        r.action = 'D';
      else if (*kind == "message")
        r.action = 'M';
      else
        return bad("unknown change kind \"" + *kind + "\"");
    } else if (key == "schema" || key == "table" || key == "prefix" ||
               key == "content") {
      auto s = string_value(v);
      if (!s)
        return std::move(s).err();
      (key == "schema"   ? r.schema
       : key == "table"  ? r.table
       : key == "prefix" ? r.prefix
                         : r.content) = std::move(*s);
    } else if (key == "transactional") {
      if (auto e = v.get_bool().get(r.transactional))
        return bad(e);
    } else if (key == "columnnames") {
      auto a = string_array(v);
      if (!a)
        return std::move(a).err();
      names = std::move(*a);
    } else if (key == "columntypes") {
      auto a = string_array(v);
      if (!a)
        return std::move(a).err();
      types = std::move(*a);
    } else if (key == "columntypeoids") {
      auto a = oid_array(v);
      if (!a)
        return std::move(a).err();
      oids = std::move(*a);
    } else if (key == "columnvalues") {
      auto a = scalar_array(v);
      if (!a)
        return std::move(a).err();
      values = std::move(*a);
    } else if (key == "oldkeys") {
      ondemand::object keys;
      if (auto e = v.get_object().get(keys))
        return bad(e);
      std::vector<std::string> knames, ktypes;
      std::vector<uint32_t> koids;
      std::vector<std::optional<std::string>> kvalues;
      for (auto kf : keys) {
        std::string_view kkey;
        if (auto e = kf.unescaped_key().get(kkey))
          return bad(e);
        ondemand::value kv;
        if (auto e = kf.value().get(kv))
          return bad(e);
        status st;
        if (kkey == "keynames") {
          auto a = string_array(kv);
          if (!a)
            return std::move(a).err();
          knames = std::move(*a);
        } else if (kkey == "keytypes") {
          auto a = string_array(kv);
          if (!a)
            return std::move(a).err();
          ktypes = std::move(*a);
        } else if (kkey == "keytypeoids") {
          auto a = oid_array(kv);
          if (!a)
            return std::move(a).err();
          koids = std::move(*a);
        } else if (kkey == "keyvalues") {
          auto a = scalar_array(kv);
          if (!a)
            return std::move(a).err();
          kvalues = std::move(*a);
        }
      }
      auto cols = zip_columns(knames, ktypes, koids, kvalues);
      if (!cols)
        return std::move(cols).err();
      r.identity = std::move(*cols);
    } else if (key == "pk") {
      ondemand::object pk;
      if (auto e = v.get_object().get(pk))
        return bad(e);
      for (auto pf : pk) {
        std::string_view pkey;
        if (auto e = pf.unescaped_key().get(pkey))
          return bad(e);
        if (pkey != "pknames")
          continue;
        ondemand::value pv;
        if (auto e = pf.value().get(pv))
          return bad(e);
        auto a = string_array(pv);
        if (!a)
          return std::move(a).err();
        r.pk = std::move(*a);
      }
    }
    // columnoptionals, columnpositions, columndefaults: not change values.
  }
  if (r.action == 0)
    return bad("change without \"kind\"");
  if (r.action != 'M') {
    auto cols = zip_columns(names, types, oids, values);
    if (!cols)
      return std::move(cols).err();
    r.columns = std::move(*cols);
  }
  return r;
}

expected<std::vector<decoded_record>> decode_v1(ondemand::document& doc) {
  ondemand::object obj;
  if (auto e = doc.get_object().get(obj))
    return bad(e);
  decoded_record begin;
  begin.action = 'B';
  std::vector<decoded_record> changes;
  bool saw_change = false;
  for (auto field : obj) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key))
      return bad(e);
    ondemand::value v;
    if (auto e = field.value().get(v))
      return bad(e);
    if (key == "xid") {
      auto x = xid_value(v);
      if (!x)
        return std::move(x).err();
      begin.xid = *x;
    } else if (key == "nextlsn") {
      auto l = lsn_value(v);
      if (!l)
        return std::move(l).err();
      begin.next_lsn = *l;
    } else if (key == "timestamp") {
      auto s = string_value(v);
      if (!s)
        return std::move(s).err();
      begin.timestamp = std::move(*s);
    } else if (key == "change") {
      saw_change = true;
      ondemand::array arr;
      if (auto e = v.get_array().get(arr))
        return bad(e);
      for (auto item : arr) {
        ondemand::object c;
        if (auto e = item.get_object().get(c))
          return bad(e);
        auto rec = v1_change(c);
        if (!rec)
          return std::move(rec).err();
        changes.push_back(std::move(*rec));
      }
    }
  }
  if (!saw_change)
    return bad("document without \"change\"");
  if (changes.size() == 1 && changes[0].action == 'M' &&
      !changes[0].transactional && !begin.xid)
    return changes; // a non-transactional message
  std::vector<decoded_record> out;
  out.push_back(begin);
  for (auto& c : changes) {
    c.xid = begin.xid;
    out.push_back(std::move(c));
  }
  decoded_record commit;
  commit.action = 'C';
  commit.xid = begin.xid;
  commit.next_lsn = begin.next_lsn;
  commit.timestamp = begin.timestamp;
  out.push_back(std::move(commit));
  return out;
}

expected<std::vector<decoded_column>> v2_columns(ondemand::value v) {
  ondemand::array arr;
  if (auto e = v.get_array().get(arr))
    return bad(e);
  std::vector<decoded_column> out;
  for (auto item : arr) {
    ondemand::object obj;
    if (auto e = item.get_object().get(obj))
      return bad(e);
    decoded_column c;
    for (auto field : obj) {
      std::string_view key;
      if (auto e = field.unescaped_key().get(key))
        return bad(e);
      ondemand::value fv;
      if (auto e = field.value().get(fv))
        return bad(e);
      if (key == "name" || key == "type") {
        auto s = string_value(fv);
        if (!s)
          return std::move(s).err();
        (key == "name" ? c.name : c.type) = std::move(*s);
      } else if (key == "typeoid") {
        uint64_t x = 0;
        if (auto e = fv.get_uint64().get(x))
          return bad(e);
        c.type_oid = static_cast<uint32_t>(x);
      } else if (key == "value") {
        auto s = scalar_text(fv);
        if (!s)
          return std::move(s).err();
        c.value = std::move(*s);
      }
    }
    restore_bytea(c);
    out.push_back(std::move(c));
  }
  return out;
}

expected<std::vector<decoded_record>> decode_v2(ondemand::document& doc) {
  ondemand::object obj;
  if (auto e = doc.get_object().get(obj))
    return bad(e);
  decoded_record r;
  for (auto field : obj) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key))
      return bad(e);
    ondemand::value v;
    if (auto e = field.value().get(v))
      return bad(e);
    if (key == "action") {
      auto a = string_value(v);
      if (!a)
        return std::move(a).err();
      if (a->size() != 1 ||
          std::string_view("BCIUDTM").find((*a)[0]) == std::string_view::npos)
        return bad("unknown action \"" + *a + "\"");
      r.action = (*a)[0];
    } else if (key == "xid") {
      auto x = xid_value(v);
      if (!x)
        return std::move(x).err();
      r.xid = *x;
    } else if (key == "timestamp") {
      bool is_null = false;
      if (auto e = v.is_null().get(is_null))
        return bad(e);
      if (!is_null) {
        auto s = string_value(v);
        if (!s)
          return std::move(s).err();
        r.timestamp = std::move(*s);
      }
    } else if (key == "lsn" || key == "nextlsn") {
      auto l = lsn_value(v);
      if (!l)
        return std::move(l).err();
      (key == "lsn" ? r.position : r.next_lsn) = *l;
    } else if (key == "schema" || key == "table" || key == "prefix" ||
               key == "content") {
      auto s = string_value(v);
      if (!s)
        return std::move(s).err();
      (key == "schema"   ? r.schema
       : key == "table"  ? r.table
       : key == "prefix" ? r.prefix
                         : r.content) = std::move(*s);
    } else if (key == "transactional") {
      if (auto e = v.get_bool().get(r.transactional))
        return bad(e);
    } else if (key == "columns" || key == "identity") {
      auto cols = v2_columns(v);
      if (!cols)
        return std::move(cols).err();
      (key == "columns" ? r.columns : r.identity) = std::move(*cols);
    } else if (key == "pk") {
      auto cols = v2_columns(v);
      if (!cols)
        return std::move(cols).err();
      for (auto& c : *cols)
        r.pk.push_back(std::move(c.name));
    }
  }
  if (r.action == 0)
    return bad("record without \"action\"");
  return std::vector<decoded_record>{std::move(r)};
}

} // namespace

expected<std::vector<decoded_record>> decode_document(std::string_view text,
                                                      int format_version) {
  if (format_version != 1 && format_version != 2)
    return error{sqlstate::feature_not_supported,
                 "wal2json format version " + std::to_string(format_version) +
                     " is not supported"};
  // A parser per call keeps this function free of shared state; its buffers
  // are sized to the document.
  ondemand::parser parser;
  padded_string json(text);
  ondemand::document doc;
  if (auto e = parser.iterate(json).get(doc))
    return bad(e);
  return format_version == 1 ? decode_v1(doc) : decode_v2(doc);
}

expected<std::optional<std::string>>
chunk_assembler::feed(std::string_view piece) {
  if (buffer_.size() + piece.size() > max_bytes_)
    return bad("a chunked document exceeds " + std::to_string(max_bytes_) +
               " bytes");
  buffer_.append(piece);
  for (char c : piece) {
    if (in_string_) {
      if (escaped_)
        escaped_ = false;
      else if (c == '\\')
        escaped_ = true;
      else if (c == '"')
        in_string_ = false;
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
      started_ = true;
    } else if (c == '}' || c == ']') {
      if (--depth_ < 0)
        return bad("unbalanced brackets in chunked document");
    }
  }
  if (!started_ || depth_ != 0 || in_string_)
    return std::optional<std::string>();
  std::string done = std::move(buffer_);
  buffer_.clear();
  started_ = false;
  return std::optional<std::string>(std::move(done));
}

} // namespace walmux::wal2json
