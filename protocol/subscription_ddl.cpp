// subscription_ddl.cpp: see subscription_ddl.hpp.
#include "protocol/subscription_ddl.hpp"

#include "common/pg_bool.hpp"
#include "protocol/pg_text.hpp"
#include "protocol/sql_text.hpp"

#include <algorithm>
#include <cctype>

namespace walmux::subddl {
namespace {

struct token {
  enum class kind { word, quoted, string, number, punct, end } k = kind::end;
  std::string text;         // words down-cased; punct is one character
  std::string_view written; // as in the statement (quotes and case kept)
  size_t offset = 0;        // of `written` in the statement, in bytes
};

std::string lowered(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// An error of the statement `s` at byte `offset`, with PostgreSQL's
// cursor position (characters, from 1) and its "at or near" text: the
// token as written, or "at end of input".
error error_at(std::string_view what, std::string_view s, size_t offset,
               std::string_view written) {
  error e{sqlstate::syntax_error,
          std::string(what) +
              (offset >= s.size()
                   ? " at end of input"
                   : " at or near \"" + std::string(written) + "\"")};
  e.position = 1 + static_cast<int>(pgtext::character_count(
                       s.substr(0, std::min(offset, s.size()))));
  return e;
}

expected<std::vector<token>> tokenize(std::string_view s) {
  std::vector<token> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      while (i < s.size() && s[i] != '\n')
        ++i;
      continue;
    }
    if (c == '\'' || c == '"') {
      token t{c == '\'' ? token::kind::string : token::kind::quoted, {}, {}, i};
      ++i;
      bool closed = false;
      while (i < s.size()) {
        if (s[i] == c) {
          if (i + 1 < s.size() && s[i + 1] == c) {
            t.text += c;
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        t.text += s[i++];
      }
      t.written = s.substr(t.offset, i - t.offset);
      if (!closed)
        return error_at(c == '\'' ? "unterminated quoted string"
                                  : "unterminated quoted identifier",
                        s, t.offset, t.written);
      if (t.k == token::kind::quoted && t.text.empty())
        return error_at("zero-length delimited identifier", s, t.offset,
                        t.written);
      out.push_back(std::move(t));
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
        static_cast<unsigned char>(c) >= 0x80) {
      token t{token::kind::word, {}, {}, i};
      while (i < s.size() &&
             (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_' ||
              s[i] == '$' || static_cast<unsigned char>(s[i]) >= 0x80))
        t.text +=
            static_cast<char>(std::tolower(static_cast<unsigned char>(s[i++])));
      t.written = s.substr(t.offset, i - t.offset);
      out.push_back(std::move(t));
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        ((c == '-' || c == '+') && i + 1 < s.size() &&
         std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      token t{token::kind::number, std::string(1, c), {}, i};
      ++i;
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) ||
                              s[i] == '.' || s[i] == '/'))
        t.text += s[i++];
      t.written = s.substr(t.offset, i - t.offset);
      out.push_back(std::move(t));
      continue;
    }
    if (c == '(' || c == ')' || c == ',' || c == '=' || c == ';') {
      out.push_back({token::kind::punct, std::string(1, c), s.substr(i, 1), i});
      ++i;
      continue;
    }
    return error_at("syntax error", s, i, s.substr(i, 1));
  }
  while (!out.empty() && out.back().k == token::kind::punct &&
         out.back().text == ";")
    out.pop_back();
  // PostgreSQL puts the end of input after the last character.
  out.push_back({token::kind::end, {}, {}, s.size()});
  return out;
}

class parser {
 public:
  // REQUIRES: `statement` (which `t` points into) outlives the parser.
  parser(std::string_view statement, std::vector<token> t)
      : statement_(statement)
      , t_(std::move(t)) {}

  const token& peek() const { return t_[at_]; }
  bool at_word(const char* w) const {
    return peek().k == token::kind::word && peek().text == w;
  }
  bool at_punct(char c) const {
    return peek().k == token::kind::punct && peek().text[0] == c;
  }
  bool at_end() const { return peek().k == token::kind::end; }
  error unexpected() const {
    return error_at("syntax error", statement_, peek().offset, peek().written);
  }

  status word(const char* w) {
    if (!at_word(w))
      return unexpected();
    ++at_;
    return ok();
  }
  status punct(char c) {
    if (!at_punct(c))
      return unexpected();
    ++at_;
    return ok();
  }
  expected<std::string> name() {
    if (peek().k != token::kind::word && peek().k != token::kind::quoted)
      return unexpected();
    std::string n = t_[at_++].text;
    if (n.size() > 63)
      n.resize(63); // NAMEDATALEN - 1, as PostgreSQL truncates
    return n;
  }
  expected<std::string> string() {
    if (peek().k != token::kind::string)
      return unexpected();
    return t_[at_++].text;
  }

  // ( name [= value] [, ...] )
  expected<std::vector<option>> options() {
    std::vector<option> out;
    if (auto st = punct('('); !st)
      return std::move(st).err();
    while (true) {
      auto n = name();
      if (!n)
        return std::move(n).err();
      option o{*n, std::nullopt};
      if (at_punct('=')) {
        ++at_;
        const token& v = peek();
        if (v.k == token::kind::end || v.k == token::kind::punct)
          return unexpected();
        o.value = v.text;
        ++at_;
      }
      out.push_back(std::move(o));
      if (at_punct(',')) {
        ++at_;
        continue;
      }
      if (auto st = punct(')'); !st)
        return std::move(st).err();
      return out;
    }
  }

  status end() { return at_end() ? ok() : status(unexpected()); }

 private:
  std::string_view statement_;
  std::vector<token> t_;
  size_t at_ = 0;
};

// pub [, ...], each named once (PostgreSQL: check_duplicates_in_publist).
expected<std::vector<std::string>> publication_list(parser& p) {
  std::vector<std::string> out;
  while (true) {
    auto pub = p.name();
    if (!pub)
      return std::move(pub).err();
    if (std::find(out.begin(), out.end(), *pub) != out.end())
      return error{sqlstate::duplicate_object,
                   "publication name \"" + *pub + "\" used more than once"};
    out.push_back(*pub);
    if (!p.at_punct(','))
      return out;
    (void)p.punct(',');
  }
}

// [WITH (option [= value] [, ...])]
expected<std::vector<option>> with_options(parser& p) {
  if (!p.at_word("with"))
    return std::vector<option>();
  (void)p.word("with");
  return p.options();
}

// pub [, ...] [WITH (...)]
status publications_with_options(parser& p, std::vector<std::string>& pubs,
                                 std::vector<option>& opts) {
  auto listed = publication_list(p);
  if (!listed)
    return std::move(listed).err();
  pubs = std::move(*listed);
  auto given = with_options(p);
  if (!given)
    return std::move(given).err();
  opts = std::move(*given);
  return ok();
}

expected<statement> parse_create(parser& p) {
  create_subscription c;
  auto n = p.name();
  if (!n)
    return std::move(n).err();
  c.name = *n;
  if (auto st = p.word("connection"); !st)
    return std::move(st).err();
  auto conninfo = p.string();
  if (!conninfo)
    return std::move(conninfo).err();
  c.conninfo = *conninfo;
  if (auto st = p.word("publication"); !st)
    return std::move(st).err();
  if (auto st = publications_with_options(p, c.publications, c.options); !st)
    return std::move(st).err();
  if (auto st = p.end(); !st)
    return std::move(st).err();
  return statement{std::move(c)};
}

expected<statement> parse_alter(parser& p) {
  using action = alter_subscription::action;
  alter_subscription a;
  auto n = p.name();
  if (!n)
    return std::move(n).err();
  a.name = *n;
  if (p.at_word("enable") || p.at_word("disable")) {
    a.what = p.at_word("enable") ? action::enable : action::disable;
    (void)p.name();
  } else if (p.at_word("connection")) {
    (void)p.word("connection");
    a.what = action::connection;
    auto conninfo = p.string();
    if (!conninfo)
      return std::move(conninfo).err();
    a.conninfo = *conninfo;
  } else if (p.at_word("refresh")) {
    (void)p.word("refresh");
    if (auto st = p.word("publication"); !st)
      return std::move(st).err();
    a.what = action::refresh;
    auto opts = with_options(p);
    if (!opts)
      return std::move(opts).err();
    a.options = std::move(*opts);
  } else if (p.at_word("set") || p.at_word("add") || p.at_word("drop")) {
    const std::string verb = p.peek().text;
    (void)p.name();
    if (p.at_word("publication")) {
      (void)p.word("publication");
      a.what = verb == "set"   ? action::set_publication
               : verb == "add" ? action::add_publication
                               : action::drop_publication;
      if (auto st = publications_with_options(p, a.publications, a.options);
          !st)
        return std::move(st).err();
    } else if (verb == "set") {
      a.what = action::set;
      auto opts = p.options();
      if (!opts)
        return std::move(opts).err();
      a.options = std::move(*opts);
    } else {
      return p.unexpected();
    }
  } else if (p.at_word("skip")) {
    a.what = action::skip;
    (void)p.name();
    auto opts = p.options();
    if (!opts)
      return std::move(opts).err();
    a.options = std::move(*opts);
  } else if (p.at_word("rename")) {
    (void)p.word("rename");
    if (auto st = p.word("to"); !st)
      return std::move(st).err();
    a.what = action::rename;
    auto to = p.name();
    if (!to)
      return std::move(to).err();
    a.new_name = *to;
  } else if (p.at_word("owner")) {
    // walmux has no roles to own a subscription.
    return error{sqlstate::feature_not_supported,
                 "ALTER SUBSCRIPTION ... OWNER TO is not supported by walmux"};
  } else {
    return p.unexpected();
  }
  if (auto st = p.end(); !st)
    return std::move(st).err();
  return statement{std::move(a)};
}

expected<statement> parse_drop(parser& p) {
  drop_subscription d;
  if (p.at_word("if")) {
    (void)p.word("if");
    if (auto st = p.word("exists"); !st)
      return std::move(st).err();
    d.if_exists = true;
  }
  auto n = p.name();
  if (!n)
    return std::move(n).err();
  d.name = *n;
  if (p.at_word("cascade") || p.at_word("restrict"))
    (void)p.name();
  if (auto st = p.end(); !st)
    return std::move(st).err();
  return statement{std::move(d)};
}

error needs_boolean(const std::string& name) {
  return error{sqlstate::syntax_error, name + " requires a Boolean value"};
}

} // namespace

expected<std::optional<statement>> parse(std::string_view sql) {
  auto tokens = tokenize(sql);
  if (!tokens) {
    // Only a statement that starts as a subscription statement is ours.
    size_t at = 0;
    const std::string verb = sqltext::next_word(sql, at);
    if ((verb == "create" || verb == "alter" || verb == "drop") &&
        sqltext::next_word(sql, at) == "subscription")
      return std::move(tokens).err();
    return std::optional<statement>();
  }
  const auto& t = *tokens;
  if (t.size() < 3 || t[0].k != token::kind::word ||
      t[1].k != token::kind::word || t[1].text != "subscription")
    return std::optional<statement>();
  const std::string verb = t[0].text;
  if (verb != "create" && verb != "alter" && verb != "drop")
    return std::optional<statement>();
  parser p(sql, std::move(*tokens));
  (void)p.name();
  (void)p.name();
  auto s = verb == "create"  ? parse_create(p)
           : verb == "alter" ? parse_alter(p)
                             : parse_drop(p);
  if (!s)
    return std::move(s).err();
  return std::optional<statement>(std::move(*s));
}

expected<std::vector<std::string>>
merge_publications(const std::vector<std::string>& current,
                   const alter_subscription& a) {
  using action = alter_subscription::action;
  if (a.what == action::set_publication)
    return a.publications;
  std::vector<std::string> out = current;
  for (const auto& name : a.publications) {
    auto at = std::find(out.begin(), out.end(), name);
    if (a.what == action::add_publication) {
      if (at != out.end())
        return error{sqlstate::duplicate_object,
                     "publication \"" + name +
                         "\" is already in subscription \"" + a.name + "\""};
      out.push_back(name);
    } else {
      if (at == out.end())
        return error{"42P17", "publication \"" + name +
                                  "\" is not in subscription \"" + a.name +
                                  "\""};
      out.erase(at);
    }
  }
  if (out.empty())
    return error{"42P17",
                 "cannot drop all the publications from a subscription"};
  return out;
}

expected<subscription_options>
interpret_options(const std::vector<option>& given, option_context context,
                  subscription_options base,
                  std::vector<std::string>* present) {
  // Which options each statement takes (PostgreSQL 15's lists, plus
  // origin from 16 and walmux's target).
  static const std::vector<std::string> create_names = {
      "target",      "connect",          "enabled",
      "create_slot", "slot_name",        "copy_data",
      "binary",      "streaming",        "synchronous_commit",
      "two_phase",   "disable_on_error", "origin"};
  static const std::vector<std::string> set_names = {
      "target",    "slot_name",          "binary",
      "streaming", "synchronous_commit", "disable_on_error",
      "origin"};
  static const std::vector<std::string> refresh_names = {"copy_data"};
  static const std::vector<std::string> publication_names = {"refresh",
                                                             "copy_data"};
  const auto& allowed = context == option_context::create ? create_names
                        : context == option_context::set  ? set_names
                        : context == option_context::publication
                            ? publication_names
                            : refresh_names;
  std::vector<std::string> seen;
  for (const auto& o : given) {
    if (std::find(allowed.begin(), allowed.end(), o.name) == allowed.end())
      return error{sqlstate::syntax_error,
                   "unrecognized subscription parameter: \"" + o.name + "\""};
    if (std::find(seen.begin(), seen.end(), o.name) != seen.end())
      return error{sqlstate::syntax_error, "conflicting or redundant options"};
    seen.push_back(o.name);
    auto boolean = [&](bool& into) -> status {
      bool v = true;
      if (o.value && !parse_pg_bool(*o.value, v))
        return needs_boolean(o.name);
      into = v;
      return ok();
    };
    status st = ok();
    if (o.name == "target") {
      if (!o.value || o.value->empty())
        return error{sqlstate::syntax_error, "target requires a parameter"};
      base.target = *o.value;
    } else if (o.name == "connect") {
      st = boolean(base.connect);
    } else if (o.name == "enabled") {
      st = boolean(base.enabled);
    } else if (o.name == "create_slot") {
      st = boolean(base.create_slot);
    } else if (o.name == "copy_data") {
      st = boolean(base.copy_data);
    } else if (o.name == "refresh") {
      st = boolean(base.refresh);
    } else if (o.name == "binary") {
      st = boolean(base.binary);
    } else if (o.name == "two_phase") {
      st = boolean(base.two_phase);
    } else if (o.name == "disable_on_error") {
      st = boolean(base.disable_on_error);
    } else if (o.name == "slot_name") {
      if (!o.value)
        return error{sqlstate::syntax_error, "slot_name requires a parameter"};
      const std::string name = lowered(*o.value);
      if (name == "none") {
        base.slot_name.reset();
        base.slot_name_none = true;
      } else {
        for (char c : *o.value)
          if (!(std::islower(static_cast<unsigned char>(c)) ||
                std::isdigit(static_cast<unsigned char>(c)) || c == '_'))
            return error{sqlstate::invalid_parameter_value,
                         "replication slot name \"" + *o.value +
                             "\" contains invalid character"}
                .with_hint("Replication slot names may only contain lower "
                           "case letters, numbers, and the underscore "
                           "character.");
        if (o.value->size() > 63)
          return error{sqlstate::invalid_parameter_value,
                       "replication slot name \"" + *o.value +
                           "\" is too long"};
        base.slot_name = *o.value;
        base.slot_name_none = false;
      }
    } else if (o.name == "streaming") {
      std::string v = lowered(o.value.value_or("on"));
      bool b = false;
      if (v == "parallel")
        base.streaming = "parallel";
      else if (parse_pg_bool(v, b))
        base.streaming = b ? "on" : "off";
      else
        return error{sqlstate::invalid_parameter_value,
                     "streaming requires a Boolean value or \"parallel\""};
    } else if (o.name == "synchronous_commit") {
      std::string v = lowered(o.value.value_or(""));
      bool b = false;
      if (v == "local" || v == "remote_write" || v == "remote_apply" ||
          v == "on" || v == "off")
        base.synchronous_commit = v;
      else if (parse_pg_bool(v, b))
        base.synchronous_commit = b ? "on" : "off";
      else
        return error{sqlstate::invalid_parameter_value,
                     "invalid value for parameter \"synchronous_commit\": \"" +
                         o.value.value_or("") + "\""}
            .with_hint("Available values: local, remote_write, remote_apply, "
                       "on, off.");
    } else if (o.name == "origin") {
      std::string v = lowered(o.value.value_or(""));
      if (v != "none" && v != "any")
        return error{sqlstate::invalid_parameter_value,
                     "unrecognized origin value: \"" + o.value.value_or("") +
                         "\""};
      base.origin = v;
    }
    if (!st)
      return std::move(st).err();
  }
  // PostgreSQL's cross-checks (parse_subscription_options).
  auto given_name = [&](const char* n) {
    return std::find(seen.begin(), seen.end(), n) != seen.end();
  };
  if (context == option_context::create && !base.connect) {
    for (const char* n : {"enabled", "create_slot", "copy_data"})
      if (given_name(n) && (n == std::string("enabled")       ? base.enabled
                            : n == std::string("create_slot") ? base.create_slot
                                                              : base.copy_data))
        return error{sqlstate::syntax_error,
                     std::string("connect = false and ") + n +
                         " = true are mutually exclusive options"};
    base.enabled = false;
    base.create_slot = false;
    base.copy_data = false;
  }
  if (context == option_context::create && base.slot_name_none) {
    if (base.enabled && given_name("enabled"))
      return error{sqlstate::syntax_error,
                   "slot_name = NONE and enabled = true are mutually "
                   "exclusive options"};
    if (base.create_slot && given_name("create_slot"))
      return error{sqlstate::syntax_error,
                   "slot_name = NONE and create_slot = true are mutually "
                   "exclusive options"};
    if (base.enabled)
      return error{sqlstate::syntax_error,
                   "subscription with slot_name = NONE must also set enabled "
                   "= false"};
    if (base.create_slot)
      return error{sqlstate::syntax_error,
                   "subscription with slot_name = NONE must also set "
                   "create_slot = false"};
  }
  if (present)
    *present = std::move(seen);
  return base;
}

expected<lsn> interpret_skip(const std::vector<option>& given) {
  if (given.size() != 1 || given[0].name != "lsn") {
    if (!given.empty() && given[0].name != "lsn")
      return error{sqlstate::syntax_error, "unrecognized subscription "
                                           "parameter: \"" +
                                               given[0].name + "\""};
    return error{sqlstate::syntax_error, "conflicting or redundant options"};
  }
  std::string v = given[0].value.value_or("");
  if (lowered(v) == "none")
    return lsn{};
  auto at = lsn_parse(v);
  if (!at)
    return error{sqlstate::invalid_text_representation,
                 "invalid input syntax for type pg_lsn: \"" + v + "\""};
  if (!at->valid())
    return error{sqlstate::invalid_parameter_value,
                 "invalid WAL location (LSN): " + v};
  return *at;
}

} // namespace walmux::subddl
