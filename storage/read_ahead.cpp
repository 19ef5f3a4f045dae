// read_ahead.cpp: see read_ahead.hpp.
#include "storage/read_ahead.hpp"

#include <cassert>
#include <utility>

namespace walmux::storage {

read_ahead::read_ahead(const byte_source& source, size_t chunk_bytes,
                       size_t reserve, size_t depth)
    : source_(source)
    , chunk_bytes_(chunk_bytes)
    , reserve_(reserve)
    , depth_(depth) {}

read_ahead::~read_ahead() {
  {
    std::lock_guard g(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void read_ahead::start_at(uint64_t position) {
  {
    std::lock_guard g(mu_);
    ++generation_;
    for (auto& r : ready_)
      if (r.c.buffer)
        free_.push_back({std::move(r.c.buffer), r.c.capacity});
    ready_.clear();
    read_position_ = position;
    thread_reads_ = true;
  }
  reading_ = true;
  next_ = position;
  if (!thread_.joinable())
    thread_ = std::thread([this] { run(); });
  else
    cv_.notify_all();
}

expected<read_ahead::chunk> read_ahead::take() {
  assert(reading_);
  std::unique_lock g(mu_);
  cv_.wait(g, [this] { return !ready_.empty(); });
  result r = std::move(ready_.front());
  ready_.pop_front();
  if (!r.failed)
    --circulating_; // its buffer leaves with the chunk
  g.unlock();
  if (r.failed) {
    reading_ = false;
    return std::move(r.err);
  }
  next_ += r.c.size;
  if (r.c.size < chunk_bytes_)
    reading_ = false;
  return std::move(r.c);
}

void read_ahead::give_back(std::unique_ptr<char[]> bytes, size_t capacity) {
  if (!bytes || capacity < buffer_capacity())
    return;
  bool wake;
  {
    std::lock_guard g(mu_);
    if (circulating_ >= depth_)
      return;
    free_.push_back({std::move(bytes), capacity});
    ++circulating_;
    wake = ready_.size() <= depth_ / 2;
  }
  if (wake)
    cv_.notify_all();
}

void read_ahead::run() {
  std::unique_lock g(mu_);
  // Once `depth` chunks wait, reading resumes when half of them are taken:
  // one wake-up per depth/2 chunks, not one per chunk.
  bool refilling = true;
  while (true) {
    cv_.wait(g, [&] {
      if (stopping_)
        return true;
      if (!refilling && ready_.size() <= depth_ / 2)
        refilling = true;
      return thread_reads_ && refilling && ready_.size() < depth_ &&
             (!free_.empty() || circulating_ < depth_);
    });
    if (stopping_)
      return;
    buffer buf;
    if (free_.empty()) {
      buf = {std::make_unique_for_overwrite<char[]>(buffer_capacity()),
             buffer_capacity()};
      ++circulating_;
    } else {
      buf = std::move(free_.back());
      free_.pop_back();
    }
    const uint64_t generation = generation_;
    const uint64_t position = read_position_;
    g.unlock();
    auto got = source_.read(position, buf.bytes.get() + reserve_, chunk_bytes_);
    g.lock();
    if (generation != generation_) {
      free_.push_back(std::move(buf)); // start_at() moved on
      continue;
    }
    result r;
    if (!got) {
      r.failed = true;
      r.err = std::move(got).err();
      free_.push_back(std::move(buf));
      thread_reads_ = false;
    } else {
      r.c = chunk{std::move(buf.bytes), buf.capacity, position, *got};
      read_position_ += *got;
      if (*got < chunk_bytes_)
        thread_reads_ = false;
    }
    ready_.push_back(std::move(r));
    if (ready_.size() >= depth_)
      refilling = false;
    cv_.notify_all();
  }
}

} // namespace walmux::storage
