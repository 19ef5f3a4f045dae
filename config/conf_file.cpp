// conf_file.cpp: postgresql.conf-syntax lexer, parser and include expansion
// (see conf_file.hpp).
#include "config/conf_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <sstream>

namespace walmux::config {
namespace {

// PostgreSQL's CONF_FILE_MAX_DEPTH.
constexpr int max_include_depth = 10;
// A configuration file larger than this is refused rather than read whole.
constexpr std::streamoff max_file_bytes = 16 << 20;

bool is_letter(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         u >= 0x80;
}
bool is_letter_or_digit(char c) {
  return is_letter(c) || (c >= '0' && c <= '9');
}
// Characters of a bare value: identifiers, numbers with units, paths.
bool is_bare_value_char(char c) {
  return is_letter_or_digit(c) || c == '-' || c == '+' || c == '.' ||
         c == ':' || c == '/';
}
bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

error syntax_error_near(const std::string& file, int line,
                        std::string_view token) {
  std::string msg =
      "syntax error in file \"" + file + "\" line " + std::to_string(line);
  if (token.empty())
    msg += ", near end of line";
  else
    msg += ", near token \"" + std::string(token) + "\"";
  return error{sqlstate::syntax_error, msg};
}

// The token that starts at `s` for an error message: a quoted string, a bare
// run, or a single other character.
std::string_view token_at(std::string_view s) {
  if (s.empty())
    return s;
  size_t n = 1;
  if (s[0] == '\'') {
    while (n < s.size() && s[n] != '\'')
      ++n;
    n = std::min(n + 1, s.size());
  } else if (is_bare_value_char(s[0])) {
    while (n < s.size() && is_bare_value_char(s[n]))
      ++n;
  }
  return s.substr(0, n);
}

// Resolves PostgreSQL's quoted-string escapes: '' and \b \f \n \r \t \ooo;
// any other backslash pair stands for the character itself.
// REQUIRES: body excludes the surrounding quotes and is well formed.
std::string unescape(std::string_view body) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == '\'' && i + 1 < body.size() && body[i + 1] == '\'') {
      out += '\'';
      ++i;
    } else if (c == '\\' && i + 1 < body.size()) {
      char e = body[++i];
      switch (e) {
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      default:
        if (e >= '0' && e <= '7') {
          int v = e - '0';
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' &&
                          body[i + 1] <= '7';
               ++k)
            v = v * 8 + (body[++i] - '0');
          out += static_cast<char>(v & 0xff);
        } else {
          out += e;
        }
      }
    } else {
      out += c;
    }
  }
  return out;
}

// Parses one line (without its newline) into `out`, or returns an error.
status parse_line(std::string_view s, const std::string& file, int line,
                  std::vector<conf_item>& out) {
  size_t i = 0;
  auto skip_blanks = [&] {
    while (i < s.size() && is_blank(s[i]))
      ++i;
  };
  skip_blanks();
  if (i == s.size() || s[i] == '#')
    return ok();

  // Name: ID or ID.ID
  if (!is_letter(s[i]))
    return syntax_error_near(file, line, token_at(s.substr(i)));
  size_t name_start = i;
  while (i < s.size() && is_letter_or_digit(s[i]))
    ++i;
  if (i < s.size() && s[i] == '.' && i + 1 < s.size() && is_letter(s[i + 1])) {
    ++i;
    while (i < s.size() && is_letter_or_digit(s[i]))
      ++i;
  }
  std::string name(s.substr(name_start, i - name_start));
  for (auto& c : name)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');

  skip_blanks();
  if (i < s.size() && s[i] == '=') {
    ++i;
    skip_blanks();
  }
  if (i == s.size() || s[i] == '#')
    return syntax_error_near(file, line, {});

  std::string value;
  if (s[i] == '\'') {
    size_t j = i + 1;
    bool closed = false;
    while (j < s.size()) {
      if (s[j] == '\\' && j + 1 < s.size()) {
        j += 2;
      } else if (s[j] == '\'' && j + 1 < s.size() && s[j + 1] == '\'') {
        j += 2;
      } else if (s[j] == '\'') {
        closed = true;
        break;
      } else {
        ++j;
      }
    }
    if (!closed)
      return syntax_error_near(file, line, token_at(s.substr(i)));
    value = unescape(s.substr(i + 1, j - i - 1));
    i = j + 1;
  } else if (is_bare_value_char(s[i])) {
    size_t start = i;
    while (i < s.size() && is_bare_value_char(s[i]))
      ++i;
    value = std::string(s.substr(start, i - start));
  } else {
    return syntax_error_near(file, line, token_at(s.substr(i)));
  }

  skip_blanks();
  if (i < s.size() && s[i] != '#')
    return syntax_error_near(file, line, token_at(s.substr(i)));
  out.push_back(conf_item{std::move(name), std::move(value), file, line});
  return ok();
}

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string resolve(const std::string& including_file, const std::string& p) {
  if (!p.empty() && p[0] == '/')
    return p;
  return directory_of(including_file) + "/" + p;
}

error open_error(const std::string& path, const char* reason) {
  return error{sqlstate::config_file_error,
               "could not open configuration file \"" + path + "\": " + reason};
}

// Reads the whole file; `missing` is set instead of failing when it does not
// exist.
expected<std::string> read_text(const std::string& path, bool& missing) {
  missing = false;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    if (err == ENOENT) {
      missing = true;
      return std::string();
    }
    return open_error(path, std::strerror(err));
  }
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size > max_file_bytes)
    return open_error(path, "file is too large");
  in.seekg(0, std::ios::beg);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

status read_recursive(const std::string& path, bool must_exist, int depth,
                      std::vector<conf_item>& out);

status read_directory(const std::string& dir, int depth,
                      std::vector<conf_item>& out) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr)
    return error{sqlstate::config_file_error,
                 "could not open configuration directory \"" + dir +
                     "\": " + std::strerror(errno)};
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 5 && n[0] != '.' && n.compare(n.size() - 5, 5, ".conf") == 0)
      names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names)
    if (auto st = read_recursive(dir + "/" + n, true, depth + 1, out); !st)
      return st;
  return ok();
}

status read_recursive(const std::string& path, bool must_exist, int depth,
                      std::vector<conf_item>& out) {
  if (depth > max_include_depth)
    return open_error(path, "maximum nesting depth exceeded");
  bool missing = false;
  auto text = read_text(path, missing);
  if (!text)
    return std::move(text).err();
  if (missing) {
    if (must_exist)
      return open_error(path, "No such file or directory");
    return ok();
  }
  auto items = conf_parse_text(*text, path);
  if (!items)
    return std::move(items).err();
  for (auto& item : *items) {
    status st;
    if (item.name == "include")
      st = read_recursive(resolve(path, item.value), true, depth + 1, out);
    else if (item.name == "include_if_exists")
      st = read_recursive(resolve(path, item.value), false, depth + 1, out);
    else if (item.name == "include_dir")
      st = read_directory(resolve(path, item.value), depth, out);
    else
      out.push_back(std::move(item));
    if (!st)
      return st;
  }
  return ok();
}

} // namespace

expected<std::vector<conf_item>> conf_parse_text(std::string_view text,
                                                 const std::string& file) {
  std::vector<conf_item> items;
  int line = 1;
  while (true) {
    size_t nl = text.find('\n');
    std::string_view current = text.substr(0, nl);
    if (current.find('\0') != std::string_view::npos)
      return syntax_error_near(file, line, "\\0");
    if (auto st = parse_line(current, file, line, items); !st)
      return std::move(st).err();
    if (nl == std::string_view::npos)
      break;
    text.remove_prefix(nl + 1);
    ++line;
  }
  return items;
}

expected<std::vector<conf_item>> conf_read_file(const std::string& path) {
  std::vector<conf_item> items;
  if (auto st = read_recursive(path, true, 0, items); !st)
    return std::move(st).err();
  return items;
}

std::string conf_quote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'')
      out += "''";
    else if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  out += '\'';
  return out;
}

} // namespace walmux::config
