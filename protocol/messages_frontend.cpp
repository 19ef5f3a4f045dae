// messages_frontend.cpp: codecs of the messages a client sends: the untyped
// startup-phase packets and the typed frontend messages (see messages.hpp).
#include "protocol/messages.hpp"
#include "protocol/messages_internal.hpp"

namespace walmux::wire {

using namespace detail;

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
  auto done = [&](frontend_message m) {
    return finish_message(r, std::move(m), f.type);
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
  encode_copy_data(out, m.data);
}
void encode_copy_data(std::string& out, std::string_view payload) {
  size_t at = begin_message(out, 'd');
  out += payload;
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

} // namespace walmux::wire
