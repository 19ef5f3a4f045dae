// stream_test.cpp: CopyBoth payloads: golden bytes, round trips, rejects.
#include "protocol/messages.hpp"
#include "protocol/stream.hpp"

#include <gtest/gtest.h>

namespace walmux::stream {
namespace {

TEST(stream, keepalive_golden_bytes_and_round_trip) {
  std::string out;
  encode(out, keepalive{lsn(0x153D150), 0x0102030405060708, true});
  EXPECT_EQ(out, std::string("k\0\0\0\0\x01\x53\xd1\x50"
                             "\x01\x02\x03\x04\x05\x06\x07\x08\x01",
                             18));
  auto m = decode_server(out);
  ASSERT_TRUE(m);
  auto k = std::get<keepalive>(*m);
  EXPECT_EQ(lsn_to_string(k.wal_end), "0/153D150");
  EXPECT_TRUE(k.reply_requested);
}

TEST(stream, xlog_data_carries_its_payload) {
  std::string out;
  encode(out, xlog_data{lsn(0x16B14C8), lsn(0x16B14C8), 42, "B-payload"});
  ASSERT_EQ(out.size(), xlog_data_header_size + 9);
  auto m = decode_server(out);
  ASSERT_TRUE(m);
  auto w = std::get<xlog_data>(*m);
  EXPECT_EQ(w.data_start.value, 0x16B14C8u);
  EXPECT_EQ(w.send_time, 42);
  EXPECT_EQ(w.data, "B-payload");
}

TEST(stream, xlog_copy_data_is_copy_data_of_xlog_data) {
  std::string direct;
  encode_xlog_copy_data(direct, lsn{0x16B14C8}, lsn{0x16B14C8}, 42, "B\x01x");
  std::string body;
  encode(body, xlog_data{lsn{0x16B14C8}, lsn{0x16B14C8}, 42, "B\x01x"});
  std::string framed;
  wire::encode(framed, wire::copy_data{body});
  EXPECT_EQ(direct, framed);
}

TEST(stream, status_update_and_feedback_round_trip) {
  std::string out;
  encode(out, status_update{lsn(3), lsn(2), lsn(1), 99, false});
  ASSERT_EQ(out.size(), 34u);
  auto r = std::get<status_update>(*decode_client(out));
  EXPECT_EQ(r.write, lsn(3));
  EXPECT_EQ(r.flush, lsn(2));
  EXPECT_EQ(r.apply, lsn(1));
  EXPECT_EQ(r.client_time, 99);
  out.clear();
  encode(out, hot_standby_feedback{5, 6, 7, 8, 9});
  auto h = std::get<hot_standby_feedback>(*decode_client(out));
  EXPECT_EQ(h.catalog_xmin, 8u);
}

TEST(stream, rejects_wrong_sizes_and_types) {
  std::string k;
  encode(k, keepalive{lsn(1), 2, false});
  EXPECT_FALSE(decode_server(k.substr(0, k.size() - 1)));
  EXPECT_FALSE(decode_server(k + "x"));
  EXPECT_FALSE(decode_server(std::string("w\0\0", 3)));
  EXPECT_FALSE(decode_server(""));
  auto unknown = decode_server("z");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.err().message, "unrecognized streaming header: \"z\"");
  std::string r;
  encode(r, status_update{});
  EXPECT_FALSE(decode_client(r.substr(0, 33)));
  EXPECT_FALSE(decode_client(r + "x"));
  EXPECT_EQ(decode_client("q").err().message, "unexpected message type \"q\"");
}

} // namespace
} // namespace walmux::stream
