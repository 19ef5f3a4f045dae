// log.cpp: formats and writes server log records (see log.hpp).
#include "common/log.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <unistd.h>

namespace walmux {
namespace {

std::atomic<int> min_level{static_cast<int>(elevel::warning)};
std::atomic<int> log_fd{2};

// "%m [%p] ": millisecond timestamp in UTC and the process id.
std::string line_prefix() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::time_t secs = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d UTC [%d] ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms),
                static_cast<int>(getpid()));
  return buf;
}

void write_all(std::string_view text) {
  int fd = log_fd.load();
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return; // Nowhere left to report a failing log; drop the record.
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
}

void append_line(std::string& out, const std::string& prefix,
                 std::string_view label, std::string_view text) {
  out += prefix;
  out += label;
  out += ":  ";
  out += text;
  out += '\n';
}

} // namespace

std::string_view elevel_label(elevel level) {
  switch (level) {
  case elevel::debug5:
  case elevel::debug4:
  case elevel::debug3:
  case elevel::debug2:
  case elevel::debug1:
    return "DEBUG";
  case elevel::info:
    return "INFO";
  case elevel::notice:
    return "NOTICE";
  case elevel::warning:
    return "WARNING";
  case elevel::error:
    return "ERROR";
  case elevel::log:
    return "LOG";
  case elevel::fatal:
    return "FATAL";
  case elevel::panic:
    return "PANIC";
  }
  return "LOG";
}

elevel elevel_from_name(std::string_view name, elevel fallback) {
  for (size_t i = 0; i < std::size(elevel_names); ++i)
    if (elevel_names[i] == name)
      return static_cast<elevel>(i);
  return fallback;
}

void log_set_min_level(elevel level) {
  min_level.store(static_cast<int>(level));
}

bool log_enabled(elevel level) {
  return static_cast<int>(level) >= min_level.load();
}

void log_set_fd(int fd) {
  log_fd.store(fd);
}

void log_message(elevel level, std::string_view message) {
  if (!log_enabled(level))
    return;
  std::string out;
  append_line(out, line_prefix(), elevel_label(level), message);
  write_all(out);
}

void log_error(elevel level, const error& e) {
  if (!log_enabled(level))
    return;
  auto prefix = line_prefix();
  std::string out;
  append_line(out, prefix, elevel_label(level), e.message);
  if (!e.detail.empty())
    append_line(out, prefix, "DETAIL", e.detail);
  if (!e.hint.empty())
    append_line(out, prefix, "HINT", e.hint);
  if (!e.context.empty())
    append_line(out, prefix, "CONTEXT", e.context);
  write_all(out);
}

} // namespace walmux
