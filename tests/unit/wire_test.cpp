// wire_test.cpp: the frame reader (any chunking, bounds) and every protocol
// message: round trips, golden bytes, and rejection of malformed input.
#include "protocol/byte_io.hpp"
#include "protocol/frame.hpp"
#include "protocol/messages.hpp"

#include <gtest/gtest.h>

namespace walmux::wire {
namespace {

// Splits `bytes` into frames feeding one byte at a time.
std::vector<frame> frames_bytewise(frame_reader& reader,
                                   std::string_view bytes) {
  std::vector<frame> out;
  for (char c : bytes) {
    reader.feed(std::string_view(&c, 1));
    while (true) {
      auto f = reader.next();
      EXPECT_TRUE(f) << f.err().message;
      if (!f || !*f)
        break;
      out.push_back(std::move(**f));
    }
  }
  return out;
}

template <class T>
T backend_round_trip(const T& m) {
  std::string bytes;
  encode(bytes, m);
  frame_reader reader(frame_mode::typed);
  auto frames = frames_bytewise(reader, bytes);
  EXPECT_EQ(frames.size(), 1u);
  EXPECT_EQ(reader.buffered(), 0u);
  auto decoded = decode_backend(frames.at(0));
  EXPECT_TRUE(decoded) << decoded.err().message;
  EXPECT_TRUE(std::holds_alternative<T>(*decoded));
  return std::get<T>(*decoded);
}

template <class T>
T frontend_round_trip(const T& m) {
  std::string bytes;
  encode(bytes, m);
  frame_reader reader(frame_mode::typed);
  auto frames = frames_bytewise(reader, bytes);
  EXPECT_EQ(frames.size(), 1u);
  auto decoded = decode_frontend(frames.at(0));
  EXPECT_TRUE(decoded) << decoded.err().message;
  EXPECT_TRUE(std::holds_alternative<T>(*decoded));
  return std::get<T>(*decoded);
}

TEST(frame_reader, startup_packet_golden_bytes_and_decode) {
  startup_message m;
  m.parameters = {{"user", "postgres"},
                  {"database", "postgres"},
                  {"replication", "database"}};
  std::string bytes;
  encode(bytes, m);
  // Int32 length, Int32 196608, pairs, final NUL.
  EXPECT_EQ(bytes.substr(0, 8), std::string("\0\0\0\x3e\0\x03\0\0", 8));
  EXPECT_EQ(bytes.size(), 62u); // 8 + 14 + 18 + 21 + 1
  frame_reader reader(frame_mode::untyped);
  auto frames = frames_bytewise(reader, bytes);
  ASSERT_EQ(frames.size(), 1u);
  auto init = decode_initial(frames[0]);
  ASSERT_TRUE(init);
  auto& s = std::get<startup_message>(*init);
  EXPECT_EQ(s.parameters, m.parameters);
  ASSERT_NE(s.get("replication"), nullptr);
  EXPECT_EQ(*s.get("replication"), "database");
  EXPECT_EQ(s.get("options"), nullptr);
}

TEST(frame_reader, ssl_gssenc_and_cancel_requests) {
  std::string bytes;
  encode(bytes, ssl_request{});
  EXPECT_EQ(bytes, std::string("\0\0\0\x08\x04\xd2\x16\x2f", 8)); // 80877103
  encode(bytes, gssenc_request{});
  encode(bytes, cancel_request{4242, -7});
  frame_reader reader(frame_mode::untyped);
  auto frames = frames_bytewise(reader, bytes);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<ssl_request>(*decode_initial(frames[0])));
  EXPECT_TRUE(
      std::holds_alternative<gssenc_request>(*decode_initial(frames[1])));
  auto c = std::get<cancel_request>(*decode_initial(frames[2]));
  EXPECT_EQ(c.process_id, 4242);
  EXPECT_EQ(c.secret_key, -7);
}

TEST(frame_reader, single_byte_answer_then_typed) {
  frame_reader reader(frame_mode::single_byte);
  reader.feed(std::string("N") + std::string("Z\0\0\0\x05I", 6));
  auto answer = reader.next();
  ASSERT_TRUE(answer && *answer);
  EXPECT_EQ((*answer)->body, "N");
  reader.set_mode(frame_mode::typed);
  auto z = reader.next();
  ASSERT_TRUE(z && *z);
  EXPECT_EQ((*z)->type, 'Z');
  EXPECT_EQ(std::get<ready_for_query>(*decode_backend(**z)).status, 'I');
}

TEST(frame_reader, rejects_bad_lengths_before_buffering_bodies) {
  for (auto bytes : {std::string("Q\0\0\0\x03", 5),          // below 4
                     std::string("Q\xff\xff\xff\xff", 5),    // negative
                     std::string("Q\x7f\xff\xff\xff", 5)}) { // over the bound
    frame_reader reader(frame_mode::typed, 1 << 20);
    reader.feed(bytes);
    auto f = reader.next();
    ASSERT_FALSE(f);
    EXPECT_EQ(f.err().code, "08P01");
  }
  frame_reader startup(frame_mode::untyped);
  startup.feed(std::string("\0\0\x27\x20", 4)); // 10016 > 10000
  EXPECT_FALSE(startup.next());
  frame_reader tiny(frame_mode::untyped);
  tiny.feed(std::string("\0\0\0\x04", 4)); // no room for a code
  EXPECT_FALSE(tiny.next());
}

TEST(frame_reader, many_messages_in_one_chunk_and_partial_tail) {
  std::string bytes;
  encode(bytes, command_complete{"SELECT 1"});
  encode(bytes, ready_for_query{'I'});
  std::string third;
  encode(third, data_row{{std::string("x")}});
  bytes += third.substr(0, 3);
  frame_reader reader(frame_mode::typed);
  reader.feed(bytes);
  EXPECT_EQ((*reader.next())->type, 'C');
  EXPECT_EQ((*reader.next())->type, 'Z');
  EXPECT_FALSE(*reader.next());
  EXPECT_EQ(reader.buffered(), 3u);
  reader.feed(third.substr(3));
  EXPECT_EQ((*reader.next())->type, 'D');
}

TEST(messages, backend_round_trips) {
  authentication md5;
  md5.code = authentication::md5_password;
  md5.salt = std::string("\x01\x02\0\x04", 4);
  EXPECT_EQ(backend_round_trip(md5).salt, md5.salt);
  authentication sasl;
  sasl.code = authentication::sasl;
  sasl.mechanisms = {"SCRAM-SHA-256"};
  EXPECT_EQ(backend_round_trip(sasl).mechanisms, sasl.mechanisms);
  authentication cont;
  cont.code = authentication::sasl_continue;
  cont.data = "r=abc,s=c2FsdA==,i=4096";
  EXPECT_EQ(backend_round_trip(cont).data, cont.data);

  EXPECT_EQ(
      backend_round_trip(parameter_status{"server_version", "15.20"}).value,
      "15.20");
  EXPECT_EQ(backend_round_trip(backend_key_data{7, 9}).secret_key, 9);
  EXPECT_EQ(backend_round_trip(ready_for_query{'T'}).status, 'T');

  row_description rd;
  rd.fields = {{"slot_name", 0, 0, 25, -1, -1, 0},
               {"timeline", 0, 0, 23, 4, -1, 0}};
  auto rd2 = backend_round_trip(rd);
  ASSERT_EQ(rd2.fields.size(), 2u);
  EXPECT_EQ(rd2.fields[1].name, "timeline");
  EXPECT_EQ(rd2.fields[1].type_oid, 23);
  EXPECT_EQ(rd2.fields[1].type_size, 4);

  data_row row{{std::string("sub1"), std::nullopt, std::string(""),
                std::string("a\0b", 3)}};
  EXPECT_EQ(backend_round_trip(row).values, row.values);
  EXPECT_EQ(backend_round_trip(command_complete{"CREATE_REPLICATION_SLOT"}).tag,
            "CREATE_REPLICATION_SLOT");
  backend_round_trip(empty_query_response{});

  auto fields = notice_from_error(
      error{sqlstate::undefined_object, "replication slot \"x\" does not exist"}
          .with_hint("h"),
      "ERROR");
  fields.fields.emplace_back('R', "ReplicationSlotAcquire");
  auto er = backend_round_trip(error_response{fields});
  EXPECT_EQ(er.fields.get('C'), "42704");
  EXPECT_EQ(er.fields.get('V'), "ERROR");
  EXPECT_EQ(er.fields.get('H'), "h");
  EXPECT_EQ(er.fields.get('R'), "ReplicationSlotAcquire");
  EXPECT_EQ(er.fields.get('D'), "");
  EXPECT_EQ(er.fields.fields, fields.fields); // order kept
  auto back = error_from_notice(er.fields);
  EXPECT_EQ(back.message, "replication slot \"x\" does not exist");
  EXPECT_EQ(back.position, 0);
  // A position travels as field P, after the hint, before the context.
  error at{sqlstate::syntax_error, "syntax error at or near \"c\""};
  at.position = 29;
  at.context = "c";
  auto positioned = notice_from_error(at, "ERROR");
  EXPECT_EQ(positioned.get('P'), "29");
  EXPECT_EQ(positioned.fields[4].first, 'P');
  EXPECT_EQ(error_from_notice(positioned).position, 29);
  EXPECT_EQ(backend_round_trip(notice_response{fields}).fields.get('M'),
            fields.get('M'));

  auto both = backend_round_trip(copy_response{'W', 0, {}});
  EXPECT_EQ(both.kind, 'W');
  auto out = backend_round_trip(copy_response{'H', 0, {0, 0, 0}});
  EXPECT_EQ(out.column_formats.size(), 3u);
  backend_round_trip(parse_complete{});
  backend_round_trip(bind_complete{});
  backend_round_trip(close_complete{});
  backend_round_trip(no_data{});
  backend_round_trip(portal_suspended{});
  EXPECT_EQ(backend_round_trip(parameter_description{{23, 25}}).types.size(),
            2u);
  EXPECT_EQ(backend_round_trip(notification_response{1, "ch", "pl"}).payload,
            "pl");
  EXPECT_EQ(backend_round_trip(negotiate_protocol_version{0, {"_pq_.x"}})
                .unrecognized.size(),
            1u);
}

TEST(messages, copy_both_response_golden_bytes) {
  std::string bytes;
  encode(bytes, copy_response{'W', 0, {}});
  EXPECT_EQ(bytes, std::string("W\0\0\0\x07\0\0\0", 8));
  bytes.clear();
  encode(bytes, command_complete{"COPY 0"});
  EXPECT_EQ(bytes, std::string("C\0\0\0\x0b"
                               "COPY 0\0",
                               12));
}

TEST(messages, frontend_round_trips) {
  EXPECT_EQ(frontend_round_trip(query{"IDENTIFY_SYSTEM"}).sql,
            "IDENTIFY_SYSTEM");
  auto p = frontend_round_trip(parse{"s1", "SELECT $1", {23}});
  EXPECT_EQ(p.param_types, std::vector<int32_t>{23});
  bind b{"", "s1", {0}, {std::string("1"), std::nullopt}, {1}};
  auto b2 = frontend_round_trip(b);
  EXPECT_EQ(b2.params, b.params);
  EXPECT_EQ(b2.result_formats, b.result_formats);
  EXPECT_EQ(frontend_round_trip(describe{'P', "p"}).kind, 'P');
  EXPECT_EQ(frontend_round_trip(execute{"p", 10}).max_rows, 10);
  frontend_round_trip(sync{});
  frontend_round_trip(flush{});
  EXPECT_EQ(frontend_round_trip(close{'S', "s1"}).name, "s1");
  EXPECT_EQ(frontend_round_trip(copy_data{std::string("r\0\1", 3)}).data,
            std::string("r\0\1", 3));
  frontend_round_trip(copy_done{});
  EXPECT_EQ(frontend_round_trip(copy_fail{"boom"}).message, "boom");
  frontend_round_trip(terminate{});
}

TEST(messages, password_and_sasl_bodies) {
  auto pw =
      frontend_round_trip(password_packet{encode_password_body("secret")});
  EXPECT_EQ(*decode_password(pw), "secret");
  sasl_initial_response init{"SCRAM-SHA-256", std::string("n,,n=,r=abc")};
  auto sp =
      frontend_round_trip(password_packet{encode_sasl_initial_body(init)});
  auto d = decode_sasl_initial(sp);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->mechanism, "SCRAM-SHA-256");
  EXPECT_EQ(*d->data, "n,,n=,r=abc");
  auto none = decode_sasl_initial(
      password_packet{encode_sasl_initial_body({"X", std::nullopt})});
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->data.has_value());
  EXPECT_FALSE(decode_sasl_initial(password_packet{std::string("X\0\0\0\0\x09"
                                                               "ab",
                                                               8)}));
  EXPECT_FALSE(decode_password(password_packet{"no nul"}));
}

TEST(messages, malformed_input_is_an_error_not_a_crash) {
  auto bad_backend = [](char type, std::string body) {
    auto d = decode_backend(frame{type, std::move(body)});
    return !d.has_value();
  };
  EXPECT_TRUE(bad_backend('D', std::string("\x7f\xff", 2))); // huge count
  EXPECT_TRUE(bad_backend('D', std::string("\0\x01\0\0\0\x09x", 7)));
  EXPECT_TRUE(bad_backend('D', std::string("\0\x01\xff\xff\xff\xfe", 6)));
  EXPECT_TRUE(bad_backend('T', std::string("\0\x01name", 6)));
  EXPECT_TRUE(bad_backend('Z', "X"));
  EXPECT_TRUE(bad_backend('Z', "II"));
  EXPECT_TRUE(bad_backend('E', std::string("Mmsg", 4)));
  EXPECT_TRUE(bad_backend('W', std::string("\x02\0\0", 3)));
  EXPECT_TRUE(bad_backend('R', std::string("\0\0\0\x05\x01", 5)));
  EXPECT_TRUE(bad_backend('R', std::string("\0\0\0\x63", 4)));
  EXPECT_TRUE(bad_backend('?', ""));
  auto bad_frontend = [](char type, std::string body) {
    return !decode_frontend(frame{type, std::move(body)}).has_value();
  };
  EXPECT_TRUE(bad_frontend('Q', "no terminator"));
  EXPECT_TRUE(bad_frontend('Q', std::string("a\0b", 3)));
  EXPECT_TRUE(bad_frontend('B', std::string("\0\0\x7f\xff", 4)));
  EXPECT_TRUE(bad_frontend('D', std::string("Xname\0", 6)));
  EXPECT_TRUE(bad_frontend('S', "x"));
  EXPECT_TRUE(bad_frontend('z', ""));
  auto unsupported = decode_initial(frame{0, std::string("\0\x02\0\0", 4)});
  ASSERT_FALSE(unsupported);
  EXPECT_EQ(unsupported.err().message,
            "unsupported frontend protocol 2.0: server supports 3.0 to 3.0");
  EXPECT_FALSE(decode_initial(frame{0, std::string("\0\x03\0\0user\0", 9)}));
  EXPECT_FALSE(decode_initial(frame{0, std::string("\x04\xd2\x16\x2fx", 5)}));
}

} // namespace
} // namespace walmux::wire
