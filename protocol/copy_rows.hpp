// copy_rows.hpp: rows of a logical replication tuple in the data formats of
// COPY ... FROM STDIN, text or binary, for the apply role's runs of inserts.
//
// Text: values tab-separated, NULL as \N, escaped as COPY reads them, a
// newline per row. Binary (values the publisher sent with binary = true):
// a header (signature, flags, header extension length), per row a field
// count and per field its length (-1 for NULL) and the bytes of its type's
// send function, and a trailer (field count -1).
//
// Pure: no I/O.
#pragma once

#include "protocol/pgoutput.hpp"

#include <string>
#include <string_view>

namespace walmux::copyrows {

// How a row can go into a COPY: text when no value is binary, binary when
// every non-NULL value is; none when they are mixed (a type without a send
// function among binary ones): such a row goes alone, as an INSERT.
enum class copy_format { text, binary, none };
copy_format format_of(const pgoutput::tuple& row);

void append_text_row(std::string& out, const pgoutput::tuple& row);

inline constexpr std::string_view binary_header("PGCOPY\n\377\r\n\0"
                                                "\0\0\0\0"
                                                "\0\0\0\0",
                                                19);
inline constexpr std::string_view binary_trailer("\xff\xff", 2);
// REQUIRES: no 'u' (unchanged TOAST) value, as in any INSERT.
void append_binary_row(std::string& out, const pgoutput::tuple& row);

} // namespace walmux::copyrows
