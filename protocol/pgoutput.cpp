// pgoutput.cpp: decoder, encoder and scan of pgoutput messages (see
// pgoutput.hpp). Field order and checks follow PostgreSQL's
// src/backend/replication/logical/proto.c.
#include "protocol/pgoutput.hpp"

#include "protocol/byte_io.hpp"

namespace walmux::pgoutput {
namespace {

using wire::byte_reader;

error invalid(const std::string& what) {
  return error{sqlstate::protocol_violation, "invalid pgoutput message"}
      .with_detail(what);
}

error truncated(char type) {
  return invalid(std::string("Message '") + type + "' is truncated.");
}

bool is_kind(char c) {
  switch (c) {
  case 'B':
  case 'C':
  case 'O':
  case 'R':
  case 'Y':
  case 'I':
  case 'U':
  case 'D':
  case 'T':
  case 'M':
  case 'S':
  case 'E':
  case 'c':
  case 'A':
  case 'b':
  case 'P':
  case 'K':
  case 'r':
  case 'p':
    return true;
  default:
    return false;
  }
}

// Messages that carry a stream xid inside a streamed block.
bool carries_stream_xid(char c) {
  return c == 'R' || c == 'Y' || c == 'I' || c == 'U' || c == 'D' || c == 'T' ||
         c == 'M';
}

bool read_lsn(byte_reader& r, lsn& out) {
  uint64_t v = 0;
  if (!r.u64(v))
    return false;
  out = lsn(v);
  return true;
}

bool read_string(byte_reader& r, std::string& out) {
  std::string_view s;
  if (!r.cstring(s))
    return false;
  out = s;
  return true;
}

expected<tuple> read_tuple(byte_reader& r, char type) {
  int16_t ncols = 0;
  if (!r.i16(ncols))
    return truncated(type);
  if (ncols < 0 || static_cast<size_t>(ncols) > r.remaining())
    return invalid("Tuple column count " + std::to_string(ncols) +
                   " exceeds the message.");
  tuple t(static_cast<size_t>(ncols));
  for (auto& col : t) {
    if (!r.byte(col.format))
      return truncated(type);
    switch (col.format) {
    case 'n':
    case 'u':
      break;
    case 't':
    case 'b': {
      int32_t len = 0;
      std::string_view data;
      if (!r.i32(len) || len < 0 || !r.bytes(static_cast<size_t>(len), data))
        return invalid("Column value length exceeds the message.");
      col.data = data;
      break;
    }
    default:
      return invalid(std::string("unrecognized data representation type '") +
                     col.format + "'");
    }
  }
  return t;
}

void write_tuple(std::string& out, const tuple& t) {
  wire::put_i16(out, static_cast<int16_t>(t.size()));
  for (const auto& col : t) {
    out += col.format;
    if (col.format == 't' || col.format == 'b') {
      wire::put_i32(out, static_cast<int32_t>(col.data.size()));
      out += col.data;
    }
  }
}

status require_zero_flags(uint8_t flags, const char* what) {
  if (flags != 0)
    return invalid("unrecognized flags " + std::to_string(flags) + " in " +
                   what + " message");
  return ok();
}

status require_valid(lsn l, const char* what) {
  if (!l.valid())
    return invalid(std::string(what) + " not set");
  return ok();
}

template <class T>
expected<any_message> finish(byte_reader& r, T&& m, char type) {
  if (!r.at_end())
    return invalid(std::string("Trailing bytes after message '") + type + "'.");
  return any_message(std::forward<T>(m));
}

} // namespace

expected<kind> peek_kind(std::string_view bytes) {
  if (bytes.empty())
    return invalid("Empty message.");
  if (!is_kind(bytes[0]))
    return error{sqlstate::protocol_violation,
                 "invalid logical replication message type \"" +
                     std::string(1, bytes[0]) + "\""};
  return static_cast<kind>(bytes[0]);
}

expected<any_message> decode(std::string_view bytes,
                             const decode_context& ctx) {
  auto k = peek_kind(bytes);
  if (!k)
    return std::move(k).err();
  const char type = bytes[0];
  byte_reader r(bytes.substr(1));
  std::optional<uint32_t> xid;
  if (ctx.in_stream && carries_stream_xid(type)) {
    uint32_t x = 0;
    if (!r.u32(x))
      return truncated(type);
    xid = x;
  }
  switch (type) {
  case 'B': {
    begin m;
    if (!read_lsn(r, m.final_lsn) || !r.i64(m.commit_time) || !r.u32(m.xid))
      return truncated(type);
    if (auto st = require_valid(m.final_lsn, "final_lsn"); !st)
      return std::move(st).err();
    return finish(r, m, type);
  }
  case 'C': {
    commit m;
    if (!r.u8(m.flags) || !read_lsn(r, m.commit_lsn) ||
        !read_lsn(r, m.end_lsn) || !r.i64(m.commit_time))
      return truncated(type);
    if (auto st = require_zero_flags(m.flags, "commit"); !st)
      return std::move(st).err();
    return finish(r, m, type);
  }
  case 'O': {
    origin m;
    if (!read_lsn(r, m.origin_lsn) || !read_string(r, m.name))
      return truncated(type);
    return finish(r, std::move(m), type);
  }
  case 'R': {
    relation m;
    m.xid = xid;
    uint8_t ident = 0;
    int16_t natts = 0;
    if (!r.u32(m.oid) || !read_string(r, m.nspname) ||
        !read_string(r, m.relname) || !r.u8(ident) || !r.i16(natts))
      return truncated(type);
    m.replica_identity = static_cast<char>(ident);
    // Each column: flags, name NUL, type OID, typmod = at least 10 bytes.
    if (natts < 0 || static_cast<size_t>(natts) * 10 > r.remaining())
      return invalid("Relation column count exceeds the message.");
    m.columns.resize(static_cast<size_t>(natts));
    for (auto& c : m.columns)
      if (!r.u8(c.flags) || !read_string(r, c.name) || !r.u32(c.type_oid) ||
          !r.i32(c.type_modifier))
        return truncated(type);
    return finish(r, std::move(m), type);
  }
  case 'Y': {
    pgoutput::type m;
    m.xid = xid;
    if (!r.u32(m.oid) || !read_string(r, m.nspname) ||
        !read_string(r, m.typname))
      return truncated(type);
    return finish(r, std::move(m), type);
  }
  case 'I': {
    insert m;
    m.xid = xid;
    char action = 0;
    if (!r.u32(m.relation_oid) || !r.byte(action))
      return truncated(type);
    if (action != 'N')
      return invalid(std::string("expected new tuple but got ") +
                     std::to_string(static_cast<unsigned char>(action)));
    auto t = read_tuple(r, type);
    if (!t)
      return std::move(t).err();
    m.new_tuple = std::move(*t);
    return finish(r, std::move(m), type);
  }
  case 'U': {
    update m;
    m.xid = xid;
    char action = 0;
    if (!r.u32(m.relation_oid) || !r.byte(action))
      return truncated(type);
    if (action == 'K' || action == 'O') {
      m.old_kind = action;
      auto old = read_tuple(r, type);
      if (!old)
        return std::move(old).err();
      m.old_tuple = std::move(*old);
      if (!r.byte(action))
        return truncated(type);
    }
    if (action != 'N')
      return invalid(std::string("expected action 'N', 'O' or 'K', got ") +
                     action);
    auto t = read_tuple(r, type);
    if (!t)
      return std::move(t).err();
    m.new_tuple = std::move(*t);
    return finish(r, std::move(m), type);
  }
  case 'D': {
    delete_ m;
    m.xid = xid;
    if (!r.u32(m.relation_oid) || !r.byte(m.old_kind))
      return truncated(type);
    if (m.old_kind != 'K' && m.old_kind != 'O')
      return invalid(std::string("expected action 'O' or 'K', got ") +
                     m.old_kind);
    auto old = read_tuple(r, type);
    if (!old)
      return std::move(old).err();
    m.old_tuple = std::move(*old);
    return finish(r, std::move(m), type);
  }
  case 'T': {
    truncate m;
    m.xid = xid;
    int32_t nrels = 0;
    if (!r.i32(nrels) || !r.u8(m.flags))
      return truncated(type);
    if (nrels < 0 || static_cast<size_t>(nrels) * 4 > r.remaining())
      return invalid("Truncate relation count exceeds the message.");
    m.relation_oids.resize(static_cast<size_t>(nrels));
    for (auto& oid : m.relation_oids)
      (void)r.u32(oid); // bounded above
    return finish(r, std::move(m), type);
  }
  case 'M': {
    message m;
    m.xid = xid;
    int32_t len = 0;
    std::string_view content;
    if (!r.u8(m.flags) || !read_lsn(r, m.message_lsn) ||
        !read_string(r, m.prefix) || !r.i32(len) || len < 0 ||
        !r.bytes(static_cast<size_t>(len), content))
      return truncated(type);
    m.content = content;
    return finish(r, std::move(m), type);
  }
  case 'S': {
    stream_start m;
    if (!r.u32(m.xid) || !r.u8(m.first_segment))
      return truncated(type);
    if (m.first_segment > 1)
      return invalid("Stream Start first_segment must be 0 or 1.");
    if (m.xid == 0)
      return invalid("invalid transaction ID in streamed replication "
                     "transaction");
    return finish(r, m, type);
  }
  case 'E':
    return finish(r, stream_stop{}, type);
  case 'c': {
    stream_commit m;
    if (!r.u32(m.xid) || !r.u8(m.flags) || !read_lsn(r, m.commit_lsn) ||
        !read_lsn(r, m.end_lsn) || !r.i64(m.commit_time))
      return truncated(type);
    if (auto st = require_zero_flags(m.flags, "commit"); !st)
      return std::move(st).err();
    return finish(r, m, type);
  }
  case 'A': {
    stream_abort m;
    if (!r.u32(m.xid) || !r.u32(m.subxid))
      return truncated(type);
    if (ctx.parallel_abort) {
      lsn abort_lsn;
      int64_t abort_time = 0;
      if (!read_lsn(r, abort_lsn) || !r.i64(abort_time))
        return truncated(type);
      m.abort_lsn = abort_lsn;
      m.abort_time = abort_time;
    }
    return finish(r, m, type);
  }
  case 'b': {
    begin_prepare m;
    if (!read_lsn(r, m.prepare_lsn) || !read_lsn(r, m.end_lsn) ||
        !r.i64(m.prepare_time) || !r.u32(m.xid) || !read_string(r, m.gid))
      return truncated(type);
    if (auto st = require_valid(m.prepare_lsn, "prepare_lsn"); !st)
      return std::move(st).err();
    if (auto st = require_valid(m.end_lsn, "end_lsn"); !st)
      return std::move(st).err();
    return finish(r, std::move(m), type);
  }
  case 'P':
  case 'p': {
    prepare m;
    m.streamed = type == 'p';
    if (!r.u8(m.flags) || !read_lsn(r, m.prepare_lsn) ||
        !read_lsn(r, m.end_lsn) || !r.i64(m.prepare_time) || !r.u32(m.xid) ||
        !read_string(r, m.gid))
      return truncated(type);
    if (auto st = require_zero_flags(m.flags,
                                     m.streamed ? "stream prepare" : "prepare");
        !st)
      return std::move(st).err();
    if (auto st = require_valid(m.prepare_lsn, "prepare_lsn"); !st)
      return std::move(st).err();
    if (auto st = require_valid(m.end_lsn, "end_lsn"); !st)
      return std::move(st).err();
    return finish(r, std::move(m), type);
  }
  case 'K': {
    commit_prepared m;
    if (!r.u8(m.flags) || !read_lsn(r, m.commit_lsn) ||
        !read_lsn(r, m.end_lsn) || !r.i64(m.commit_time) || !r.u32(m.xid) ||
        !read_string(r, m.gid))
      return truncated(type);
    if (auto st = require_zero_flags(m.flags, "commit prepared"); !st)
      return std::move(st).err();
    if (auto st = require_valid(m.commit_lsn, "commit_lsn"); !st)
      return std::move(st).err();
    if (auto st = require_valid(m.end_lsn, "end_lsn"); !st)
      return std::move(st).err();
    return finish(r, std::move(m), type);
  }
  case 'r': {
    rollback_prepared m;
    if (!r.u8(m.flags) || !read_lsn(r, m.prepare_end_lsn) ||
        !read_lsn(r, m.rollback_end_lsn) || !r.i64(m.prepare_time) ||
        !r.i64(m.rollback_time) || !r.u32(m.xid) || !read_string(r, m.gid))
      return truncated(type);
    if (auto st = require_zero_flags(m.flags, "rollback prepared"); !st)
      return std::move(st).err();
    if (auto st = require_valid(m.prepare_end_lsn, "prepare_end_lsn"); !st)
      return std::move(st).err();
    if (auto st = require_valid(m.rollback_end_lsn, "rollback_end_lsn"); !st)
      return std::move(st).err();
    return finish(r, std::move(m), type);
  }
  }
  return invalid("unreachable message type");
}

namespace {

void put_xid(std::string& out, const std::optional<uint32_t>& xid) {
  if (xid)
    wire::put_u32(out, *xid);
}

struct encoder {
  std::string& out;

  void operator()(const begin& m) {
    out += 'B';
    wire::put_u64(out, m.final_lsn.value);
    wire::put_i64(out, m.commit_time);
    wire::put_u32(out, m.xid);
  }
  void operator()(const commit& m) {
    out += 'C';
    wire::put_u8(out, m.flags);
    wire::put_u64(out, m.commit_lsn.value);
    wire::put_u64(out, m.end_lsn.value);
    wire::put_i64(out, m.commit_time);
  }
  void operator()(const origin& m) {
    out += 'O';
    wire::put_u64(out, m.origin_lsn.value);
    wire::put_cstring(out, m.name);
  }
  void operator()(const relation& m) {
    out += 'R';
    put_xid(out, m.xid);
    wire::put_u32(out, m.oid);
    wire::put_cstring(out, m.nspname);
    wire::put_cstring(out, m.relname);
    out += m.replica_identity;
    wire::put_i16(out, static_cast<int16_t>(m.columns.size()));
    for (const auto& c : m.columns) {
      wire::put_u8(out, c.flags);
      wire::put_cstring(out, c.name);
      wire::put_u32(out, c.type_oid);
      wire::put_i32(out, c.type_modifier);
    }
  }
  void operator()(const type& m) {
    out += 'Y';
    put_xid(out, m.xid);
    wire::put_u32(out, m.oid);
    wire::put_cstring(out, m.nspname);
    wire::put_cstring(out, m.typname);
  }
  void operator()(const insert& m) {
    out += 'I';
    put_xid(out, m.xid);
    wire::put_u32(out, m.relation_oid);
    out += 'N';
    write_tuple(out, m.new_tuple);
  }
  void operator()(const update& m) {
    out += 'U';
    put_xid(out, m.xid);
    wire::put_u32(out, m.relation_oid);
    if (m.old_kind != 0) {
      out += m.old_kind;
      write_tuple(out, m.old_tuple);
    }
    out += 'N';
    write_tuple(out, m.new_tuple);
  }
  void operator()(const delete_& m) {
    out += 'D';
    put_xid(out, m.xid);
    wire::put_u32(out, m.relation_oid);
    out += m.old_kind;
    write_tuple(out, m.old_tuple);
  }
  void operator()(const truncate& m) {
    out += 'T';
    put_xid(out, m.xid);
    wire::put_i32(out, static_cast<int32_t>(m.relation_oids.size()));
    wire::put_u8(out, m.flags);
    for (auto oid : m.relation_oids)
      wire::put_u32(out, oid);
  }
  void operator()(const message& m) {
    out += 'M';
    put_xid(out, m.xid);
    wire::put_u8(out, m.flags);
    wire::put_u64(out, m.message_lsn.value);
    wire::put_cstring(out, m.prefix);
    wire::put_i32(out, static_cast<int32_t>(m.content.size()));
    out += m.content;
  }
  void operator()(const stream_start& m) {
    out += 'S';
    wire::put_u32(out, m.xid);
    wire::put_u8(out, m.first_segment);
  }
  void operator()(const stream_stop&) { out += 'E'; }
  void operator()(const stream_commit& m) {
    out += 'c';
    wire::put_u32(out, m.xid);
    wire::put_u8(out, m.flags);
    wire::put_u64(out, m.commit_lsn.value);
    wire::put_u64(out, m.end_lsn.value);
    wire::put_i64(out, m.commit_time);
  }
  void operator()(const stream_abort& m) {
    out += 'A';
    wire::put_u32(out, m.xid);
    wire::put_u32(out, m.subxid);
    if (m.abort_lsn && m.abort_time) {
      wire::put_u64(out, m.abort_lsn->value);
      wire::put_i64(out, *m.abort_time);
    }
  }
  void operator()(const begin_prepare& m) {
    out += 'b';
    wire::put_u64(out, m.prepare_lsn.value);
    wire::put_u64(out, m.end_lsn.value);
    wire::put_i64(out, m.prepare_time);
    wire::put_u32(out, m.xid);
    wire::put_cstring(out, m.gid);
  }
  void operator()(const prepare& m) {
    out += m.streamed ? 'p' : 'P';
    wire::put_u8(out, m.flags);
    wire::put_u64(out, m.prepare_lsn.value);
    wire::put_u64(out, m.end_lsn.value);
    wire::put_i64(out, m.prepare_time);
    wire::put_u32(out, m.xid);
    wire::put_cstring(out, m.gid);
  }
  void operator()(const commit_prepared& m) {
    out += 'K';
    wire::put_u8(out, m.flags);
    wire::put_u64(out, m.commit_lsn.value);
    wire::put_u64(out, m.end_lsn.value);
    wire::put_i64(out, m.commit_time);
    wire::put_u32(out, m.xid);
    wire::put_cstring(out, m.gid);
  }
  void operator()(const rollback_prepared& m) {
    out += 'r';
    wire::put_u8(out, m.flags);
    wire::put_u64(out, m.prepare_end_lsn.value);
    wire::put_u64(out, m.rollback_end_lsn.value);
    wire::put_i64(out, m.prepare_time);
    wire::put_i64(out, m.rollback_time);
    wire::put_u32(out, m.xid);
    wire::put_cstring(out, m.gid);
  }
};

} // namespace

void encode(std::string& out, const any_message& m) {
  std::visit(encoder{out}, m);
}

expected<any_message> stream_decoder::decode(std::string_view bytes) {
  auto k = peek_kind(bytes);
  if (!k)
    return std::move(k).err();
  if (*k == kind::stream_start && ctx_.in_stream)
    return error{sqlstate::protocol_violation,
                 "duplicate STREAM START message"};
  if (*k == kind::stream_stop && !ctx_.in_stream)
    return error{sqlstate::protocol_violation,
                 "STREAM STOP message without STREAM START"};
  auto m = pgoutput::decode(bytes, ctx_);
  if (!m)
    return m;
  if (*k == kind::stream_start)
    ctx_.in_stream = true;
  else if (*k == kind::stream_stop)
    ctx_.in_stream = false;
  return m;
}

expected<scan_info> scan(std::string_view bytes, const decode_context& ctx) {
  auto k = peek_kind(bytes);
  if (!k)
    return std::move(k).err();
  scan_info s;
  s.type = *k;
  const char type = bytes[0];
  byte_reader r(bytes.substr(1));
  uint64_t a = 0, b = 0;
  if (ctx.in_stream && carries_stream_xid(type)) {
    if (!r.u32(s.xid))
      return truncated(type);
    s.has_xid = true;
  }
  bool ok = true;
  switch (type) {
  case 'B':
    ok = r.u64(a) && r.skip(8) && r.u32(s.xid);
    s.has_xid = ok;
    break;
  case 'C':
    ok = r.skip(1) && r.u64(a) && r.u64(b);
    break;
  case 'O':
  case 'M':
    if (type == 'M')
      ok = r.skip(1);
    ok = ok && r.u64(a);
    break;
  case 'R':
  case 'Y':
  case 'I':
  case 'U':
  case 'D':
    ok = r.u32(s.relation_oid);
    break;
  case 'S':
  case 'A':
    ok = r.u32(s.xid);
    s.has_xid = ok;
    break;
  case 'c':
    ok = r.u32(s.xid) && r.skip(1) && r.u64(a) && r.u64(b);
    s.has_xid = ok;
    break;
  case 'b':
    ok = r.u64(a) && r.u64(b) && r.skip(8) && r.u32(s.xid);
    s.has_xid = ok;
    break;
  case 'P':
  case 'p':
  case 'K':
    ok = r.skip(1) && r.u64(a) && r.u64(b) && r.skip(8) && r.u32(s.xid);
    s.has_xid = ok;
    break;
  case 'r':
    ok = r.skip(1) && r.u64(a) && r.u64(b) && r.skip(16) && r.u32(s.xid);
    s.has_xid = ok;
    break;
  default: // T, E: nothing at a fixed offset beyond the stream xid
    break;
  }
  if (!ok)
    return truncated(type);
  s.lsn1 = lsn(a);
  s.lsn2 = lsn(b);
  return s;
}

} // namespace walmux::pgoutput
