// messages.hpp: PostgreSQL frontend/backend protocol 3.0 messages, as values,
// with an encoder and a decoder for each (both directions: walmux is a server
// to its clients and a client of its upstream and targets).
//
// Encoders append one complete message (type, length, body) to a string.
// Decoders take a frame (frame.hpp) and validate everything: counts against
// the bytes present, NULs, enumerated bytes, trailing garbage. Anything
// malformed is an 08P01 error value with PostgreSQL's wording where it has
// one ("invalid message format").
//
// Pure: no I/O.
#pragma once

#include "common/error.hpp"
#include "common/expected.hpp"
#include "protocol/frame.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace walmux::wire {

inline constexpr int32_t protocol_3_0 = 196608; // 3 << 16
inline constexpr int32_t ssl_request_code = 80877103;
inline constexpr int32_t gssenc_request_code = 80877104;
inline constexpr int32_t cancel_request_code = 80877102;

// ---- Untyped client messages (frame_mode::untyped) -----------------------

struct startup_message {
  int32_t protocol_version = protocol_3_0;
  std::vector<std::pair<std::string, std::string>> parameters;
  // The value of parameter `name`, or null.
  const std::string* get(std::string_view name) const;
};
struct ssl_request {};
struct gssenc_request {};
struct cancel_request {
  int32_t process_id = 0;
  int32_t secret_key = 0;
};
using initial_message =
    std::variant<startup_message, ssl_request, gssenc_request, cancel_request>;

expected<initial_message> decode_initial(const frame& f);
void encode(std::string& out, const startup_message& m);
void encode(std::string& out, const ssl_request& m);
void encode(std::string& out, const gssenc_request& m);
void encode(std::string& out, const cancel_request& m);

// ---- Typed client messages -----------------------------------------------

struct query {
  std::string sql;
};
// 'p': its body means a password, a SASLInitialResponse or a SASLResponse
// depending on the authentication exchange; the session decodes it with
// decode_password / decode_sasl_initial / decode_sasl_response.
struct password_packet {
  std::string body;
};
struct parse {
  std::string statement;
  std::string sql;
  std::vector<int32_t> param_types;
};
struct bind {
  std::string portal;
  std::string statement;
  std::vector<int16_t> param_formats;
  std::vector<std::optional<std::string>> params;
  std::vector<int16_t> result_formats;
};
struct describe {
  char kind = 'S'; // 'S' statement or 'P' portal
  std::string name;
};
struct execute {
  std::string portal;
  int32_t max_rows = 0;
};
struct sync {};
struct flush {};
struct close {
  char kind = 'S';
  std::string name;
};
struct copy_data {
  std::string data;
};
struct copy_done {};
struct copy_fail {
  std::string message;
};
struct terminate {};

using frontend_message =
    std::variant<query, password_packet, parse, bind, describe, execute, sync,
                 flush, close, copy_data, copy_done, copy_fail, terminate>;

expected<frontend_message> decode_frontend(const frame& f);
void encode(std::string& out, const query& m);
void encode(std::string& out, const password_packet& m);
void encode(std::string& out, const parse& m);
void encode(std::string& out, const bind& m);
void encode(std::string& out, const describe& m);
void encode(std::string& out, const execute& m);
void encode(std::string& out, const sync& m);
void encode(std::string& out, const flush& m);
void encode(std::string& out, const close& m);
void encode(std::string& out, const copy_data& m);
// CopyData framed straight from a view (a relayed COPY row, no copy_data).
void encode_copy_data(std::string& out, std::string_view payload);
void encode(std::string& out, const copy_done& m);
void encode(std::string& out, const copy_fail& m);
void encode(std::string& out, const terminate& m);

struct sasl_initial_response {
  std::string mechanism;
  std::optional<std::string> data; // absent when the length is -1
};
expected<std::string> decode_password(const password_packet& p);
expected<sasl_initial_response> decode_sasl_initial(const password_packet& p);
std::string encode_password_body(std::string_view password);
std::string encode_sasl_initial_body(const sasl_initial_response& r);

// ---- Server messages -------------------------------------------------------

struct authentication {
  enum code_t : int32_t {
    ok = 0,
    cleartext_password = 3,
    md5_password = 5,
    sasl = 10,
    sasl_continue = 11,
    sasl_final = 12,
  };
  int32_t code = ok;
  std::string salt;                    // md5: 4 bytes
  std::vector<std::string> mechanisms; // sasl
  std::string data;                    // sasl_continue, sasl_final
};
struct parameter_status {
  std::string name;
  std::string value;
};
struct backend_key_data {
  int32_t process_id = 0;
  int32_t secret_key = 0;
};
struct ready_for_query {
  char status = 'I'; // 'I' idle, 'T' in transaction, 'E' failed transaction
};
struct field_description {
  std::string name;
  int32_t table_oid = 0;
  int16_t column = 0;
  int32_t type_oid = 25; // text
  int16_t type_size = -1;
  int32_t type_modifier = -1;
  int16_t format = 0; // 0 text, 1 binary
};
struct row_description {
  std::vector<field_description> fields;
};
struct data_row {
  std::vector<std::optional<std::string>> values; // nullopt = SQL NULL
};
struct command_complete {
  std::string tag;
};
struct empty_query_response {};
// ErrorResponse ('E') and NoticeResponse ('N'): the fields in wire order
// (S severity, V severity not localized, C SQLSTATE, M message, D detail,
// H hint, P position, W context, ...), so re-encoding keeps the bytes.
struct notice_fields {
  std::vector<std::pair<char, std::string>> fields;
  // The value of the first field with `code`, or "".
  std::string_view get(char code) const;
};
struct error_response {
  notice_fields fields;
};
struct notice_response {
  notice_fields fields;
};
struct copy_response {
  char kind = 'W'; // 'G' CopyIn, 'H' CopyOut, 'W' CopyBoth
  int8_t format = 0;
  std::vector<int16_t> column_formats;
};
struct parse_complete {};
struct bind_complete {};
struct close_complete {};
struct no_data {};
struct parameter_description {
  std::vector<int32_t> types;
};
struct portal_suspended {};
struct notification_response {
  int32_t process_id = 0;
  std::string channel;
  std::string payload;
};
struct negotiate_protocol_version {
  int32_t newest_minor = 0;
  std::vector<std::string> unrecognized;
};

using backend_message =
    std::variant<authentication, parameter_status, backend_key_data,
                 ready_for_query, row_description, data_row, command_complete,
                 empty_query_response, error_response, notice_response,
                 copy_response, copy_data, copy_done, parse_complete,
                 bind_complete, close_complete, no_data, parameter_description,
                 portal_suspended, notification_response,
                 negotiate_protocol_version>;

expected<backend_message> decode_backend(const frame& f);
void encode(std::string& out, const authentication& m);
void encode(std::string& out, const parameter_status& m);
void encode(std::string& out, const backend_key_data& m);
void encode(std::string& out, const ready_for_query& m);
void encode(std::string& out, const row_description& m);
void encode(std::string& out, const data_row& m);
void encode(std::string& out, const command_complete& m);
void encode(std::string& out, const empty_query_response& m);
void encode(std::string& out, const error_response& m);
void encode(std::string& out, const notice_response& m);
void encode(std::string& out, const copy_response& m);
void encode(std::string& out, const parse_complete& m);
void encode(std::string& out, const bind_complete& m);
void encode(std::string& out, const close_complete& m);
void encode(std::string& out, const no_data& m);
void encode(std::string& out, const parameter_description& m);
void encode(std::string& out, const portal_suspended& m);
void encode(std::string& out, const notification_response& m);
void encode(std::string& out, const negotiate_protocol_version& m);

// An ErrorResponse/NoticeResponse body from a walmux::error: severity
// ("ERROR", "FATAL", "WARNING", ...) in both S and V, then C, M, D, H, W.
notice_fields notice_from_error(const error& e, std::string_view severity);
// The reverse, for errors received from a server.
error error_from_notice(const notice_fields& f);

// One message as its own byte string (for a send of that message alone).
template <class Message>
std::string encoded(const Message& m) {
  std::string out;
  encode(out, m);
  return out;
}

} // namespace walmux::wire
