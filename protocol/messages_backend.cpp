// messages_backend.cpp: codecs of the messages a server sends (see
// messages.hpp).
#include "protocol/messages.hpp"
#include "protocol/messages_internal.hpp"

#include <algorithm>
#include <string>

namespace walmux::wire {

using namespace detail;

namespace {
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

// ---- Server messages
// ---------------------------------------------------------

expected<backend_message> decode_backend(const frame& f) {
  byte_reader r(f.body);
  auto done = [&](backend_message m) {
    return finish_message(r, std::move(m), f.type);
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
  if (e.position > 0)
    add('P', std::to_string(e.position));
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
  const auto position = f.get('P');
  int n = 0;
  if (!position.empty() && position.size() < 10 &&
      std::all_of(position.begin(), position.end(),
                  [](char c) { return c >= '0' && c <= '9'; }))
    n = std::stoi(std::string(position));
  e.position = n;
  return e;
}

} // namespace walmux::wire
