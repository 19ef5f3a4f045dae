// wal2json_internal.hpp: what the wal2json encoder's files share. Internal
// to protocol/; not part of its interface.
#pragma once

#include "common/expected.hpp"
#include "protocol/pgoutput.hpp"

#include <cstdint>
#include <string>

namespace walmux::wal2json::detail {

// Appends a column value as wal2json prints it: numbers bare (NaN and
// Infinity as null), booleans true/false, bytea hex without "\x", other
// types as JSON strings.
status write_value(std::string& out, uint32_t type_oid,
                   const pgoutput::column_value& v, bool numbers_as_string);

// A type name as wal2json prints it (format_type() output may already be
// quoted; `check_array` escapes a quoted name followed by "[]").
void write_type(std::string& out, const std::string& type, bool check_array);

error document_too_large();
error missing_meta(const pgoutput::relation& rel, size_t i);

} // namespace walmux::wal2json::detail
