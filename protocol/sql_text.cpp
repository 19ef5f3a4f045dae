// sql_text.cpp: see sql_text.hpp.
#include "protocol/sql_text.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace walmux::sqltext {

size_t statement_end(std::string_view sql) {
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote) {
      if (c == quote)
        quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == ';') {
      return i;
    }
  }
  return sql.size();
}

std::string next_word(std::string_view sql, size_t& at) {
  while (at < sql.size() && std::isspace(static_cast<unsigned char>(sql[at])))
    ++at;
  std::string w;
  while (at < sql.size() &&
         (std::isalnum(static_cast<unsigned char>(sql[at])) || sql[at] == '_' ||
          sql[at] == '.'))
    w += static_cast<char>(std::tolower(static_cast<unsigned char>(sql[at++])));
  return w;
}

bool is_identifier(std::string_view s) {
  if (s.empty() ||
      !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_'))
    return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
      return false;
  return true;
}

namespace {

// At a literal or quoted identifier (`i` on its opening quote): copies it
// whole to `out`, moves `i` past it (or to the end) and returns true.
bool copy_quoted(std::string_view sql, size_t& i, std::string& out) {
  if (sql[i] != '\'' && sql[i] != '"')
    return false;
  const size_t end = sql.find(sql[i], i + 1);
  const size_t stop = end == std::string_view::npos ? sql.size() : end + 1;
  out.append(sql.substr(i, stop - i));
  i = stop;
  return true;
}

// A character of an unquoted SQL word.
bool is_word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
}

// The end of the unquoted word that starts at `i`.
size_t word_end(std::string_view sql, size_t i) {
  while (i < sql.size() && is_word_char(sql[i]))
    ++i;
  return i;
}

// Whether, after `at` and any blanks, a "(" opens a call.
bool call_follows(std::string_view sql, size_t at) {
  while (at < sql.size() && std::isspace(static_cast<unsigned char>(sql[at])))
    ++at;
  return at < sql.size() && sql[at] == '(';
}

// The engine's operator for ~, ~*, !~ and !~*: SQLite calls regexp() for
// REGEXP and match() for MATCH, the case-insensitive one.
const char* match_operator(bool negated, bool case_insensitive) {
  if (case_insensitive)
    return negated ? " NOT MATCH " : " MATCH ";
  return negated ? " NOT REGEXP " : " REGEXP ";
}

} // namespace

std::string strip_casts(std::string_view sql) {
  std::string out;
  size_t i = 0;
  while (i < sql.size()) {
    if (copy_quoted(sql, i, out))
      continue;
    const char c = sql[i];
    if (c == ':' && i + 1 < sql.size() && sql[i + 1] == ':') {
      i += 2;
      while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i])))
        ++i;
      while (i < sql.size() &&
             (std::isalnum(static_cast<unsigned char>(sql[i])) ||
              sql[i] == '_' || sql[i] == '.' || sql[i] == '"'))
        ++i;
      if (i < sql.size() && sql[i] == '(') {
        const size_t end = sql.find(')', i);
        i = end == std::string_view::npos ? sql.size() : end + 1;
      }
      while (i + 1 < sql.size() && sql[i] == '[' && sql[i + 1] == ']')
        i += 2;
      continue;
    }
    out += c;
    ++i;
  }
  return out;
}

std::string call_niladic_functions(std::string_view sql) {
  static constexpr std::string_view names[] = {
      "current_user", "session_user",   "user",
      "current_role", "current_schema", "current_catalog"};
  std::string out;
  size_t i = 0;
  while (i < sql.size()) {
    if (copy_quoted(sql, i, out))
      continue;
    const char c = sql[i];
    if (!is_word_char(c)) {
      out += c;
      ++i;
      continue;
    }
    const size_t end = word_end(sql, i);
    const std::string_view word = sql.substr(i, end - i);
    out.append(word);
    const bool qualified = i > 0 && sql[i - 1] == '.';
    size_t next = end;
    while (next < sql.size() &&
           std::isspace(static_cast<unsigned char>(sql[next])))
      ++next;
    const bool called = call_follows(sql, end);
    if (!qualified && !called && !(next < sql.size() && sql[next] == '.'))
      for (std::string_view n : names)
        if (word.size() == n.size() &&
            std::equal(word.begin(), word.end(), n.begin(), [](char a, char b) {
              return std::tolower(static_cast<unsigned char>(a)) == b;
            })) {
          out += "()";
          break;
        }
    i = end;
  }
  return out;
}

std::string unqualify_catalog_calls(std::string_view sql) {
  static constexpr std::string_view prefix = "pg_catalog.";
  std::string out;
  size_t i = 0;
  while (i < sql.size()) {
    if (copy_quoted(sql, i, out))
      continue;
    const bool at_prefix =
        (i == 0 || (!is_word_char(sql[i - 1]) && sql[i - 1] != '.')) &&
        sql.size() - i > prefix.size() &&
        std::equal(prefix.begin(), prefix.end(), sql.begin() + i,
                   [](char a, char b) {
                     return a == std::tolower(static_cast<unsigned char>(b));
                   });
    if (at_prefix) {
      const size_t end = word_end(sql, i + prefix.size());
      if (end > i + prefix.size() && call_follows(sql, end)) {
        i += prefix.size(); // the name and the call follow as they are
        continue;
      }
    }
    out += sql[i++];
  }
  return out;
}

std::string plain_escape_strings(std::string_view sql) {
  auto is_octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  size_t i = 0;
  while (i < sql.size()) {
    const bool escape_string = (sql[i] == 'E' || sql[i] == 'e') &&
                               i + 1 < sql.size() && sql[i + 1] == '\'' &&
                               (i == 0 || !is_word_char(sql[i - 1]));
    if (!escape_string) {
      if (copy_quoted(sql, i, out))
        continue;
      out += sql[i++];
      continue;
    }
    i += 2;
    out += '\'';
    bool closed = false; // unterminated, it stays so for the engine to say
    while (i < sql.size() && !closed) {
      const char c = sql[i];
      if (c == '\'') {
        if (i + 1 < sql.size() && sql[i + 1] == '\'') { // '' inside
          out += "''";
          i += 2;
          continue;
        }
        ++i;
        closed = true;
        break;
      }
      if (c != '\\' || i + 1 >= sql.size()) {
        out += c;
        ++i;
        continue;
      }
      const char e = sql[i + 1];
      i += 2;
      char byte = e;
      switch (e) {
      case 'b':
        byte = '\b';
        break;
      case 'f':
        byte = '\f';
        break;
      case 'n':
        byte = '\n';
        break;
      case 'r':
        byte = '\r';
        break;
      case 't':
        byte = '\t';
        break;
      case 'u':
      case 'U':
        out += '\\';
        break;
      case 'x': {
        int value = 0, digits = 0;
        while (digits < 2 && i < sql.size() &&
               std::isxdigit(static_cast<unsigned char>(sql[i]))) {
          const char h = static_cast<char>(
              std::tolower(static_cast<unsigned char>(sql[i++])));
          value = value * 16 + (h <= '9' ? h - '0' : h - 'a' + 10);
          ++digits;
        }
        if (digits > 0)
          byte = static_cast<char>(value);
        break;
      }
      default:
        if (is_octal(e)) {
          int value = e - '0';
          for (int digits = 1; digits < 3 && i < sql.size() && is_octal(sql[i]);
               ++digits)
            value = value * 8 + (sql[i++] - '0');
          byte = static_cast<char>(value & 0xff);
        }
        break;
      }
      if (byte == '\'')
        out += "''";
      else
        out += byte;
    }
    if (closed)
      out += '\'';
  }
  return out;
}

std::string regex_operators(std::string_view sql) {
  auto at_word = [&](size_t i, std::string_view w) {
    if (sql.size() - i < w.size() || (i > 0 && is_word_char(sql[i - 1])))
      return false;
    for (size_t k = 0; k < w.size(); ++k)
      if (std::tolower(static_cast<unsigned char>(sql[i + k])) != w[k])
        return false;
    return i + w.size() == sql.size() || !is_word_char(sql[i + w.size()]);
  };
  // After `at` and blanks: `w` (case-insensitive); the position after it,
  // or npos.
  auto skip_to_after = [&](size_t at, std::string_view w) -> size_t {
    while (at < sql.size() && std::isspace(static_cast<unsigned char>(sql[at])))
      ++at;
    if (sql.size() - at < w.size())
      return std::string_view::npos;
    for (size_t k = 0; k < w.size(); ++k)
      if (std::tolower(static_cast<unsigned char>(sql[at + k])) != w[k])
        return std::string_view::npos;
    return at + w.size();
  };
  std::string out;
  size_t i = 0;
  while (i < sql.size()) {
    if (copy_quoted(sql, i, out))
      continue;
    if (at_word(i, "operator")) {
      size_t at = skip_to_after(i + 8, "(");
      if (at != std::string_view::npos) {
        if (size_t q = skip_to_after(at, "pg_catalog.");
            q != std::string_view::npos)
          at = q;
        const bool negated = skip_to_after(at, "!~") != std::string_view::npos;
        size_t end = skip_to_after(at, negated ? "!~" : "~");
        bool case_insensitive = false;
        if (end != std::string_view::npos && end < sql.size() &&
            sql[end] == '*') {
          case_insensitive = true;
          ++end;
        }
        if (end != std::string_view::npos)
          end = skip_to_after(end, ")");
        if (end != std::string_view::npos) {
          out += match_operator(negated, case_insensitive);
          i = end;
          continue;
        }
      }
    }
    if (at_word(i, "collate")) {
      size_t end = skip_to_after(i + 7, "pg_catalog.");
      if (end != std::string_view::npos && at_word(end, "default")) {
        i = end + 7;
        continue;
      }
    }
    const char c = sql[i];
    const bool negated = c == '!' && i + 1 < sql.size() && sql[i + 1] == '~';
    if (c == '~' || negated) {
      const size_t op_end = i + (negated ? 2 : 1);
      size_t before = out.size();
      while (before > 0 &&
             std::isspace(static_cast<unsigned char>(out[before - 1])))
        --before;
      bool binary = before > 0 &&
                    (is_word_char(out[before - 1]) || out[before - 1] == '\'' ||
                     out[before - 1] == '"' || out[before - 1] == ')');
      if (binary && is_word_char(out[before - 1])) {
        // After a keyword ("SELECT ~5", "AND ~x") the ~ is unary.
        size_t start = before;
        while (start > 0 && is_word_char(out[start - 1]))
          --start;
        std::string word = out.substr(start, before - start);
        for (auto& ch : word)
          ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        for (const char* k :
             {"select", "where",   "and",    "or",       "not",    "on",
              "when",   "then",    "else",   "by",       "having", "in",
              "is",     "like",    "case",   "distinct", "all",    "any",
              "some",   "between", "values", "set"})
          if (word == k)
            binary = false;
      }
      const bool case_insensitive = op_end < sql.size() && sql[op_end] == '*';
      if (binary) {
        out += match_operator(negated, case_insensitive);
        i = op_end + (case_insensitive ? 1 : 0);
        continue;
      }
    }
    out += sql[i++];
  }
  return out;
}

std::string for_engine(std::string_view sql) {
  return call_niladic_functions(unqualify_catalog_calls(
      regex_operators(strip_casts(plain_escape_strings(sql)))));
}

std::optional<std::string> aliased_expression(std::string_view sql,
                                              std::string_view alias) {
  auto lower_equal = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  };
  std::vector<size_t> starts{0}; // where the current list item begins, by depth
  size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {
      const size_t end = sql.find(c, i + 1);
      i = end == std::string_view::npos ? sql.size() : end + 1;
      continue;
    }
    if (c == '(') {
      starts.push_back(++i);
      continue;
    }
    if (c == ')') {
      if (starts.size() > 1)
        starts.pop_back();
      ++i;
      continue;
    }
    if (c == ',') {
      starts.back() = ++i;
      continue;
    }
    if (!is_word_char(c) || (i > 0 && is_word_char(sql[i - 1]))) {
      ++i;
      continue;
    }
    const size_t end = word_end(sql, i);
    const std::string_view word = sql.substr(i, end - i);
    if (lower_equal(word, "select") || lower_equal(word, "distinct")) {
      starts.back() = end;
    } else if (lower_equal(word, "as")) {
      size_t at = end;
      while (at < sql.size() &&
             std::isspace(static_cast<unsigned char>(sql[at])))
        ++at;
      bool named = false;
      size_t after = at;
      if (at < sql.size() && sql[at] == '"') {
        const size_t close = sql.find('"', at + 1);
        named = close != std::string_view::npos &&
                sql.substr(at + 1, close - at - 1) == alias;
        after = close == std::string_view::npos ? sql.size() : close + 1;
      } else {
        after = word_end(sql, after);
        named = lower_equal(sql.substr(at, after - at), alias);
      }
      if (named && starts.back() <= i) {
        std::string_view e = sql.substr(starts.back(), i - starts.back());
        while (!e.empty() &&
               std::isspace(static_cast<unsigned char>(e.front())))
          e.remove_prefix(1);
        while (!e.empty() && std::isspace(static_cast<unsigned char>(e.back())))
          e.remove_suffix(1);
        if (!e.empty())
          return std::string(e);
      }
    }
    i = end;
  }
  return std::nullopt;
}

bool looks_boolean(std::string_view expr) {
  // (a > b) is as boolean as a > b.
  while (expr.size() >= 2 && expr.front() == '(' && expr.back() == ')') {
    int depth = 0;
    size_t close = 0;
    for (size_t i = 0; i < expr.size() && !close; ++i) {
      depth += expr[i] == '(' ? 1 : expr[i] == ')' ? -1 : 0;
      if (depth == 0)
        close = i;
    }
    if (close != expr.size() - 1)
      break;
    expr = expr.substr(1, expr.size() - 2);
  }
  std::string flat = " ";
  int depth = 0;
  char quote = 0;
  for (char c : expr) {
    if (quote) {
      if (c == quote)
        quote = 0;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      flat += ' ';
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      --depth;
    } else if (depth == 0) {
      flat += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  flat += ' ';
  for (char& c : flat)
    if (std::isspace(static_cast<unsigned char>(c)))
      c = ' ';
  if (flat.find_first_of("<>=") != std::string::npos &&
      flat.find("->") == std::string::npos)
    return true;
  for (const char* word :
       {" is ", " not ", " and ", " or ", " in ", " like ", " between ",
        " exists ", " glob ", " regexp ", " match "})
    if (flat.find(word) != std::string::npos)
      return true;
  return false;
}

std::optional<size_t> relation_mention(std::string_view sql,
                                       std::string_view name) {
  if (name.empty())
    return std::nullopt;
  std::string skipped;  // copy_quoted's output, not needed
  std::string previous; // the last unquoted word, down-cased
  size_t i = 0;
  while (i < sql.size()) {
    const size_t start = i;
    if (copy_quoted(sql, i, skipped)) {
      skipped.clear(); // held one quoted token at a time, not the text
      // A quoted name compares as written (one with "" inside is not
      // found: copy_quoted ends it there).
      if (sql[start] == '"' && i - start >= 2 && sql[i - 1] == '"' &&
          (previous == "from" || previous == "join") &&
          sql.substr(start + 1, i - start - 2) == name)
        return start;
      previous.clear();
      continue;
    }
    if (!is_word_char(sql[i])) {
      if (!std::isspace(static_cast<unsigned char>(sql[i])))
        previous.clear();
      ++i;
      continue;
    }
    const size_t end = word_end(sql, i);
    const std::string_view word = sql.substr(i, end - i);
    const bool named =
        word.size() == name.size() &&
        std::equal(word.begin(), word.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        });
    if (named && (previous == "from" || previous == "join"))
      return i;
    previous.clear();
    for (char c : word)
      previous +=
          static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    i = end;
  }
  return std::nullopt;
}

} // namespace walmux::sqltext
