// proxy_sql.cpp: the upstream proxy's statement allowlist (proxy_sql.hpp).
//
// A statement is cut into SQL tokens; unquoted identifiers and keywords are
// down-cased, string literals become "$s" and numbers "$n", so that a
// subscriber's query compares with the templates below whatever its spacing,
// names and OIDs. A list of string literals ('a', 'b') counts as one "$s",
// and PostgreSQL 16's repeated "AND NOT (N.nspname = .. AND C.relname = ..)"
// lines count as one.
#include "protocol/proxy_sql.hpp"

#include <array>
#include <cctype>
#include <optional>
#include <vector>

namespace walmux::proxy {
namespace {

enum class token_kind { word, quoted, string, number, symbol };

struct token {
  token_kind kind;
  std::string text; // word: down-cased; quoted: as written; string: value
};

bool is_word_start(unsigned char c) {
  return std::isalpha(c) || c == '_' || c >= 0x80;
}
bool is_word_char(unsigned char c) {
  return is_word_start(c) || std::isdigit(c) || c == '$';
}
bool is_operator_char(char c) {
  return std::string_view("+-*/<>=~!@#%^&|`?:$").find(c) !=
         std::string_view::npos;
}

// Reads the literal or quoted identifier that starts at sql[i] (its quote
// character doubled inside stands for itself) and moves `i` past it;
// nothing when it is unterminated.
std::optional<std::string> read_quoted(std::string_view sql, size_t& i) {
  const char quote = sql[i++];
  std::string value;
  while (i < sql.size()) {
    if (sql[i] == quote) {
      if (i + 1 < sql.size() && sql[i + 1] == quote) {
        value += quote;
        i += 2;
        continue;
      }
      ++i;
      return value;
    }
    value += sql[i++];
  }
  return std::nullopt;
}

// Tokens of `sql`, or nothing when it cannot be tokenized (an unterminated
// literal): such text is refused anyway.
std::optional<std::vector<token>> tokenize(std::string_view sql) {
  std::vector<token> out;
  size_t i = 0;
  const size_t n = sql.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(sql[i]);
    if (std::isspace(c)) {
      ++i;
    } else if (c == '\'' || c == '"') {
      auto value = read_quoted(sql, i);
      if (!value)
        return std::nullopt;
      out.push_back({c == '"' ? token_kind::quoted : token_kind::string,
                     std::move(*value)});
    } else if (std::isdigit(c)) {
      size_t start = i;
      while (i < n && (std::isdigit(static_cast<unsigned char>(sql[i])) ||
                       sql[i] == '.'))
        ++i;
      out.push_back(
          {token_kind::number, std::string(sql.substr(start, i - start))});
    } else if (is_word_start(c)) {
      std::string word;
      while (i < n && is_word_char(static_cast<unsigned char>(sql[i])))
        word += static_cast<char>(
            std::tolower(static_cast<unsigned char>(sql[i++])));
      out.push_back({token_kind::word, std::move(word)});
    } else if (is_operator_char(sql[i])) {
      size_t start = i;
      while (i < n && is_operator_char(sql[i]))
        ++i;
      out.push_back(
          {token_kind::symbol, std::string(sql.substr(start, i - start))});
    } else {
      out.push_back({token_kind::symbol, std::string(1, sql[i++])});
    }
  }
  if (!out.empty() && out.back().kind == token_kind::symbol &&
      out.back().text == ";")
    out.pop_back();
  return out;
}

// The comparable form of a token sequence (see the file comment).
std::string normalize(const std::vector<token>& tokens) {
  std::vector<std::string> parts;
  for (const auto& t : tokens) {
    std::string part;
    switch (t.kind) {
    case token_kind::word:
    case token_kind::symbol:
      part = t.text;
      break;
    case token_kind::quoted:
      part = "\"" + t.text + "\"";
      break;
    case token_kind::string:
      part = "$s";
      break;
    case token_kind::number:
      part = "$n";
      break;
    }
    if (part == "$s" && parts.size() >= 2 && parts.back() == "," &&
        parts[parts.size() - 2] == "$s") {
      parts.pop_back();
      continue;
    }
    parts.push_back(std::move(part));
  }
  std::string out;
  for (const auto& p : parts)
    out += (out.empty() ? "" : " ") + p;
  static const std::string excluded =
      "and not ( n . nspname = $s and c . relname = $s )";
  const std::string twice = excluded + " " + excluded;
  for (size_t at; (at = out.find(twice)) != std::string::npos;)
    out.erase(at, excluded.size() + 1);
  return out;
}

std::string normalize_text(std::string_view sql) {
  auto tokens = tokenize(sql);
  return tokens ? normalize(*tokens) : std::string();
}

// What PostgreSQL 14 to 17 subscribers ask a publisher (their
// subscriptioncmds.c and tablesync.c), with sample literals.
constexpr std::array<std::string_view, 11> catalog_query_texts = {
    // CREATE/ALTER SUBSCRIPTION: publications exist (15+).
    "SELECT t.pubname FROM pg_catalog.pg_publication t WHERE t.pubname IN "
    "('p')",
    // CREATE/ALTER SUBSCRIPTION with origin = none (16+).
    "SELECT DISTINCT P.pubname AS pubname FROM pg_publication P, LATERAL "
    "pg_get_publication_tables(P.pubname) GPT JOIN pg_subscription_rel PS ON "
    "(GPT.relid = PS.srrelid), pg_class C JOIN pg_namespace N ON (N.oid = "
    "C.relnamespace) WHERE C.oid = GPT.relid AND P.pubname IN ('p')",
    "SELECT DISTINCT P.pubname AS pubname FROM pg_publication P, LATERAL "
    "pg_get_publication_tables(P.pubname) GPT JOIN pg_subscription_rel PS ON "
    "(GPT.relid = PS.srrelid), pg_class C JOIN pg_namespace N ON (N.oid = "
    "C.relnamespace) WHERE C.oid = GPT.relid AND P.pubname IN ('p') AND NOT "
    "(N.nspname = 's' AND C.relname = 't')",
    // The table list: server < 15, server 15, client and server 16+.
    "SELECT DISTINCT t.schemaname, t.tablename FROM "
    "pg_catalog.pg_publication_tables t WHERE t.pubname IN ('p')",
    "SELECT DISTINCT t.schemaname, t.tablename , t.attnames FROM "
    "pg_catalog.pg_publication_tables t WHERE t.pubname IN ('p')",
    "SELECT DISTINCT n.nspname, c.relname, gpt.attrs FROM pg_class c JOIN "
    "pg_namespace n ON n.oid = c.relnamespace JOIN ( SELECT "
    "(pg_get_publication_tables(VARIADIC array_agg(pubname::text))).* FROM "
    "pg_publication WHERE pubname IN ( 'p' )) AS gpt ON gpt.relid = c.oid",
    // Tablesync: the table, its column list, columns, row filter.
    "SELECT c.oid, c.relreplident, c.relkind FROM pg_catalog.pg_class c "
    "INNER JOIN pg_catalog.pg_namespace n ON (c.relnamespace = n.oid) WHERE "
    "n.nspname = 's' AND c.relname = 't'",
    "SELECT DISTINCT (CASE WHEN (array_length(gpt.attrs, 1) = c.relnatts) "
    "THEN NULL ELSE gpt.attrs END) FROM pg_publication p, LATERAL "
    "pg_get_publication_tables(p.pubname) gpt, pg_class c WHERE gpt.relid = "
    "1 AND c.oid = gpt.relid AND p.pubname IN ( 'p' )",
    "SELECT a.attnum, a.attname, a.atttypid, a.attnum = ANY(i.indkey) FROM "
    "pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_index i ON "
    "(i.indexrelid = pg_get_replica_identity_index(1)) WHERE a.attnum > "
    "0::pg_catalog.int2 AND NOT a.attisdropped AND a.attgenerated = '' AND "
    "a.attrelid = 1 ORDER BY a.attnum",
    "SELECT a.attname, a.atttypid, a.attnum = ANY(i.indkey) FROM "
    "pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_index i ON "
    "(i.indexrelid = pg_get_replica_identity_index(1)) WHERE a.attnum > "
    "0::pg_catalog.int2 AND NOT a.attisdropped AND a.attgenerated = '' AND "
    "a.attrelid = 1 ORDER BY a.attnum",
    "SELECT DISTINCT pg_get_expr(gpt.qual, gpt.relid) FROM pg_publication p, "
    "LATERAL pg_get_publication_tables(p.pubname) gpt WHERE gpt.relid = 1 AND "
    "p.pubname IN ( 'p' )",
};

bool is_catalog_query(const std::string& normalized) {
  static const std::vector<std::string> templates = [] {
    std::vector<std::string> out;
    for (auto text : catalog_query_texts)
      out.push_back(normalize_text(text));
    return out;
  }();
  for (const auto& t : templates)
    if (normalized == t)
      return true;
  return false;
}

bool is_transaction_control(const std::string& normalized) {
  static constexpr std::string_view allowed[] = {
      "begin",
      "begin read only",
      "begin isolation level repeatable read",
      "begin read only isolation level repeatable read",
      "begin isolation level repeatable read read only",
      "begin transaction read only isolation level repeatable read",
      "start transaction read only isolation level repeatable read",
      "commit",
      "end",
      "rollback",
      "abort",
  };
  for (auto a : allowed)
    if (normalized == a)
      return true;
  return false;
}

error refused() {
  return error{"42501",
               "walmux does not forward this statement to the upstream"}
      .with_detail("A replication connection to walmux may run the catalog "
                   "queries of PostgreSQL subscribers, read-only "
                   "transactions and COPY ... TO STDOUT of a published "
                   "table; nothing else reaches the upstream.");
}

// The exact form of tokens[begin, end): every token with its text, literals
// included, one space apart (comparable whatever the spacing and case of
// the keywords).
std::string exact_form(const std::vector<token>& tokens, size_t begin,
                       size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    const token& t = tokens[i];
    std::string part = t.text;
    if (t.kind == token_kind::quoted) {
      part = "\"" + t.text + "\"";
    } else if (t.kind == token_kind::string) {
      part = "'";
      for (char c : t.text)
        part += c == '\'' ? std::string("''") : std::string(1, c);
      part += "'";
    }
    out += (out.empty() ? "" : " ") + part;
  }
  return out;
}

// A cursor over tokens for the COPY grammar.
class parser {
 public:
  explicit parser(const std::vector<token>& t)
      : t_(t) {}
  bool done() const { return i_ == t_.size(); }
  bool word(std::string_view w) {
    if (i_ < t_.size() && t_[i_].kind == token_kind::word && t_[i_].text == w) {
      ++i_;
      return true;
    }
    return false;
  }
  bool symbol(std::string_view s) {
    if (i_ < t_.size() && t_[i_].kind == token_kind::symbol &&
        t_[i_].text == s) {
      ++i_;
      return true;
    }
    return false;
  }
  std::optional<std::string> identifier() {
    if (i_ < t_.size() &&
        (t_[i_].kind == token_kind::word || t_[i_].kind == token_kind::quoted))
      return t_[i_++].text;
    return std::nullopt;
  }
  size_t position() const { return i_; }
  // Past the tokens of a WHERE clause: to the ")" that closes the
  // sub-SELECT (not consumed); false if there is none.
  bool skip_expression() {
    int depth = 0;
    for (; i_ < t_.size(); ++i_) {
      if (t_[i_].kind != token_kind::symbol)
        continue;
      if (t_[i_].text == "(")
        ++depth;
      else if (t_[i_].text == ")" && depth-- == 0)
        return true;
    }
    return false;
  }
  bool identifier_list() {
    do {
      if (!identifier())
        return false;
    } while (symbol(","));
    return true;
  }

 private:
  const std::vector<token>& t_;
  size_t i_ = 0;
};

// COPY schema.table [(cols)] TO STDOUT [WITH (FORMAT binary|text)], or
// COPY (SELECT cols FROM [ONLY] schema.table) TO STDOUT [WITH (...)].
expected<statement> classify_copy(const std::vector<token>& tokens) {
  parser p(tokens);
  p.word("copy");
  statement s;
  s.kind = statement_kind::copy_out;
  auto qualified = [&]() -> status {
    auto first = p.identifier();
    if (!first)
      return refused();
    if (!p.symbol("."))
      return error{"42501", "walmux copies only schema-qualified tables"}
          .with_hint("Name the table as schema.table.");
    auto second = p.identifier();
    if (!second)
      return refused();
    s.schema = *first;
    s.table = *second;
    return ok();
  };
  if (p.symbol("(")) {
    if (!p.word("select") || !p.identifier_list() || !p.word("from"))
      return refused();
    p.word("only");
    if (auto st = qualified(); !st)
      return std::move(st).err();
    if (p.word("where")) {
      const size_t begin = p.position();
      if (!p.skip_expression() || p.position() == begin)
        return refused();
      s.where = exact_form(tokens, begin, p.position());
    }
    if (!p.symbol(")"))
      return refused();
  } else {
    if (auto st = qualified(); !st)
      return std::move(st).err();
    if (p.symbol("(") && (!p.identifier_list() || !p.symbol(")")))
      return refused();
  }
  if (!p.word("to") || !p.word("stdout"))
    return refused();
  if (p.word("with")) {
    if (!p.symbol("(") || !p.word("format") ||
        !(p.word("binary") || p.word("text")) || !p.symbol(")"))
      return refused();
  }
  if (!p.done())
    return refused();
  return s;
}

} // namespace

std::string expression_form(std::string_view sql) {
  auto tokens = tokenize(sql);
  return tokens ? exact_form(*tokens, 0, tokens->size()) : std::string();
}

namespace {

// Whether `where`, from `at`, is filters joined with "or", each at most
// once (`used`); backtracks, since one filter's text may begin another's.
bool disjunction_from(std::string_view where,
                      const std::vector<std::string>& filters,
                      std::vector<bool>& used) {
  for (size_t i = 0; i < filters.size(); ++i) {
    const std::string& f = filters[i];
    if (used[i] || f.empty() || where.substr(0, f.size()) != f)
      continue;
    std::string_view rest = where.substr(f.size());
    used[i] = true;
    if (rest.empty())
      return true;
    if (rest.substr(0, 4) == " or " &&
        disjunction_from(rest.substr(4), filters, used))
      return true;
    used[i] = false;
  }
  return false;
}

} // namespace

bool is_disjunction_of(const std::string& where,
                       const std::vector<std::string>& filters) {
  std::vector<bool> used(filters.size(), false);
  return !where.empty() && disjunction_from(where, filters, used);
}

expected<statement> classify(std::string_view sql) {
  auto tokens = tokenize(sql);
  if (!tokens || tokens->empty())
    return refused();
  const std::string normalized = normalize(*tokens);
  if ((*tokens)[0].kind == token_kind::word && (*tokens)[0].text == "copy")
    return classify_copy(*tokens);
  if (is_transaction_control(normalized))
    return statement{statement_kind::transaction_control, {}, {}, {}};
  if (is_catalog_query(normalized))
    return statement{statement_kind::catalog_query, {}, {}, {}};
  return refused();
}

} // namespace walmux::proxy
