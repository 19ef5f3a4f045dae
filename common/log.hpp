// log.hpp: walmux's server log, in PostgreSQL's log line style.
//
// Every line reads like PostgreSQL's with log_line_prefix = '%m [%p] ':
//
//   2026-11-26 08:30:00.123 UTC [4242] LOG:  starting walmux 0.1.0
//   2026-11-26 08:30:00.124 UTC [4242] DETAIL:  ...
//
// Levels and their order are PostgreSQL's log_min_messages order, in which
// LOG ranks between ERROR and FATAL. Lines go to stderr by default; each
// record (message plus its DETAIL/HINT/CONTEXT lines) is written with one
// write(2), so records from different threads never interleave.
//
// Thread safety: all functions may be called from any thread.
#pragma once

#include "common/error.hpp"

#include <string>
#include <string_view>

namespace walmux {

// Persisted in walmux.conf by name only; the numeric order is the
// log_min_messages order and may be extended, not renumbered.
enum class elevel : int {
  debug5,
  debug4,
  debug3,
  debug2,
  debug1,
  info,
  notice,
  warning,
  error,
  log,
  fatal,
  panic,
};

// The levels' names as log_min_messages spells them, indexed by elevel.
inline constexpr std::string_view elevel_names[] = {
    "debug5", "debug4",  "debug3", "debug2", "debug1", "info",
    "notice", "warning", "error",  "log",    "fatal",  "panic",
};

// The level named `name` (one of elevel_names), or `fallback`.
elevel elevel_from_name(std::string_view name, elevel fallback);

// "LOG", "WARNING", "DEBUG" (all debug levels print as DEBUG), ...
std::string_view elevel_label(elevel level);

// Messages below `level` are dropped. Default: warning (PostgreSQL's).
void log_set_min_level(elevel level);
bool log_enabled(elevel level);

// Redirects the log to a file descriptor (default 2). REQUIRES: fd stays open.
void log_set_fd(int fd);

void log_message(elevel level, std::string_view message);
// Logs an error value with its DETAIL, HINT and CONTEXT lines.
void log_error(elevel level, const error& e);

} // namespace walmux
