// messages.cpp: encoders and validating decoders of protocol messages (see
// messages.hpp).
#include "protocol/messages.hpp"

#include "protocol/byte_io.hpp"

namespace walmux::wire {
namespace {

error invalid_format(std::string_view what) {
  return error{sqlstate::protocol_violation, "invalid message format"}
      .with_detail(std::string(what));
}

std::string hex_byte(char c) {
  const char* digits = "0123456789ABCDEF";
  auto u = static_cast<unsigned char>(c);
  return {digits[u >> 4], digits[u & 15]};
}

template <class T>
expected<T> fail(std::string_view what) {
  return invalid_format(what);
}

// Reads a count followed by that many items; the count is checked against
// the bytes left (each item needs at least `min_item_bytes`), so a hostile
// count cannot make a decoder allocate more than its input justifies.
bool count_fits(const byte_reader& r, int64_t count, size_t min_item_bytes) {
  return count >= 0 &&
         static_cast<uint64_t>(count) * min_item_bytes <= r.remaining();
}

void encode_empty(std::string& out, char type) {
  size_t at = begin_message(out, type);
  end_message(out, at);
}

void put_notice_fields(std::string& out, const notice_fields& f) {
  for (const auto& [code, value] : f.fields) {
    out += code;
    put_cstring(out, value);
  }
  out += '\0';
}

expected<notice_fields> read_notice_fields(byte_reader& r) {
  notice_fields f;
  while (true) {
    char code = 0;
    if (!r.byte(code))
      return fail<notice_fields>("unterminated field list");
    if (code == '\0')
      break;
    std::string_view value;
    if (!r.cstring(value))
      return fail<notice_fields>("unterminated field value");
    f.fields.emplace_back(code, std::string(value));
  }
  if (!r.at_end())
    return fail<notice_fields>("trailing bytes after field list");
  return f;
}

} // namespace

std::string_view notice_fields::get(char code) const {
  for (const auto& [c, v] : fields)
    if (c == code)
      return v;
  return {};
}

const std::string* startup_message::get(std::string_view name) const {
  for (const auto& [k, v] : parameters)
    if (k == name)
      return &v;
  return nullptr;
}

// ---- Untyped ----------------------------------------------------------------

expected<initial_message> decode_initial(const frame& f) {
  byte_reader r(f.body);
  int32_t code = 0;
  if (!r.i32(code))
    return fail<initial_message>("startup packet too short");
  if (code == ssl_request_code || code == gssenc_request_code) {
    if (!r.at_end())
      return fail<initial_message>("trailing bytes in encryption request");
    if (code == ssl_request_code)
      return initial_message(ssl_request{});
    return initial_message(gssenc_request{});
  }
  if (code == cancel_request_code) {
    cancel_request c;
    if (!r.i32(c.process_id) || !r.i32(c.secret_key) || !r.at_end())
      return fail<initial_message>("malformed cancel request");
    return initial_message(c);
  }
  if ((code >> 16) != 3)
    return error{sqlstate::feature_not_supported,
                 "unsupported frontend protocol " + std::to_string(code >> 16) +
                     "." + std::to_string(code & 0xffff) +
                     ": server supports 3.0 to 3.0"};
  startup_message m;
  m.protocol_version = code;
  while (true) {
    std::string_view name;
    if (!r.cstring(name))
      return fail<initial_message>("unterminated startup packet");
    if (name.empty())
      break;
    std::string_view value;
    if (!r.cstring(value))
      return fail<initial_message>("missing value in startup packet");
    m.parameters.emplace_back(std::string(name), std::string(value));
  }
  if (!r.at_end())
    return fail<initial_message>("trailing bytes in startup packet");
  return initial_message(std::move(m));
}

namespace {
void encode_untyped(std::string& out, int32_t code, const std::string& rest) {
  put_i32(out, static_cast<int32_t>(8 + rest.size()));
  put_i32(out, code);
  out += rest;
}
} // namespace

void encode(std::string& out, const startup_message& m) {
  std::string rest;
  for (const auto& [k, v] : m.parameters) {
    put_cstring(rest, k);
    put_cstring(rest, v);
  }
  rest += '\0';
  encode_untyped(out, m.protocol_version, rest);
}
void encode(std::string& out, const ssl_request&) {
  encode_untyped(out, ssl_request_code, {});
}
void encode(std::string& out, const gssenc_request&) {
  encode_untyped(out, gssenc_request_code, {});
}
void encode(std::string& out, const cancel_request& m) {
  std::string rest;
  put_i32(rest, m.process_id);
  put_i32(rest, m.secret_key);
  encode_untyped(out, cancel_request_code, rest);
}

// ---- Typed client messages ------------------------------------------------

expected<frontend_message> decode_frontend(const frame& f) {
  byte_reader r(f.body);
  auto done = [&](frontend_message m) -> expected<frontend_message> {
    if (!r.at_end())
      return invalid_format(std::string("trailing bytes in message type '") +
                            f.type + "'");
    return m;
  };
  std::string_view s1, s2;
  switch (f.type) {
  case 'Q':
    if (!r.cstring(s1))
      return fail<frontend_message>("unterminated query string");
    return done(query{std::string(s1)});
  case 'p':
    return frontend_message(password_packet{f.body});
  case 'P': {
    parse m;
    int16_t n = 0;
    if (!r.cstring(s1) || !r.cstring(s2) || !r.i16(n) || !count_fits(r, n, 4))
      return fail<frontend_message>("malformed Parse message");
    m.statement = s1;
    m.sql = s2;
    m.param_types.resize(static_cast<size_t>(n));
    for (auto& t : m.param_types)
      (void)r.i32(t); // count_fits guaranteed the bytes
    return done(std::move(m));
  }
  case 'B': {
    bind m;
    int16_t n = 0;
    if (!r.cstring(s1) || !r.cstring(s2) || !r.i16(n) || !count_fits(r, n, 2))
      return fail<frontend_message>("malformed Bind message");
    m.portal = s1;
    m.statement = s2;
    m.param_formats.resize(static_cast<size_t>(n));
    for (auto& fmt : m.param_formats)
      (void)r.i16(fmt);
    if (!r.i16(n) || !count_fits(r, n, 4))
      return fail<frontend_message>("malformed Bind parameters");
    for (int i = 0; i < n; ++i) {
      int32_t len = 0;
      std::string_view v;
      if (!r.i32(len) || len < -1)
        return fail<frontend_message>("malformed Bind parameter length");
      if (len == -1) {
        m.params.emplace_back(std::nullopt);
        continue;
      }
      if (!r.bytes(static_cast<size_t>(len), v))
        return fail<frontend_message>("Bind parameter exceeds message");
      m.params.emplace_back(std::string(v));
    }
    if (!r.i16(n) || !count_fits(r, n, 2))
      return fail<frontend_message>("malformed Bind result formats");
    m.result_formats.resize(static_cast<size_t>(n));
    for (auto& fmt : m.result_formats)
      (void)r.i16(fmt);
    return done(std::move(m));
  }
  case 'D':
  case 'C': {
    char kind = 0;
    if (!r.byte(kind) || (kind != 'S' && kind != 'P') || !r.cstring(s1))
      return fail<frontend_message>("malformed Describe or Close message");
    if (f.type == 'D')
      return done(describe{kind, std::string(s1)});
    return done(close{kind, std::string(s1)});
  }
  case 'E': {
    execute m;
    if (!r.cstring(s1) || !r.i32(m.max_rows))
      return fail<frontend_message>("malformed Execute message");
    m.portal = s1;
    return done(std::move(m));
  }
  case 'S':
    return done(sync{});
  case 'H':
    return done(flush{});
  case 'd':
    return frontend_message(copy_data{f.body});
  case 'c':
    return done(copy_done{});
  case 'f':
    if (!r.cstring(s1))
      return fail<frontend_message>("malformed CopyFail message");
    return done(copy_fail{std::string(s1)});
  case 'X':
    return done(terminate{});
  default:
    return error{sqlstate::protocol_violation,
                 "invalid frontend message type " +
                     std::to_string(static_cast<unsigned char>(f.type))};
  }
}

void encode(std::string& out, const query& m) {
  size_t at = begin_message(out, 'Q');
  put_cstring(out, m.sql);
  end_message(out, at);
}
void encode(std::string& out, const password_packet& m) {
  size_t at = begin_message(out, 'p');
  out += m.body;
  end_message(out, at);
}
void encode(std::string& out, const parse& m) {
  size_t at = begin_message(out, 'P');
  put_cstring(out, m.statement);
  put_cstring(out, m.sql);
  put_i16(out, static_cast<int16_t>(m.param_types.size()));
  for (auto t : m.param_types)
    put_i32(out, t);
  end_message(out, at);
}
void encode(std::string& out, const bind& m) {
  size_t at = begin_message(out, 'B');
  put_cstring(out, m.portal);
  put_cstring(out, m.statement);
  put_i16(out, static_cast<int16_t>(m.param_formats.size()));
  for (auto f : m.param_formats)
    put_i16(out, f);
  put_i16(out, static_cast<int16_t>(m.params.size()));
  for (const auto& p : m.params) {
    if (!p) {
      put_i32(out, -1);
      continue;
    }
    put_i32(out, static_cast<int32_t>(p->size()));
    out += *p;
  }
  put_i16(out, static_cast<int16_t>(m.result_formats.size()));
  for (auto f : m.result_formats)
    put_i16(out, f);
  end_message(out, at);
}
void encode(std::string& out, const describe& m) {
  size_t at = begin_message(out, 'D');
  out += m.kind;
  put_cstring(out, m.name);
  end_message(out, at);
}
void encode(std::string& out, const execute& m) {
  size_t at = begin_message(out, 'E');
  put_cstring(out, m.portal);
  put_i32(out, m.max_rows);
  end_message(out, at);
}
void encode(std::string& out, const sync&) {
  encode_empty(out, 'S');
}
void encode(std::string& out, const flush&) {
  encode_empty(out, 'H');
}
void encode(std::string& out, const close& m) {
  size_t at = begin_message(out, 'C');
  out += m.kind;
  put_cstring(out, m.name);
  end_message(out, at);
}
void encode(std::string& out, const copy_data& m) {
  size_t at = begin_message(out, 'd');
  out += m.data;
  end_message(out, at);
}
void encode(std::string& out, const copy_done&) {
  encode_empty(out, 'c');
}
void encode(std::string& out, const copy_fail& m) {
  size_t at = begin_message(out, 'f');
  put_cstring(out, m.message);
  end_message(out, at);
}
void encode(std::string& out, const terminate&) {
  encode_empty(out, 'X');
}

expected<std::string> decode_password(const password_packet& p) {
  byte_reader r(p.body);
  std::string_view pw;
  if (!r.cstring(pw) || !r.at_end())
    return invalid_format("malformed password packet");
  return std::string(pw);
}

expected<sasl_initial_response> decode_sasl_initial(const password_packet& p) {
  byte_reader r(p.body);
  std::string_view mech;
  int32_t len = 0;
  if (!r.cstring(mech) || !r.i32(len) || len < -1)
    return invalid_format("malformed SASLInitialResponse");
  sasl_initial_response s;
  s.mechanism = mech;
  if (len >= 0) {
    std::string_view data;
    if (!r.bytes(static_cast<size_t>(len), data))
      return invalid_format("SASLInitialResponse data exceeds message");
    s.data = std::string(data);
  }
  if (!r.at_end())
    return invalid_format("trailing bytes in SASLInitialResponse");
  return s;
}

std::string encode_password_body(std::string_view password) {
  std::string body;
  put_cstring(body, password);
  return body;
}

std::string encode_sasl_initial_body(const sasl_initial_response& r) {
  std::string body;
  put_cstring(body, r.mechanism);
  if (!r.data) {
    put_i32(body, -1);
  } else {
    put_i32(body, static_cast<int32_t>(r.data->size()));
    body += *r.data;
  }
  return body;
}

// ---- Server messages
// ---------------------------------------------------------

expected<backend_message> decode_backend(const frame& f) {
  byte_reader r(f.body);
  auto done = [&](backend_message m) -> expected<backend_message> {
    if (!r.at_end())
      return invalid_format(std::string("trailing bytes in message type '") +
                            f.type + "'");
    return m;
  };
  std::string_view s1, s2;
  switch (f.type) {
  case 'R': {
    authentication a;
    if (!r.i32(a.code))
      return fail<backend_message>("malformed Authentication message");
    switch (a.code) {
    case authentication::ok:
    case authentication::cleartext_password:
      return done(std::move(a));
    case authentication::md5_password:
      if (!r.bytes(4, s1))
        return fail<backend_message>("MD5 salt missing");
      a.salt = s1;
      return done(std::move(a));
    case authentication::sasl:
      while (true) {
        if (!r.cstring(s1))
          return fail<backend_message>("unterminated SASL mechanisms");
        if (s1.empty())
          break;
        a.mechanisms.emplace_back(s1);
      }
      return done(std::move(a));
    case authentication::sasl_continue:
    case authentication::sasl_final:
      a.data = r.rest();
      return backend_message(std::move(a));
    default:
      return error{sqlstate::feature_not_supported, "authentication method " +
                                                        std::to_string(a.code) +
                                                        " not supported"};
    }
  }
  case 'S':
    if (!r.cstring(s1) || !r.cstring(s2))
      return fail<backend_message>("malformed ParameterStatus");
    return done(parameter_status{std::string(s1), std::string(s2)});
  case 'K': {
    backend_key_data k;
    if (!r.i32(k.process_id) || !r.i32(k.secret_key))
      return fail<backend_message>("malformed BackendKeyData");
    return done(k);
  }
  case 'Z': {
    char status = 0;
    if (!r.byte(status) || (status != 'I' && status != 'T' && status != 'E'))
      return fail<backend_message>("invalid transaction status");
    return done(ready_for_query{status});
  }
  case 'T': {
    row_description d;
    int16_t n = 0;
    // Each field: name NUL + 18 bytes.
    if (!r.i16(n) || !count_fits(r, n, 19))
      return fail<backend_message>("malformed RowDescription");
    d.fields.resize(static_cast<size_t>(n));
    for (auto& fd : d.fields) {
      if (!r.cstring(s1) || !r.i32(fd.table_oid) || !r.i16(fd.column) ||
          !r.i32(fd.type_oid) || !r.i16(fd.type_size) ||
          !r.i32(fd.type_modifier) || !r.i16(fd.format))
        return fail<backend_message>("RowDescription field exceeds message");
      fd.name = s1;
    }
    return done(std::move(d));
  }
  case 'D': {
    data_row row;
    int16_t n = 0;
    if (!r.i16(n) || !count_fits(r, n, 4))
      return fail<backend_message>("malformed DataRow");
    row.values.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      int32_t len = 0;
      if (!r.i32(len) || len < -1)
        return fail<backend_message>("malformed DataRow value length");
      if (len == -1) {
        row.values.emplace_back(std::nullopt);
        continue;
      }
      if (!r.bytes(static_cast<size_t>(len), s1))
        return fail<backend_message>("DataRow value exceeds message");
      row.values.emplace_back(std::string(s1));
    }
    return done(std::move(row));
  }
  case 'C':
    if (!r.cstring(s1))
      return fail<backend_message>("malformed CommandComplete");
    return done(command_complete{std::string(s1)});
  case 'I':
    return done(empty_query_response{});
  case 'E':
  case 'N': {
    auto fields = read_notice_fields(r);
    if (!fields)
      return std::move(fields).err();
    if (f.type == 'E')
      return backend_message(error_response{std::move(*fields)});
    return backend_message(notice_response{std::move(*fields)});
  }
  case 'G':
  case 'H':
  case 'W': {
    copy_response c;
    c.kind = f.type;
    int16_t n = 0;
    if (!r.i8(c.format) || (c.format != 0 && c.format != 1) || !r.i16(n) ||
        !count_fits(r, n, 2))
      return fail<backend_message>("malformed copy response");
    c.column_formats.resize(static_cast<size_t>(n));
    for (auto& fmt : c.column_formats)
      (void)r.i16(fmt);
    return done(std::move(c));
  }
  case 'd':
    return backend_message(copy_data{f.body});
  case 'c':
    return done(copy_done{});
  case '1':
    return done(parse_complete{});
  case '2':
    return done(bind_complete{});
  case '3':
    return done(close_complete{});
  case 'n':
    return done(no_data{});
  case 's':
    return done(portal_suspended{});
  case 't': {
    parameter_description d;
    int16_t n = 0;
    if (!r.i16(n) || !count_fits(r, n, 4))
      return fail<backend_message>("malformed ParameterDescription");
    d.types.resize(static_cast<size_t>(n));
    for (auto& t : d.types)
      (void)r.i32(t);
    return done(std::move(d));
  }
  case 'A': {
    notification_response a;
    if (!r.i32(a.process_id) || !r.cstring(s1) || !r.cstring(s2))
      return fail<backend_message>("malformed NotificationResponse");
    a.channel = s1;
    a.payload = s2;
    return done(std::move(a));
  }
  case 'v': {
    negotiate_protocol_version v;
    int32_t n = 0;
    if (!r.i32(v.newest_minor) || !r.i32(n) || !count_fits(r, n, 1))
      return fail<backend_message>("malformed NegotiateProtocolVersion");
    for (int i = 0; i < n; ++i) {
      if (!r.cstring(s1))
        return fail<backend_message>("malformed NegotiateProtocolVersion");
      v.unrecognized.emplace_back(s1);
    }
    return done(std::move(v));
  }
  default:
    return error{sqlstate::protocol_violation, "unexpected message type 0x" +
                                                   hex_byte(f.type) +
                                                   " from server"};
  }
}

void encode(std::string& out, const authentication& m) {
  size_t at = begin_message(out, 'R');
  put_i32(out, m.code);
  switch (m.code) {
  case authentication::md5_password:
    out += m.salt;
    break;
  case authentication::sasl:
    for (const auto& mech : m.mechanisms)
      put_cstring(out, mech);
    out += '\0';
    break;
  case authentication::sasl_continue:
  case authentication::sasl_final:
    out += m.data;
    break;
  default:
    break;
  }
  end_message(out, at);
}
void encode(std::string& out, const parameter_status& m) {
  size_t at = begin_message(out, 'S');
  put_cstring(out, m.name);
  put_cstring(out, m.value);
  end_message(out, at);
}
void encode(std::string& out, const backend_key_data& m) {
  size_t at = begin_message(out, 'K');
  put_i32(out, m.process_id);
  put_i32(out, m.secret_key);
  end_message(out, at);
}
void encode(std::string& out, const ready_for_query& m) {
  size_t at = begin_message(out, 'Z');
  out += m.status;
  end_message(out, at);
}
void encode(std::string& out, const row_description& m) {
  size_t at = begin_message(out, 'T');
  put_i16(out, static_cast<int16_t>(m.fields.size()));
  for (const auto& f : m.fields) {
    put_cstring(out, f.name);
    put_i32(out, f.table_oid);
    put_i16(out, f.column);
    put_i32(out, f.type_oid);
    put_i16(out, f.type_size);
    put_i32(out, f.type_modifier);
    put_i16(out, f.format);
  }
  end_message(out, at);
}
void encode(std::string& out, const data_row& m) {
  size_t at = begin_message(out, 'D');
  put_i16(out, static_cast<int16_t>(m.values.size()));
  for (const auto& v : m.values) {
    if (!v) {
      put_i32(out, -1);
      continue;
    }
    put_i32(out, static_cast<int32_t>(v->size()));
    out += *v;
  }
  end_message(out, at);
}
void encode(std::string& out, const command_complete& m) {
  size_t at = begin_message(out, 'C');
  put_cstring(out, m.tag);
  end_message(out, at);
}
void encode(std::string& out, const empty_query_response&) {
  encode_empty(out, 'I');
}
void encode(std::string& out, const error_response& m) {
  size_t at = begin_message(out, 'E');
  put_notice_fields(out, m.fields);
  end_message(out, at);
}
void encode(std::string& out, const notice_response& m) {
  size_t at = begin_message(out, 'N');
  put_notice_fields(out, m.fields);
  end_message(out, at);
}
void encode(std::string& out, const copy_response& m) {
  size_t at = begin_message(out, m.kind);
  out += static_cast<char>(m.format);
  put_i16(out, static_cast<int16_t>(m.column_formats.size()));
  for (auto f : m.column_formats)
    put_i16(out, f);
  end_message(out, at);
}
void encode(std::string& out, const parse_complete&) {
  encode_empty(out, '1');
}
void encode(std::string& out, const bind_complete&) {
  encode_empty(out, '2');
}
void encode(std::string& out, const close_complete&) {
  encode_empty(out, '3');
}
void encode(std::string& out, const no_data&) {
  encode_empty(out, 'n');
}
void encode(std::string& out, const portal_suspended&) {
  encode_empty(out, 's');
}
void encode(std::string& out, const parameter_description& m) {
  size_t at = begin_message(out, 't');
  put_i16(out, static_cast<int16_t>(m.types.size()));
  for (auto t : m.types)
    put_i32(out, t);
  end_message(out, at);
}
void encode(std::string& out, const notification_response& m) {
  size_t at = begin_message(out, 'A');
  put_i32(out, m.process_id);
  put_cstring(out, m.channel);
  put_cstring(out, m.payload);
  end_message(out, at);
}
void encode(std::string& out, const negotiate_protocol_version& m) {
  size_t at = begin_message(out, 'v');
  put_i32(out, m.newest_minor);
  put_i32(out, static_cast<int32_t>(m.unrecognized.size()));
  for (const auto& u : m.unrecognized)
    put_cstring(out, u);
  end_message(out, at);
}

notice_fields notice_from_error(const error& e, std::string_view severity) {
  notice_fields f;
  auto add = [&](char code, std::string_view value) {
    if (!value.empty())
      f.fields.emplace_back(code, std::string(value));
  };
  add('S', severity);
  add('V', severity);
  add('C', e.code);
  add('M', e.message);
  add('D', e.detail);
  add('H', e.hint);
  add('W', e.context);
  return f;
}

error error_from_notice(const notice_fields& f) {
  auto code = f.get('C');
  error e{code.empty() ? sqlstate::internal_error : std::string(code),
          std::string(f.get('M'))};
  e.detail = f.get('D');
  e.hint = f.get('H');
  e.context = f.get('W');
  return e;
}

} // namespace walmux::wire
