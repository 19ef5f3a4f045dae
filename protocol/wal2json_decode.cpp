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

// Calls f(key, value) for each field of `obj` in document order; stops at
// the first error, from simdjson or from f.
template <class F>
status each_field(ondemand::object obj, F&& f) {
  for (auto field : obj) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key))
      return bad(e);
    ondemand::value v;
    if (auto e = field.value().get(v))
      return bad(e);
    if (auto st = f(key, v); !st)
      return st;
  }
  return ok();
}

template <class F>
status each_field(ondemand::value v, F&& f) {
  ondemand::object obj;
  if (auto e = v.get_object().get(obj))
    return bad(e);
  return each_field(obj, std::forward<F>(f));
}

// Moves a decoded value into `target`, or passes its error on.
template <class T, class U>
status assign(expected<T> r, U& target) {
  if (!r)
    return std::move(r).err();
  target = std::move(*r);
  return ok();
}

status assign_bool(ondemand::value v, bool& target) {
  if (auto e = v.get_bool().get(target))
    return bad(e);
  return ok();
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

// Format 1's parallel arrays of one column list.
struct column_arrays {
  std::vector<std::string> names, types;
  std::vector<uint32_t> oids;
  std::vector<std::optional<std::string>> values;
};

// Handles `key` if it is one of the arrays, with `prefix` "column" or "key".
// Sets `handled`; other keys are left to the caller.
status column_array_field(std::string_view key, ondemand::value v,
                          std::string_view prefix, column_arrays& a,
                          bool& handled) {
  handled = true;
  if (key.substr(0, prefix.size()) != prefix) {
    handled = false;
    return ok();
  }
  auto rest = key.substr(prefix.size());
  if (rest == "names")
    return assign(string_array(v), a.names);
  if (rest == "types")
    return assign(string_array(v), a.types);
  if (rest == "typeoids")
    return assign(oid_array(v), a.oids);
  if (rest == "values")
    return assign(scalar_array(v), a.values);
  handled = false; // columnoptionals, columnpositions, columndefaults
  return ok();
}

char change_kind(std::string_view kind) {
  if (kind == "insert")
    return 'I';
  if (kind == "update")
    return 'U';
  if (kind == "delete")
    return 'D';
  if (kind == "message")
    return 'M';
  return 0;
}

// Fields shared by both formats: names of things and message parts.
status text_field(std::string_view key, ondemand::value v, decoded_record& r,
                  bool& handled) {
  handled = true;
  if (key == "schema")
    return assign(string_value(v), r.schema);
  if (key == "table")
    return assign(string_value(v), r.table);
  if (key == "prefix")
    return assign(string_value(v), r.prefix);
  if (key == "content")
    return assign(string_value(v), r.content);
  if (key == "transactional")
    return assign_bool(v, r.transactional);
  handled = false;
  return ok();
}

// Format 1: one element of "change".
expected<decoded_record> v1_change(ondemand::object obj) {
  decoded_record r;
  column_arrays columns, keys;
  auto st =
      each_field(obj, [&](std::string_view key, ondemand::value v) -> status {
        bool handled = false;
        if (auto st = text_field(key, v, r, handled); !st || handled)
          return st;
        if (auto st = column_array_field(key, v, "column", columns, handled);
            !st || handled)
          return st;
        if (key == "kind") {
          std::string kind;
          if (auto st = assign(string_value(v), kind); !st)
            return st;
          r.action = change_kind(kind);
          if (r.action == 0)
            return bad("unknown change kind \"" + kind + "\"");
        } else if (key == "oldkeys") {
          return each_field(v, [&](std::string_view k, ondemand::value kv) {
            bool h = false;
            return column_array_field(k, kv, "key", keys, h);
          });
        } else if (key == "pk") {
          return each_field(v, [&](std::string_view k, ondemand::value pv) {
            return k == "pknames" ? assign(string_array(pv), r.pk) : ok();
          });
        }
        return ok();
      });
  if (!st)
    return std::move(st).err();
  if (r.action == 0)
    return bad("change without \"kind\"");
  if (r.action != 'M') {
    if (auto st = assign(zip_columns(columns.names, columns.types, columns.oids,
                                     columns.values),
                         r.columns);
        !st)
      return std::move(st).err();
  }
  if (auto st =
          assign(zip_columns(keys.names, keys.types, keys.oids, keys.values),
                 r.identity);
      !st)
    return std::move(st).err();
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
  auto st =
      each_field(obj, [&](std::string_view key, ondemand::value v) -> status {
        if (key == "xid")
          return assign(xid_value(v), begin.xid);
        if (key == "nextlsn")
          return assign(lsn_value(v), begin.next_lsn);
        if (key == "timestamp")
          return assign(string_value(v), begin.timestamp);
        if (key != "change")
          return ok();
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
        return ok();
      });
  if (!st)
    return std::move(st).err();
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
    ondemand::value iv;
    if (auto e = item.get(iv))
      return bad(e);
    decoded_column c;
    auto st =
        each_field(iv, [&](std::string_view key, ondemand::value fv) -> status {
          if (key == "name")
            return assign(string_value(fv), c.name);
          if (key == "type")
            return assign(string_value(fv), c.type);
          if (key == "value")
            return assign(scalar_text(fv), c.value);
          if (key == "typeoid") {
            uint64_t x = 0;
            if (auto e = fv.get_uint64().get(x))
              return bad(e);
            if (x > UINT32_MAX)
              return bad("type OID out of range");
            c.type_oid = static_cast<uint32_t>(x);
          }
          return ok();
        });
    if (!st)
      return std::move(st).err();
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
  auto st =
      each_field(obj, [&](std::string_view key, ondemand::value v) -> status {
        bool handled = false;
        if (auto st = text_field(key, v, r, handled); !st || handled)
          return st;
        if (key == "action") {
          std::string a;
          if (auto st = assign(string_value(v), a); !st)
            return st;
          if (a.size() != 1 ||
              std::string_view("BCIUDTM").find(a[0]) == std::string_view::npos)
            return bad("unknown action \"" + a + "\"");
          r.action = a[0];
        } else if (key == "xid") {
          return assign(xid_value(v), r.xid);
        } else if (key == "timestamp") {
          bool is_null = false;
          if (auto e = v.is_null().get(is_null))
            return bad(e);
          return is_null ? ok() : assign(string_value(v), r.timestamp);
        } else if (key == "lsn") {
          return assign(lsn_value(v), r.position);
        } else if (key == "nextlsn") {
          return assign(lsn_value(v), r.next_lsn);
        } else if (key == "columns") {
          return assign(v2_columns(v), r.columns);
        } else if (key == "identity") {
          return assign(v2_columns(v), r.identity);
        } else if (key == "pk") {
          std::vector<decoded_column> pk;
          if (auto st = assign(v2_columns(v), pk); !st)
            return st;
          for (auto& c : pk)
            r.pk.push_back(std::move(c.name));
        }
        return ok();
      });
  if (!st)
    return std::move(st).err();
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
