// pgoutput.hpp: the logical replication messages of PostgreSQL's pgoutput
// plugin, protocol versions 1 to 4, as values, with a validating decoder, an
// encoder that reproduces the input byte for byte, and a cheap scan.
//
// One message is one XLogData payload. Inside a streamed block (between
// Stream Start and Stream Stop) the messages R Y I U D T M carry the xid of
// the (sub)transaction after their type byte; the decoder needs to know
// whether it is inside such a block (decode_context::in_stream), which
// stream_decoder tracks for a whole stream. A Stream Abort carries its abort
// LSN and time only when the subscriber asked for streaming = parallel
// (protocol 4): decode_context::parallel_abort.
//
// Validation follows PostgreSQL's readers (logical/proto.c): flags that must
// be zero are checked, counts are bounded by the bytes present, every String
// must be NUL-terminated inside the message, and no bytes may follow the
// message. Anything else is an 08P01 error value.
//
// scan() reads only the type, the xid, the relation OID and the LSNs at fixed
// offsets, without materializing tuples: the decoder's hot path when deciding
// whether a slot wants a message at all. A message that needs no change is
// passed on as its original bytes.
//
// Pure: no I/O.
#pragma once

#include "common/expected.hpp"
#include "protocol/lsn.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace walmux::pgoutput {

inline constexpr int min_protocol_version = 1;
inline constexpr int max_protocol_version = 4;

// Persisted in the store as part of message bytes: the wire values.
enum class kind : char {
  begin = 'B',
  commit = 'C',
  origin = 'O',
  relation = 'R',
  type = 'Y',
  insert = 'I',
  update = 'U',
  delete_ = 'D',
  truncate = 'T',
  message = 'M',
  stream_start = 'S',
  stream_stop = 'E',
  stream_commit = 'c',
  stream_abort = 'A',
  begin_prepare = 'b',
  prepare = 'P',
  commit_prepared = 'K',
  rollback_prepared = 'r',
  stream_prepare = 'p',
};

struct column_value {
  char format = 'n'; // 'n' null, 'u' unchanged TOAST, 't' text, 'b' binary
  std::string data;  // for 't' and 'b'
  bool operator==(const column_value&) const = default;
};
using tuple = std::vector<column_value>;

struct begin {
  lsn final_lsn;
  int64_t commit_time = 0;
  uint32_t xid = 0;
};
struct commit {
  uint8_t flags = 0;
  lsn commit_lsn;
  lsn end_lsn;
  int64_t commit_time = 0;
};
struct origin {
  lsn origin_lsn;
  std::string name;
};
struct relation_column {
  uint8_t flags = 0; // 1 = part of the key
  std::string name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;
  bool operator==(const relation_column&) const = default;
};
struct relation {
  std::optional<uint32_t> xid;
  uint32_t oid = 0;
  std::string nspname;
  std::string relname;
  char replica_identity = 'd'; // d n f i
  std::vector<relation_column> columns;
};
struct type {
  std::optional<uint32_t> xid;
  uint32_t oid = 0;
  std::string nspname;
  std::string typname;
};
struct insert {
  std::optional<uint32_t> xid;
  uint32_t relation_oid = 0;
  tuple new_tuple;
};
struct update {
  std::optional<uint32_t> xid;
  uint32_t relation_oid = 0;
  char old_kind = 0; // 0 none, 'K' key, 'O' old row
  tuple old_tuple;
  tuple new_tuple;
};
struct delete_ {
  std::optional<uint32_t> xid;
  uint32_t relation_oid = 0;
  char old_kind = 'K'; // 'K' or 'O'
  tuple old_tuple;
};
struct truncate {
  std::optional<uint32_t> xid;
  uint8_t flags = 0; // 1 CASCADE, 2 RESTART IDENTITY
  std::vector<uint32_t> relation_oids;
};
struct message {
  std::optional<uint32_t> xid;
  uint8_t flags = 0; // 1 transactional
  lsn message_lsn;
  std::string prefix;
  std::string content;
};
struct stream_start {
  uint32_t xid = 0;
  uint8_t first_segment = 0;
};
struct stream_stop {};
struct stream_commit {
  uint32_t xid = 0;
  uint8_t flags = 0;
  lsn commit_lsn;
  lsn end_lsn;
  int64_t commit_time = 0;
};
struct stream_abort {
  uint32_t xid = 0;
  uint32_t subxid = 0;
  std::optional<lsn> abort_lsn;      // protocol 4, streaming = parallel
  std::optional<int64_t> abort_time; // same
};
struct begin_prepare {
  lsn prepare_lsn;
  lsn end_lsn;
  int64_t prepare_time = 0;
  uint32_t xid = 0;
  std::string gid;
};
// 'P' Prepare and 'p' Stream Prepare share a layout.
struct prepare {
  bool streamed = false; // 'p' when true
  uint8_t flags = 0;
  lsn prepare_lsn;
  lsn end_lsn;
  int64_t prepare_time = 0;
  uint32_t xid = 0;
  std::string gid;
};
struct commit_prepared {
  uint8_t flags = 0;
  lsn commit_lsn;
  lsn end_lsn;
  int64_t commit_time = 0;
  uint32_t xid = 0;
  std::string gid;
};
struct rollback_prepared {
  uint8_t flags = 0;
  lsn prepare_end_lsn;
  lsn rollback_end_lsn;
  int64_t prepare_time = 0;
  int64_t rollback_time = 0;
  uint32_t xid = 0;
  std::string gid;
};

using any_message =
    std::variant<begin, commit, origin, relation, type, insert, update, delete_,
                 truncate, message, stream_start, stream_stop, stream_commit,
                 stream_abort, begin_prepare, prepare, commit_prepared,
                 rollback_prepared>;

struct decode_context {
  bool in_stream = false;      // between Stream Start and Stream Stop
  bool parallel_abort = false; // Stream Abort carries abort LSN and time
};

expected<any_message> decode(std::string_view bytes, const decode_context& ctx);
// Appends the message's bytes; decode(encode(m)) == m and, for decoded input,
// encode(decode(bytes)) == bytes.
void encode(std::string& out, const any_message& m);

// Decodes a sequence of messages, tracking whether it is inside a streamed
// block; errors on a nested Stream Start or a Stream Stop without one, as
// PostgreSQL's apply worker does ("duplicate STREAM START message",
// "invalid logical replication message type").
class stream_decoder {
 public:
  explicit stream_decoder(bool parallel_abort = false)
      : ctx_{false, parallel_abort} {}
  expected<any_message> decode(std::string_view bytes);
  bool in_stream() const { return ctx_.in_stream; }

 private:
  decode_context ctx_;
};

// What scan() reads without decoding tuples.
struct scan_info {
  kind type = kind::begin;
  bool has_xid = false;
  uint32_t xid = 0;          // the message's xid (B, S, c, A, b, P, K, r, p,
                             // or the stream xid of R Y I U D T M)
  uint32_t relation_oid = 0; // R, I, U, D (Y: the type OID)
  lsn lsn1;                  // B final, C/c commit, b/P/p prepare, K commit,
                             // r prepare end, M message, O origin
  lsn lsn2;                  // C/c/b/P/p/K end, r rollback end
};
expected<scan_info> scan(std::string_view bytes, const decode_context& ctx);

// The message kind, from the first byte; an error for an unknown byte.
expected<kind> peek_kind(std::string_view bytes);

} // namespace walmux::pgoutput
