// wal_scan.hpp: the record scanner under recovery (wal_store.cpp) and
// wal_reader (wal_reader.cpp); internal to storage/.
#pragma once

#include "storage/wal_format.hpp"
#include "storage/wal_reader.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace walmux::storage {

// The error of a bad record in a segment file.
inline error corrupt_at(const std::string& segment_file, uint64_t offset,
                        const std::string& why) {
  return error{sqlstate::data_corrupted, "invalid record in WAL segment \"" +
                                             segment_file + "\" at offset " +
                                             std::to_string(offset)}
      .with_detail(why);
}

// Reads raw records from a byte source into a scan_window, with
// read-ahead. On a bad record it reports where and how far the record
// claimed to reach, which recovery needs to tell a torn tail from damage.
struct raw_scanner {
  const byte_source& source;
  scan_window& window;
  uint64_t position;
  size_t read_ahead_bytes;
  // Bytes from it on stay in the window (the current transaction's views).
  uint64_t anchor;

  struct record {
    uint64_t position = 0;
    record_header header;
    std::string_view payload;
  };
  struct failure {
    uint64_t position = 0;
    uint64_t claimed_end = 0;  // 0 if the header itself was unreadable
    bool short_data = false;   // the data ended inside the record
    const char* why = nullptr; // what is wrong with the record
    std::string header_detail; // set only when a header is invalid
  };
  enum class step { record, end, bad };

  // The next record into `r`; step::end at the clean end of the data,
  // step::bad with `f` filled in. Views into the window stay valid until
  // the next call.
  expected<step> next(record& r, failure& f) {
    // Fast path: the whole record is in the window and valid.
    const uint64_t have_end = window.start + window.size;
    if (position >= window.start && position + wal_header_size <= have_end) {
      const char* p = window.at(position);
      if (wal_decode_header(p, r.header) &&
          r.header.length <= have_end - position - wal_header_size) {
        r.payload = std::string_view(p + wal_header_size, r.header.length);
        if (wal_crc_matches(r.header, r.payload)) {
          r.position = position;
          position += wal_header_size + r.header.length;
          return step::record;
        }
      }
    }
    return next_with_refill(r, f);
  }

 private:
  // Makes [position, position + n) available; false if the data ends first.
  expected<bool> fill(size_t n) {
    while (true) {
      if (position >= window.start &&
          position + n <= window.start + window.size)
        return true;
      const uint64_t have_end = window.start + window.size;
      const uint64_t from = std::min(anchor, position);
      if (!window.ahead || from < window.start || from > have_end ||
          !window.ahead->next_is(have_end))
        break;
      auto full = take_ahead(from);
      if (!full)
        return std::move(full).err();
      if (!*full)
        break; // the data ended in that chunk: read what came since
    }
    const uint64_t have_end = window.start + window.size;
    const uint64_t from = std::min(anchor, position);
    const uint64_t want_end =
        position + std::max<uint64_t>(n, read_ahead_bytes);
    const auto want = static_cast<size_t>(want_end - from);
    // Keep what is buffered from `from` on and read only what follows: a
    // long transaction is read once, not again at every refill.
    const size_t keep = from >= window.start && from < have_end
                            ? static_cast<size_t>(have_end - from)
                            : 0;
    char* kept = keep > 0 ? window.at(from) : nullptr;
    if (want > window.capacity) {
      grow(want, kept, keep);
    } else if (keep > 0 && kept != window.data.get()) {
      std::memmove(window.data.get(), kept, keep);
    }
    window.offset = 0;
    window.start = from;
    window.size = keep;
    auto got = source.read(from + keep, window.data.get() + keep, want - keep);
    if (!got)
      return std::move(got).err();
    window.size = keep + *got;
    // More data than asked for may follow: read on ahead from here. (A
    // reader at the durable end reads on demand.)
    if (window.ahead && *got == want - keep)
      window.ahead->start_at(window.start + window.size);
    return window.size >= static_cast<size_t>(position - from) + n;
  }

  // Appends the next chunk read ahead (it starts at the window's end) to
  // the bytes kept from `from` on: its buffer becomes the window, the kept
  // bytes copied in front of it, or, when more are kept than its reserve
  // holds (a long transaction), it is copied after them. True if the chunk
  // was whole: more may follow.
  expected<bool> take_ahead(uint64_t from) {
    read_ahead& ahead = *window.ahead;
    auto c = ahead.take();
    if (!c)
      return std::move(c).err();
    const uint64_t have_end = window.start + window.size;
    const size_t keep = static_cast<size_t>(have_end - from);
    const size_t reserve = ahead.reserve();
    const char* chunk = c->buffer.get() + reserve;
    if (keep <= reserve) {
      if (keep > 0)
        std::memcpy(c->buffer.get() + reserve - keep, window.at(from), keep);
      release(std::move(window.data), window.capacity);
      window.data = std::move(c->buffer);
      window.capacity = c->capacity;
      window.offset = reserve - keep;
    } else {
      const size_t need = keep + c->size;
      char* kept = window.at(from);
      if (need > window.capacity)
        grow(need, kept, keep);
      else if (kept != window.data.get())
        std::memmove(window.data.get(), kept, keep);
      std::memcpy(window.data.get() + keep, chunk, c->size);
      window.offset = 0;
      ahead.give_back(std::move(c->buffer), c->capacity);
    }
    window.start = from;
    window.size = keep + c->size;
    return c->size == ahead.chunk_bytes();
  }

  // Replaces the window's buffer with one of `need` bytes at least holding
  // the `keep` bytes at `kept` at its start: the kept large buffer if it is
  // large enough, else a new one grown by half at least (a window that
  // follows a long transaction in read_ahead steps would otherwise be
  // copied whole at every step). The old buffer goes to release().
  void grow(size_t need, const char* kept, size_t keep) {
    std::unique_ptr<char[]> bigger;
    size_t capacity;
    if (window.large_capacity >= need) {
      bigger = std::move(window.large);
      capacity = window.large_capacity;
      window.large_capacity = 0;
    } else {
      capacity = std::max(need, window.capacity * 3 / 2);
      if (window.ahead)
        capacity = std::max(capacity, window.ahead->buffer_capacity());
      bigger = std::make_unique_for_overwrite<char[]>(capacity);
    }
    if (keep > 0)
      std::memcpy(bigger.get(), kept, keep);
    release(std::move(window.data), window.capacity);
    window.data = std::move(bigger);
    window.capacity = capacity;
  }

  // A buffer the window no longer uses: the largest beyond the read-ahead
  // size is kept for long transactions, the others go back to the
  // read-ahead (or are freed).
  void release(std::unique_ptr<char[]> buffer, size_t capacity) {
    if (!buffer)
      return;
    if (window.ahead && capacity <= window.ahead->buffer_capacity()) {
      window.ahead->give_back(std::move(buffer), capacity);
    } else if (capacity > window.large_capacity) {
      window.large = std::move(buffer);
      window.large_capacity = capacity;
    }
  }

  expected<step> next_with_refill(record& r, failure& f) {
    f.short_data = false;
    f.claimed_end = 0;
    f.position = position;
    auto have = fill(wal_header_size);
    if (!have)
      return std::move(have).err();
    if (!*have) {
      if (window.start + window.size <= position)
        return step::end;
      f.short_data = true;
      f.why = "The data ends inside a record header.";
      return step::bad;
    }
    const char* head = window.at(position);
    auto h = wal_parse_header(std::string_view(head, wal_header_size));
    if (!h) {
      f.header_detail = h.err().detail;
      f.why = f.header_detail.c_str();
      return step::bad;
    }
    f.claimed_end = position + wal_header_size + h->length;
    auto whole = fill(wal_header_size + h->length);
    if (!whole)
      return std::move(whole).err();
    if (!*whole) {
      f.short_data = true;
      f.why = "The data ends inside the record.";
      return step::bad;
    }
    std::string_view payload(window.at(position) + wal_header_size, h->length);
    if (!wal_crc_matches(*h, payload)) {
      f.why = "The record's CRC-32C does not match its contents.";
      return step::bad;
    }
    r = record{position, *h, payload};
    position = f.claimed_end;
    return step::record;
  }
};

} // namespace walmux::storage
