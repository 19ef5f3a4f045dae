// pg_bool.hpp: PostgreSQL's parse_bool(), shared by the parameter table and
// by plugin options.
#pragma once

#include <string_view>

namespace walmux {

// Accepts what PostgreSQL's parse_bool accepts, case-insensitively: unique
// prefixes of "true", "false", "yes", "no"; "on", "off" (at least "of");
// "1", "0". Returns false for anything else.
bool parse_pg_bool(std::string_view text, bool& out);

} // namespace walmux
