// stream_spool.hpp: the changes of transactions a publisher streams before
// they commit (a subscription with streaming = on), kept in files until
// the transaction's Stream Commit, when they are applied as one
// transaction, or its Stream Abort, when the transaction (or one
// subtransaction and what followed it) is dropped. Files, as PostgreSQL's
// apply worker does: streaming exists for transactions too large for
// memory, so memory stays bounded whatever the transaction's size.
//
// Files: DIR/<prefix>-<xid>.changes, each message as a 4-byte big-endian
// length and its bytes. Only the transaction between Stream Start and
// Stream Stop has its file open. A publisher streams an uncommitted
// transaction again from its start after a reconnection, so a worker
// removes its files when it starts (remove_all) and when it ends.
//
// Blocks on file I/O: for the apply worker's own thread. Not thread-safe.
#pragma once

#include "common/expected.hpp"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace walmux::actors::apply {

class stream_spool {
 public:
  // DIR is created when first needed.
  stream_spool(std::string dir, std::string prefix);
  ~stream_spool();
  stream_spool(const stream_spool&) = delete;
  stream_spool& operator=(const stream_spool&) = delete;

  // Removes every file of this prefix (a previous worker's leftovers).
  status remove_all();
  // Stream Start of top-level transaction `xid`: its file is opened for
  // appending (created when `first_segment`). REQUIRES: no block open.
  status begin_block(uint32_t xid, bool first_segment);
  // Stream Stop: the file is closed.
  status end_block();
  // One message of the open block's transaction, from its (sub)transaction
  // `subxid` (the xid the message carries; 0 for one that carries none,
  // such as the Origin after a first Stream Start: the transaction's own).
  status append(uint32_t subxid, std::string_view message);
  // Stream Abort: drops the transaction when subxid == xid, else the
  // subtransaction from its first change on (with the subtransactions
  // after it, which it contained or which followed it).
  status abort(uint32_t xid, uint32_t subxid);
  // Stream Commit: calls `each` with every message in order, then drops
  // the transaction. Stops at the first error.
  status replay(uint32_t xid,
                const std::function<status(std::string_view)>& each);
  size_t transactions() const { return txns_.size(); }

 private:
  struct spooled {
    uint64_t size = 0;
    // Subtransactions in order of their first change, and where it is.
    std::vector<std::pair<uint32_t, uint64_t>> subxacts;
  };
  std::string path_of(uint32_t xid) const;
  status drop(uint32_t xid);
  error io_error(const std::string& what, const std::string& path) const;
  error read_error(std::FILE* f, const std::string& path) const;

  std::string dir_;
  std::string prefix_;
  std::map<uint32_t, spooled> txns_;
  std::FILE* open_ = nullptr; // the open block's file
  uint32_t open_xid_ = 0;
};

} // namespace walmux::actors::apply
