// storage_format_test.cpp: CRC-32C vectors on both implementations, the
// durable record envelope (golden bytes, every corruption detected) and the
// node metadata payload.
#include "storage/catalog.hpp"
#include "storage/crc32c.hpp"
#include "storage/record.hpp"

#include <cstring>

#include <gtest/gtest.h>

namespace walmux::storage {
namespace {

TEST(crc32c, rfc3720_vectors_on_both_paths) {
  std::string zeros(32, '\0');
  std::string ones(32, '\xff');
  std::string incr, decr;
  for (int i = 0; i < 32; ++i) {
    incr += static_cast<char>(i);
    decr += static_cast<char>(31 - i);
  }
  for (auto fn : {&crc32c_extend, &crc32c_extend_portable}) {
    EXPECT_EQ(fn(0, zeros.data(), zeros.size()), 0x8A9136AAu);
    EXPECT_EQ(fn(0, ones.data(), ones.size()), 0x62A8AB43u);
    EXPECT_EQ(fn(0, incr.data(), incr.size()), 0x46DD794Eu);
    EXPECT_EQ(fn(0, decr.data(), decr.size()), 0x113FDB5Cu);
    EXPECT_EQ(fn(0, "123456789", 9), 0xE3069283u);
  }
}

TEST(crc32c, extend_equals_whole_and_paths_agree_on_odd_sizes) {
  std::string data;
  for (int i = 0; i < 1000; ++i)
    data += static_cast<char>(i * 7 + 3);
  for (size_t split : {0u, 1u, 7u, 8u, 9u, 500u, 999u, 1000u}) {
    uint32_t a = crc32c_extend(0, data.data(), split);
    a = crc32c_extend(a, data.data() + split, data.size() - split);
    EXPECT_EQ(a, crc32c(data.data(), data.size()));
    EXPECT_EQ(crc32c_extend_portable(0, data.data(), split),
              crc32c_extend(0, data.data(), split));
  }
}

TEST(crc32c, three_stream_path_agrees_at_every_length_and_alignment) {
  // Lengths around the 192-byte three-stream block and its multiples, at
  // every alignment, against the table implementation.
  std::string data;
  for (int i = 0; i < 2048; ++i)
    data += static_cast<char>((i * 131 + 17) ^ (i >> 3));
  for (size_t offset = 0; offset < 8; ++offset)
    for (size_t n = 0; n < 1200; n += (n < 400 ? 1 : 37)) {
      const char* p = data.data() + offset;
      ASSERT_EQ(crc32c_extend(0x12345678, p, n),
                crc32c_extend_portable(0x12345678, p, n))
          << "offset " << offset << " length " << n;
    }
}

TEST(record, golden_bytes) {
  auto bytes = record_encode(record_kind::node_meta, 1, "abc");
  const unsigned char expected[] = {
      0x4D, 0x58, 0x57, 0x58, // magic
      0x01, 0x00,             // kind node_meta
      0x01, 0x00,             // version 1
      0x03, 0x00, 0x00, 0x00, // length 3
      0xB7, 0x3F, 0x4B, 0x36, // crc32c("abc") = 0x364B3FB7
      'a',  'b',  'c'};
  ASSERT_EQ(bytes.size(), sizeof expected);
  EXPECT_EQ(0, std::memcmp(bytes.data(), expected, sizeof expected));
  auto rec = record_decode(bytes, "test");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->kind, record_kind::node_meta);
  EXPECT_EQ(rec->version, 1);
  EXPECT_EQ(rec->payload, "abc");
}

TEST(record, every_single_byte_corruption_is_detected) {
  auto bytes = record_encode(record_kind::node_meta, 1, "payload bytes");
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 5 || i == 6 || i == 7)
      continue; // kind and version are checked by the payload codec
    auto damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x01);
    auto rec = record_decode(damaged, "test key");
    ASSERT_FALSE(rec) << "byte " << i;
    EXPECT_EQ(rec.err().code, "XX001");
    EXPECT_EQ(rec.err().message, "invalid record in test key");
  }
  EXPECT_FALSE(record_decode(bytes.substr(0, bytes.size() - 1), "t"));
  EXPECT_FALSE(record_decode(bytes + "x", "t"));
  EXPECT_FALSE(record_decode("", "t"));
}

TEST(node_meta, round_trip_and_rejects) {
  node_meta m;
  m.system_identifier = 0x0123456789ABCDEFull;
  m.wal_segment_size = 16 << 20;
  m.upstream_slot = "walmux_slot";
  m.upstream_confirmed = 0x16B374D848ull;
  auto bytes = node_meta_encode(m);
  auto back = node_meta_decode(bytes);
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(back->system_identifier, m.system_identifier);
  EXPECT_EQ(back->wal_segment_size, m.wal_segment_size);
  EXPECT_EQ(back->upstream_slot, m.upstream_slot);
  EXPECT_EQ(back->upstream_confirmed, m.upstream_confirmed);

  auto other_version = record_encode(record_kind::node_meta, 2,
                                     bytes.substr(record_header_size));
  auto e = node_meta_decode(other_version);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.err().detail, "Unsupported node metadata version 2.");
  EXPECT_FALSE(node_meta_decode(record_encode(record_kind::node_meta, 1, "x")));
}

} // namespace
} // namespace walmux::storage
