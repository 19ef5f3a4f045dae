// frame.cpp: see frame.hpp.
#include "protocol/frame.hpp"

#include "protocol/byte_io.hpp"

namespace walmux::wire {
namespace {

error bad_length(int64_t length) {
  return error{sqlstate::protocol_violation,
               "invalid message length " + std::to_string(length)};
}

} // namespace

frame_reader::frame_reader(frame_mode mode, size_t max_body)
    : mode_(mode)
    , max_body_(max_body) {}

void frame_reader::feed(std::string_view bytes) {
  // Drop what has been returned before growing the buffer.
  if (consumed_ > 0 && consumed_ >= buffer_.size() / 2) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(bytes);
}

expected<std::optional<frame>> frame_reader::next() {
  std::string_view avail(buffer_.data() + consumed_,
                         buffer_.size() - consumed_);
  if (mode_ == frame_mode::single_byte) {
    if (avail.empty())
      return std::optional<frame>();
    frame f;
    f.body.assign(avail.substr(0, 1));
    consumed_ += 1;
    return std::optional<frame>(std::move(f));
  }
  const size_t header = mode_ == frame_mode::typed ? 5 : 4;
  if (avail.size() < header)
    return std::optional<frame>();
  byte_reader r(avail.substr(header - 4, 4));
  int32_t length = 0;
  (void)r.i32(length); // four bytes are there
  const size_t limit = mode_ == frame_mode::untyped
                           ? std::min(max_body_, max_startup_packet)
                           : max_body_;
  // The length counts itself; an untyped packet needs at least its code.
  const int32_t min_length = mode_ == frame_mode::untyped ? 8 : 4;
  if (length < min_length || static_cast<size_t>(length) - 4 > limit)
    return bad_length(length);
  const size_t total = header - 4 + static_cast<size_t>(length);
  if (avail.size() < total)
    return std::optional<frame>();
  frame f;
  f.type = mode_ == frame_mode::typed ? avail[0] : 0;
  f.body.assign(avail.substr(header, total - header));
  consumed_ += total;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  return std::optional<frame>(std::move(f));
}

} // namespace walmux::wire
