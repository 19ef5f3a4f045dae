// stream.hpp: the CopyData payloads of a replication stream (CopyBoth).
//
//   'w' XLogData           server -> client: dataStart, walEnd, sendTime, data
//   'k' primary keepalive  server -> client: walEnd, sendTime, replyRequested
//   'r' standby status     client -> server: write, flush, apply, time, reply
//   'h' hot standby feedback client -> server (physical; logical clients never
//                          send it, it is decoded so it can be ignored safely)
// Times are microseconds since 2000-01-01 00:00:00 UTC. Every decoder checks
// the exact size (XLogData: at least the header).
//
// Pure: no I/O.
#pragma once

#include "common/expected.hpp"
#include "protocol/lsn.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace walmux::stream {

// Microseconds between 1970-01-01 and 2000-01-01 (PostgreSQL's epoch).
inline constexpr int64_t postgres_epoch_offset_us = 946684800LL * 1000000;

struct xlog_data {
  lsn data_start;
  lsn wal_end;
  int64_t send_time = 0;
  std::string_view data; // points into the decoded payload
};
struct keepalive {
  lsn wal_end;
  int64_t send_time = 0;
  bool reply_requested = false;
};
struct status_update {
  lsn write;
  lsn flush;
  lsn apply;
  int64_t client_time = 0;
  bool reply_requested = false;
};
struct hot_standby_feedback {
  int64_t client_time = 0;
  uint32_t xmin = 0;
  uint32_t xmin_epoch = 0;
  uint32_t catalog_xmin = 0;
  uint32_t catalog_xmin_epoch = 0;
};

using server_message = std::variant<xlog_data, keepalive>;
using client_message = std::variant<status_update, hot_standby_feedback>;

inline constexpr size_t xlog_data_header_size = 25;

expected<server_message> decode_server(std::string_view payload);
expected<client_message> decode_client(std::string_view payload);

// Appends the CopyData payload (not the 'd' message around it).
void encode_xlog_header(std::string& out, lsn data_start, lsn wal_end,
                        int64_t send_time);
void encode(std::string& out, const xlog_data& m);
// Appends a whole CopyData message carrying one XLogData ('d', length, 'w',
// header, payload) without an intermediate copy: a walsender's hot path.
void encode_xlog_copy_data(std::string& out, lsn data_start, lsn wal_end,
                           int64_t send_time, std::string_view payload);
void encode(std::string& out, const keepalive& m);
void encode(std::string& out, const status_update& m);
void encode(std::string& out, const hot_standby_feedback& m);

} // namespace walmux::stream
