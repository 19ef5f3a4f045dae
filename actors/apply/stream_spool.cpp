// stream_spool.cpp: see stream_spool.hpp.
#include "actors/apply/stream_spool.hpp"

#include "common/error.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <unistd.h>

namespace walmux::actors::apply {

namespace fs = std::filesystem;

stream_spool::stream_spool(std::string dir, std::string prefix)
    : dir_(std::move(dir))
    , prefix_(std::move(prefix)) {}

stream_spool::~stream_spool() {
  (void)remove_all();
}

std::string stream_spool::path_of(uint32_t xid) const {
  return dir_ + "/" + prefix_ + "-" + std::to_string(xid) + ".changes";
}

error stream_spool::io_error(const std::string& what,
                             const std::string& path) const {
  return error{sqlstate::io_error, "could not " + what + " file \"" + path +
                                       "\": " + std::strerror(errno)};
}

error stream_spool::read_error(std::FILE* f, const std::string& path) const {
  if (std::ferror(f))
    return io_error("read", path);
  return error{sqlstate::data_corrupted,
               "could not read file \"" + path + "\": unexpected end of file"};
}

status stream_spool::remove_all() {
  if (open_ != nullptr)
    std::fclose(open_);
  open_ = nullptr;
  txns_.clear();
  std::error_code ec;
  if (!fs::exists(dir_, ec))
    return ok();
  const std::string start = prefix_ + "-";
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with(start) && name.ends_with(".changes"))
      fs::remove(e.path(), ec);
  }
  if (ec)
    return error{sqlstate::io_error, "could not remove streamed changes in \"" +
                                         dir_ + "\": " + ec.message()};
  return ok();
}

status stream_spool::begin_block(uint32_t xid, bool first_segment) {
  if (open_ != nullptr)
    return error{sqlstate::protocol_violation,
                 "duplicate STREAM START message"};
  std::error_code ec;
  fs::create_directories(dir_, ec);
  const std::string path = path_of(xid);
  auto it = txns_.find(xid);
  if (first_segment || it == txns_.end()) {
    // A first segment starts the transaction over (a publisher resends
    // one from its start only after a reconnection, but be sure).
    txns_[xid] = spooled{};
    open_ = std::fopen(path.c_str(), "wb");
  } else {
    open_ = std::fopen(path.c_str(), "ab");
  }
  if (open_ == nullptr)
    return io_error("open", path);
  open_xid_ = xid;
  return ok();
}

status stream_spool::end_block() {
  if (open_ == nullptr)
    return ok();
  const bool failed = std::fclose(open_) != 0;
  open_ = nullptr;
  if (failed)
    return io_error("write", path_of(open_xid_));
  return ok();
}

status stream_spool::append(uint32_t subxid, std::string_view message) {
  if (open_ == nullptr)
    return error{sqlstate::protocol_violation,
                 "a streamed change arrived outside a stream block"};
  auto& t = txns_[open_xid_];
  if (subxid != 0 && subxid != open_xid_ &&
      std::none_of(t.subxacts.begin(), t.subxacts.end(),
                   [&](const auto& s) { return s.first == subxid; }))
    t.subxacts.emplace_back(subxid, t.size);
  const auto n = static_cast<uint32_t>(message.size());
  const unsigned char length[4] = {
      static_cast<unsigned char>(n >> 24), static_cast<unsigned char>(n >> 16),
      static_cast<unsigned char>(n >> 8), static_cast<unsigned char>(n)};
  if (std::fwrite(length, 1, 4, open_) != 4 ||
      std::fwrite(message.data(), 1, message.size(), open_) != message.size())
    return io_error("write", path_of(open_xid_));
  t.size += 4 + message.size();
  return ok();
}

status stream_spool::drop(uint32_t xid) {
  txns_.erase(xid);
  std::error_code ec;
  fs::remove(path_of(xid), ec);
  if (ec)
    return error{sqlstate::io_error, "could not remove file \"" + path_of(xid) +
                                         "\": " + ec.message()};
  return ok();
}

status stream_spool::abort(uint32_t xid, uint32_t subxid) {
  if (open_ != nullptr)
    return error{sqlstate::protocol_violation,
                 "STREAM ABORT message without STREAM STOP"};
  auto it = txns_.find(xid);
  if (it == txns_.end())
    return ok(); // nothing of it was streamed to this worker
  if (subxid == xid)
    return drop(xid);
  auto& subs = it->second.subxacts;
  auto sub = std::find_if(subs.begin(), subs.end(),
                          [&](const auto& s) { return s.first == subxid; });
  if (sub == subs.end())
    return ok(); // the subtransaction made no change
  const uint64_t cut = sub->second;
  subs.erase(sub, subs.end());
  it->second.size = cut;
  if (::truncate(path_of(xid).c_str(), static_cast<off_t>(cut)) != 0)
    return io_error("truncate", path_of(xid));
  return ok();
}

status
stream_spool::replay(uint32_t xid,
                     const std::function<status(std::string_view)>& each) {
  if (open_ != nullptr)
    return error{sqlstate::protocol_violation,
                 "STREAM COMMIT message without STREAM STOP"};
  auto it = txns_.find(xid);
  if (it == txns_.end())
    return ok(); // no change of it was streamed
  const std::string path = path_of(xid);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(
      std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f)
    return io_error("open", path);
  std::string message;
  uint64_t done = 0;
  while (done < it->second.size) {
    unsigned char length[4];
    if (std::fread(length, 1, 4, f.get()) != 4)
      return read_error(f.get(), path);
    const uint32_t n = (uint32_t{length[0]} << 24) |
                       (uint32_t{length[1]} << 16) |
                       (uint32_t{length[2]} << 8) | length[3];
    // A length past what was written is damage, not a reason to allocate.
    if (it->second.size - done < 4 || n > it->second.size - done - 4)
      return error{sqlstate::data_corrupted, "invalid length " +
                                                 std::to_string(n) +
                                                 " in file \"" + path + "\""};
    message.resize(n);
    if (std::fread(message.data(), 1, n, f.get()) != n)
      return read_error(f.get(), path);
    done += 4 + n;
    if (auto st = each(message); !st)
      return st;
  }
  f.reset();
  return drop(xid);
}

} // namespace walmux::actors::apply
