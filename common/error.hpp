// error.hpp: the error value that crosses walmux's layer boundaries.
//
// protocol/, storage/ and config/ never throw: they return expected<T> (see
// expected.hpp) carrying an `error`. An error is shaped like PostgreSQL's
// ErrorResponse so that it can be logged in PostgreSQL's style or sent to a
// client unchanged: a SQLSTATE, a primary message, and optional detail, hint
// and context lines. Messages follow PostgreSQL's wording where PostgreSQL has
// a message for the same condition.
#pragma once

#include <string>
#include <utility>

namespace walmux {

// SQLSTATE codes used by walmux (PostgreSQL's errcodes.txt names). Only codes
// a caller or a client branches on are listed.
namespace sqlstate {
inline constexpr const char* syntax_error = "42601";
inline constexpr const char* protocol_violation = "08P01";
inline constexpr const char* feature_not_supported = "0A000";
inline constexpr const char* invalid_password = "28P01";
inline constexpr const char* invalid_authorization = "28000";
inline constexpr const char* program_limit_exceeded = "54000";
inline constexpr const char* undefined_object = "42704";
inline constexpr const char* duplicate_object = "42710";
inline constexpr const char* invalid_parameter_value = "22023";
inline constexpr const char* invalid_name = "42602";
inline constexpr const char* invalid_text_representation = "22P02";
inline constexpr const char* numeric_value_out_of_range = "22003";
inline constexpr const char* cant_change_runtime_param = "55P02";
inline constexpr const char* object_in_use = "55006";
inline constexpr const char* object_not_in_prerequisite_state = "55000";
inline constexpr const char* config_file_error = "F0000";
inline constexpr const char* lock_file_exists = "F0001";
inline constexpr const char* io_error = "58030";
inline constexpr const char* data_corrupted = "XX001";
inline constexpr const char* internal_error = "XX000";
} // namespace sqlstate

struct error {
  std::string code = sqlstate::internal_error; // five-character SQLSTATE
  std::string message;                         // primary message, no period
  std::string detail;                          // full sentences, or empty
  std::string hint;                            // full sentences, or empty
  std::string context;                         // where it happened, or empty
  // Where in the statement text the error lies, in characters from 1
  // (ErrorResponse field P, under which psql draws its "LINE 1:" cursor);
  // 0 when it lies nowhere in particular.
  int position = 0;

  error() = default;
  error(std::string code_in, std::string message_in)
      : code(std::move(code_in))
      , message(std::move(message_in)) {}

  error&& with_detail(std::string text) && {
    detail = std::move(text);
    return std::move(*this);
  }
  error&& with_hint(std::string text) && {
    hint = std::move(text);
    return std::move(*this);
  }
  error&& with_context(std::string text) && {
    context = std::move(text);
    return std::move(*this);
  }
};

// Renders an error the way psql prints one, one field per line:
// "message\nDETAIL:  ...\nHINT:  ...\nCONTEXT:  ...".
std::string to_string(const error& e);

} // namespace walmux
