// stream.cpp: see stream.hpp.
#include "protocol/stream.hpp"

#include "protocol/byte_io.hpp"

namespace walmux::stream {
namespace {

error malformed(const char* what) {
  return error{sqlstate::protocol_violation,
               std::string("invalid ") + what + " message"};
}

} // namespace

expected<server_message> decode_server(std::string_view payload) {
  wire::byte_reader r(payload);
  char type = 0;
  if (!r.byte(type))
    return malformed("streaming");
  if (type == 'w') {
    xlog_data m;
    uint64_t start = 0, end = 0;
    if (!r.u64(start) || !r.u64(end) || !r.i64(m.send_time))
      return malformed("XLogData");
    m.data_start = lsn(start);
    m.wal_end = lsn(end);
    m.data = r.rest();
    return server_message(m);
  }
  if (type == 'k') {
    keepalive m;
    uint64_t end = 0;
    uint8_t reply = 0;
    if (!r.u64(end) || !r.i64(m.send_time) || !r.u8(reply) || !r.at_end() ||
        reply > 1)
      return malformed("keepalive");
    m.wal_end = lsn(end);
    m.reply_requested = reply == 1;
    return server_message(m);
  }
  return error{sqlstate::protocol_violation,
               "unrecognized streaming header: \"" + std::string(1, type) +
                   "\""};
}

expected<client_message> decode_client(std::string_view payload) {
  wire::byte_reader r(payload);
  char type = 0;
  if (!r.byte(type))
    return malformed("standby");
  if (type == 'r') {
    status_update m;
    uint64_t w = 0, f = 0, a = 0;
    uint8_t reply = 0;
    if (!r.u64(w) || !r.u64(f) || !r.u64(a) || !r.i64(m.client_time) ||
        !r.u8(reply) || !r.at_end())
      return malformed("standby status update");
    m.write = lsn(w);
    m.flush = lsn(f);
    m.apply = lsn(a);
    m.reply_requested = reply != 0;
    return client_message(m);
  }
  if (type == 'h') {
    hot_standby_feedback m;
    if (!r.i64(m.client_time) || !r.u32(m.xmin) || !r.u32(m.xmin_epoch) ||
        !r.u32(m.catalog_xmin) || !r.u32(m.catalog_xmin_epoch) || !r.at_end())
      return malformed("hot standby feedback");
    return client_message(m);
  }
  // walsender.c's wording for an unknown standby message type.
  return error{sqlstate::protocol_violation,
               "unexpected message type \"" + std::string(1, type) + "\""};
}

void encode_xlog_header(std::string& out, lsn data_start, lsn wal_end,
                        int64_t send_time) {
  out += 'w';
  wire::put_u64(out, data_start.value);
  wire::put_u64(out, wal_end.value);
  wire::put_i64(out, send_time);
}

void encode_xlog_copy_data(std::string& out, lsn data_start, lsn wal_end,
                           int64_t send_time, std::string_view payload) {
  out += 'd';
  wire::put_i32(
      out, static_cast<int32_t>(4 + xlog_data_header_size + payload.size()));
  encode_xlog_header(out, data_start, wal_end, send_time);
  out.append(payload);
}

void encode(std::string& out, const xlog_data& m) {
  encode_xlog_header(out, m.data_start, m.wal_end, m.send_time);
  out.append(m.data);
}

void encode(std::string& out, const keepalive& m) {
  out += 'k';
  wire::put_u64(out, m.wal_end.value);
  wire::put_i64(out, m.send_time);
  wire::put_u8(out, m.reply_requested ? 1 : 0);
}

void encode(std::string& out, const status_update& m) {
  out += 'r';
  wire::put_u64(out, m.write.value);
  wire::put_u64(out, m.flush.value);
  wire::put_u64(out, m.apply.value);
  wire::put_i64(out, m.client_time);
  wire::put_u8(out, m.reply_requested ? 1 : 0);
}

void encode(std::string& out, const hot_standby_feedback& m) {
  out += 'h';
  wire::put_i64(out, m.client_time);
  wire::put_u32(out, m.xmin);
  wire::put_u32(out, m.xmin_epoch);
  wire::put_u32(out, m.catalog_xmin);
  wire::put_u32(out, m.catalog_xmin_epoch);
}

} // namespace walmux::stream
