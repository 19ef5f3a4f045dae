// frame.hpp: incremental framing of PostgreSQL protocol messages.
//
// A frame_reader takes bytes in chunks of any size (one byte at a time is
// fine) and yields whole messages. It has three modes, set by the session
// that owns it, because the protocol's first messages are not self-describing:
//   untyped      Int32 length (counting itself) + body: the startup packet,
//                SSLRequest, GSSENCRequest, CancelRequest (client -> server).
//   typed        Byte1 type + Int32 length + body: everything else.
//   single_byte  one byte: the server's 'S'/'N' answer to an SSLRequest or
//                GSSENCRequest (server -> client).
// Lengths are checked before any body byte is buffered: a length below the
// minimum or above the reader's bound is an error (08P01), so a hostile peer
// can make the reader hold at most one bounded message plus one chunk.
//
// Pure: no I/O.
#pragma once

#include "common/expected.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace walmux::wire {

// PostgreSQL's limits: MAX_STARTUP_PACKET_LENGTH and PQ_LARGE_MESSAGE_LIMIT.
inline constexpr size_t max_startup_packet = 10000;
inline constexpr size_t default_max_message = (size_t{1} << 30) - 1;

struct frame {
  char type = 0; // 0 for untyped and single_byte frames
  std::string body;
};

enum class frame_mode { untyped, typed, single_byte };

class frame_reader {
 public:
  explicit frame_reader(frame_mode mode, size_t max_body = default_max_message);

  void set_mode(frame_mode mode) { mode_ = mode; }
  frame_mode mode() const { return mode_; }

  // Appends received bytes.
  void feed(std::string_view bytes);

  // The next complete frame, nullopt when more bytes are needed, or an error
  // for a malformed length (after which the reader must not be used).
  expected<std::optional<frame>> next();

  // Bytes received but not yet returned as frames.
  size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  frame_mode mode_;
  size_t max_body_;
  std::string buffer_;
  size_t consumed_ = 0;
};

} // namespace walmux::wire
