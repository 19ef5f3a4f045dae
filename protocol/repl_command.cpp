// repl_command.cpp: scanner and recursive-descent parser for replication
// commands (see repl_command.hpp).
#include "protocol/repl_command.hpp"

#include <cctype>

namespace walmux::repl {
namespace {

// PostgreSQL's NAMEDATALEN - 1.
constexpr size_t max_identifier_bytes = 63;

enum class tok {
  end,
  ident,
  sconst,
  uconst,
  recptr,
  punct, // ( ) , ; . or any other single character
  // keywords
  k_base_backup,
  k_identify_system,
  k_read_replication_slot,
  k_show,
  k_timeline,
  k_start_replication,
  k_create_replication_slot,
  k_drop_replication_slot,
  k_alter_replication_slot,
  k_timeline_history,
  k_physical,
  k_reserve_wal,
  k_logical,
  k_slot,
  k_temporary,
  k_two_phase,
  k_export_snapshot,
  k_noexport_snapshot,
  k_use_snapshot,
  k_wait,
  k_upload_manifest,
};

struct keyword {
  std::string_view text;
  tok token;
  std::string_view as_option; // its name when used as a generic option name
};

constexpr keyword keywords[] = {
    {"BASE_BACKUP", tok::k_base_backup, "base_backup"},
    {"IDENTIFY_SYSTEM", tok::k_identify_system, "identify_system"},
    {"READ_REPLICATION_SLOT", tok::k_read_replication_slot, ""},
    {"SHOW", tok::k_show, "show"},
    {"TIMELINE", tok::k_timeline, "timeline"},
    {"START_REPLICATION", tok::k_start_replication, "start_replication"},
    {"CREATE_REPLICATION_SLOT", tok::k_create_replication_slot,
     "create_replication_slot"},
    {"DROP_REPLICATION_SLOT", tok::k_drop_replication_slot,
     "drop_replication_slot"},
    {"ALTER_REPLICATION_SLOT", tok::k_alter_replication_slot,
     "alter_replication_slot"},
    {"TIMELINE_HISTORY", tok::k_timeline_history, "timeline_history"},
    {"PHYSICAL", tok::k_physical, "physical"},
    {"RESERVE_WAL", tok::k_reserve_wal, "reserve_wal"},
    {"LOGICAL", tok::k_logical, "logical"},
    {"SLOT", tok::k_slot, "slot"},
    {"TEMPORARY", tok::k_temporary, "temporary"},
    {"TWO_PHASE", tok::k_two_phase, "two_phase"},
    {"EXPORT_SNAPSHOT", tok::k_export_snapshot, "export_snapshot"},
    {"NOEXPORT_SNAPSHOT", tok::k_noexport_snapshot, "noexport_snapshot"},
    {"USE_SNAPSHOT", tok::k_use_snapshot, "use_snapshot"},
    {"WAIT", tok::k_wait, "wait"},
    {"UPLOAD_MANIFEST", tok::k_upload_manifest, "upload_manifest"},
};

struct token {
  tok kind = tok::end;
  std::string text; // identifier, string or integer text; the punct char
  uint64_t lsn_value = 0;
};

error syntax_error(const std::string& message = "syntax error") {
  return error{sqlstate::syntax_error, message};
}

bool ident_start(unsigned char c) {
  return std::isalpha(c) || c == '_' || c >= 0x80;
}
bool ident_cont(unsigned char c) {
  return ident_start(c) || std::isdigit(c) || c == '$';
}
bool hex(unsigned char c) {
  return std::isxdigit(c) != 0;
}

// Cuts to 63 bytes without splitting a UTF-8 sequence.
std::string truncate_identifier(std::string s) {
  if (s.size() <= max_identifier_bytes)
    return s;
  size_t n = max_identifier_bytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
    --n;
  s.resize(n);
  return s;
}

class scanner {
 public:
  explicit scanner(std::string_view text)
      : s_(text) {}

  expected<token> next() {
    while (i_ < s_.size() && is_space(s_[i_]))
      ++i_;
    token t;
    if (i_ >= s_.size())
      return t;
    auto c = static_cast<unsigned char>(s_[i_]);
    // Longest match: an LSN (hex/hex) beats a number and an identifier.
    if (hex(c)) {
      size_t j = i_;
      while (j < s_.size() && hex(static_cast<unsigned char>(s_[j])))
        ++j;
      if (j < s_.size() && s_[j] == '/' && j + 1 < s_.size() &&
          hex(static_cast<unsigned char>(s_[j + 1]))) {
        size_t k = j + 1;
        while (k < s_.size() && hex(static_cast<unsigned char>(s_[k])))
          ++k;
        auto parsed = lsn_parse(s_.substr(i_, k - i_));
        // An identifier could be longer still ("ab/cd_x" is not an LSN in
        // flex either: the LSN rule matches "ab/cd", then "_x").
        if (!parsed)
          return syntax_error("invalid streaming start location");
        t.kind = tok::recptr;
        t.lsn_value = parsed->value;
        i_ = k;
        return t;
      }
    }
    if (std::isdigit(c)) {
      size_t j = i_;
      while (j < s_.size() && std::isdigit(static_cast<unsigned char>(s_[j])))
        ++j;
      // An identifier cannot start with a digit, so digits end here.
      t.kind = tok::uconst;
      t.text = std::string(s_.substr(i_, j - i_));
      i_ = j;
      return t;
    }
    if (ident_start(c)) {
      size_t j = i_;
      while (j < s_.size() && ident_cont(static_cast<unsigned char>(s_[j])))
        ++j;
      std::string_view word = s_.substr(i_, j - i_);
      i_ = j;
      for (const auto& k : keywords) {
        if (k.text == word) {
          t.kind = k.token;
          t.text = std::string(k.as_option);
          return t;
        }
      }
      t.kind = tok::ident;
      t.text.reserve(word.size());
      for (char ch : word)
        t.text +=
            (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
      t.text = truncate_identifier(std::move(t.text));
      return t;
    }
    if (c == '"') {
      size_t end = s_.find('"', i_ + 1);
      if (end == std::string_view::npos)
        return syntax_error("unterminated quoted string");
      t.kind = tok::ident;
      t.text =
          truncate_identifier(std::string(s_.substr(i_ + 1, end - i_ - 1)));
      i_ = end + 1;
      return t;
    }
    if (c == '\'') {
      size_t j = i_ + 1;
      std::string value;
      while (true) {
        if (j >= s_.size())
          return syntax_error("unterminated quoted string");
        if (s_[j] == '\'') {
          if (j + 1 < s_.size() && s_[j + 1] == '\'') {
            value += '\'';
            j += 2;
            continue;
          }
          break;
        }
        value += s_[j++];
      }
      t.kind = tok::sconst;
      t.text = std::move(value);
      i_ = j + 1;
      return t;
    }
    t.kind = tok::punct;
    t.text = std::string(1, static_cast<char>(c));
    ++i_;
    return t;
  }

 private:
  static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
  }
  std::string_view s_;
  size_t i_ = 0;
};

class parser {
 public:
  explicit parser(std::string_view text)
      : scan_(text) {}

  expected<std::optional<command>> run() {
    if (auto st = advance(); !st)
      return std::move(st).err();
    switch (cur_.kind) {
    case tok::k_identify_system:
    case tok::k_base_backup:
    case tok::k_start_replication:
    case tok::k_create_replication_slot:
    case tok::k_drop_replication_slot:
    case tok::k_alter_replication_slot:
    case tok::k_read_replication_slot:
    case tok::k_timeline_history:
    case tok::k_upload_manifest:
    case tok::k_show:
      break;
    default:
      return std::optional<command>(); // SQL
    }
    auto cmd = parse_command_body();
    if (!cmd)
      return std::move(cmd).err();
    // opt_semicolon, then the end.
    if (is_punct(';'))
      if (auto st = advance(); !st)
        return std::move(st).err();
    if (cur_.kind != tok::end)
      return syntax_error();
    return std::optional<command>(std::move(*cmd));
  }

 private:
  status advance() {
    auto t = scan_.next();
    if (!t)
      return std::move(t).err();
    cur_ = std::move(*t);
    return ok();
  }
  bool is_punct(char c) const {
    return cur_.kind == tok::punct && cur_.text.size() == 1 &&
           cur_.text[0] == c;
  }
  status expect_punct(char c) {
    if (!is_punct(c))
      return syntax_error();
    return advance();
  }
  expected<std::string> expect_ident() {
    if (cur_.kind != tok::ident)
      return syntax_error();
    std::string s = std::move(cur_.text);
    if (auto st = advance(); !st)
      return std::move(st).err();
    return s;
  }
  bool is_keyword_token() const { return cur_.kind >= tok::k_base_backup; }

  expected<command> parse_command_body() {
    tok first = cur_.kind;
    if (auto st = advance(); !st)
      return std::move(st).err();
    switch (first) {
    case tok::k_identify_system:
      return command(identify_system{});
    case tok::k_upload_manifest:
      return command(upload_manifest{});
    case tok::k_show: {
      auto name = parse_var_name();
      if (!name)
        return std::move(name).err();
      return command(show{std::move(*name)});
    }
    case tok::k_read_replication_slot: {
      auto name = parse_var_name();
      if (!name)
        return std::move(name).err();
      return command(read_replication_slot{std::move(*name)});
    }
    case tok::k_timeline_history: {
      auto tli = parse_timeline_number();
      if (!tli)
        return std::move(tli).err();
      return command(timeline_history{*tli});
    }
    case tok::k_base_backup: {
      base_backup b;
      if (is_punct('(')) {
        auto opts = parse_generic_options();
        if (!opts)
          return std::move(opts).err();
        b.options = std::move(*opts);
      }
      return command(std::move(b));
    }
    case tok::k_create_replication_slot:
      return parse_create_slot();
    case tok::k_drop_replication_slot: {
      auto slot = expect_ident();
      if (!slot)
        return std::move(slot).err();
      drop_replication_slot d{std::move(*slot), false};
      if (cur_.kind == tok::k_wait) {
        d.wait = true;
        if (auto st = advance(); !st)
          return std::move(st).err();
      }
      return command(std::move(d));
    }
    case tok::k_alter_replication_slot: {
      auto slot = expect_ident();
      if (!slot)
        return std::move(slot).err();
      if (!is_punct('('))
        return syntax_error();
      auto opts = parse_generic_options();
      if (!opts)
        return std::move(opts).err();
      return command(
          alter_replication_slot{std::move(*slot), std::move(*opts)});
    }
    case tok::k_start_replication:
      return parse_start_replication();
    default:
      return syntax_error();
    }
  }

  expected<std::string> parse_var_name() {
    auto name = expect_ident();
    if (!name)
      return name;
    while (is_punct('.')) {
      if (auto st = advance(); !st)
        return std::move(st).err();
      auto part = expect_ident();
      if (!part)
        return part;
      *name += "." + *part;
    }
    return name;
  }

  expected<uint32_t> parse_timeline_number() {
    if (cur_.kind != tok::uconst)
      return syntax_error();
    // strtoul semantics on digits: values over 2^32-1 wrap in PostgreSQL's
    // scanner; refuse them instead of wrapping.
    if (cur_.text.size() > 10 || std::stoull(cur_.text) > UINT32_MAX)
      return syntax_error("invalid timeline " + cur_.text);
    auto v = static_cast<uint32_t>(std::stoull(cur_.text));
    if (v == 0)
      return syntax_error("invalid timeline 0");
    if (auto st = advance(); !st)
      return std::move(st).err();
    return v;
  }

  // '(' element [, element]* ')': the list shape both option lists share.
  template <class ParseElement>
  expected<std::vector<option>> parse_option_list(ParseElement element) {
    std::vector<option> opts;
    if (auto st = expect_punct('('); !st)
      return std::move(st).err();
    while (true) {
      auto o = element();
      if (!o)
        return std::move(o).err();
      opts.push_back(std::move(*o));
      if (!is_punct(','))
        break;
      if (auto st = advance(); !st)
        return std::move(st).err();
    }
    if (auto st = expect_punct(')'); !st)
      return std::move(st).err();
    return opts;
  }

  // generic_option: a name (identifier or keyword) and an optional
  // identifier, string or integer value.
  expected<std::vector<option>> parse_generic_options() {
    return parse_option_list([this]() -> expected<option> {
      option o;
      if (cur_.kind != tok::ident && !is_keyword_token())
        return syntax_error();
      o.name = cur_.text;
      if (auto st = advance(); !st)
        return std::move(st).err();
      if (cur_.kind == tok::ident || cur_.kind == tok::sconst ||
          cur_.kind == tok::uconst) {
        o.value_kind = cur_.kind == tok::ident    ? option::kind::identifier
                       : cur_.kind == tok::sconst ? option::kind::string
                                                  : option::kind::integer;
        o.value = cur_.text;
        if (auto st = advance(); !st)
          return std::move(st).err();
      }
      return o;
    });
  }

  expected<command> parse_create_slot() {
    create_replication_slot c;
    auto slot = expect_ident();
    if (!slot)
      return std::move(slot).err();
    c.slot = std::move(*slot);
    if (cur_.kind == tok::k_temporary) {
      c.temporary = true;
      if (auto st = advance(); !st)
        return std::move(st).err();
    }
    if (cur_.kind == tok::k_physical) {
      c.logical = false;
      if (auto st = advance(); !st)
        return std::move(st).err();
    } else if (cur_.kind == tok::k_logical) {
      if (auto st = advance(); !st)
        return std::move(st).err();
      auto plugin = expect_ident();
      if (!plugin)
        return std::move(plugin).err();
      c.plugin = std::move(*plugin);
    } else {
      return syntax_error();
    }
    if (is_punct('(')) {
      auto opts = parse_generic_options();
      if (!opts)
        return std::move(opts).err();
      c.options = std::move(*opts);
      return command(std::move(c));
    }
    // Legacy words, each becoming the option walsender would see.
    while (true) {
      option o;
      switch (cur_.kind) {
      case tok::k_export_snapshot:
        o = {"snapshot", option::kind::string, "export"};
        break;
      case tok::k_noexport_snapshot:
        o = {"snapshot", option::kind::string, "nothing"};
        break;
      case tok::k_use_snapshot:
        o = {"snapshot", option::kind::string, "use"};
        break;
      case tok::k_reserve_wal:
        o = {"reserve_wal", option::kind::none, ""};
        break;
      case tok::k_two_phase:
        o = {"two_phase", option::kind::none, ""};
        break;
      default:
        return command(std::move(c));
      }
      c.options.push_back(std::move(o));
      if (auto st = advance(); !st)
        return std::move(st).err();
    }
  }

  expected<command> parse_start_replication() {
    start_replication s;
    if (cur_.kind == tok::k_slot) {
      if (auto st = advance(); !st)
        return std::move(st).err();
      auto slot = expect_ident();
      if (!slot)
        return std::move(slot).err();
      s.slot = std::move(*slot);
      if (cur_.kind == tok::k_logical) {
        s.logical = true;
        if (auto st = advance(); !st)
          return std::move(st).err();
        if (cur_.kind != tok::recptr)
          return syntax_error();
        s.start = lsn(cur_.lsn_value);
        if (auto st = advance(); !st)
          return std::move(st).err();
        if (is_punct('(')) {
          auto opts = parse_plugin_options();
          if (!opts)
            return std::move(opts).err();
          s.options = std::move(*opts);
        }
        return command(std::move(s));
      }
    }
    if (cur_.kind == tok::k_physical)
      if (auto st = advance(); !st)
        return std::move(st).err();
    if (cur_.kind != tok::recptr)
      return syntax_error();
    s.start = lsn(cur_.lsn_value);
    if (auto st = advance(); !st)
      return std::move(st).err();
    if (cur_.kind == tok::k_timeline) {
      if (auto st = advance(); !st)
        return std::move(st).err();
      auto tli = parse_timeline_number();
      if (!tli)
        return std::move(tli).err();
      s.timeline = *tli;
    }
    return command(std::move(s));
  }

  // plugin options: an identifier (never a keyword) and an optional string.
  expected<std::vector<option>> parse_plugin_options() {
    return parse_option_list([this]() -> expected<option> {
      auto name = expect_ident();
      if (!name)
        return std::move(name).err();
      option o{std::move(*name), option::kind::none, ""};
      if (cur_.kind == tok::sconst) {
        o.value_kind = option::kind::string;
        o.value = cur_.text;
        if (auto st = advance(); !st)
          return std::move(st).err();
      }
      return o;
    });
  }

  scanner scan_;
  token cur_;
};

} // namespace

expected<std::optional<command>> parse_command(std::string_view text) {
  return parser(text).run();
}

expected<bool> option_boolean(const option& o) {
  if (o.value_kind == option::kind::none)
    return true;
  if (o.value_kind == option::kind::integer) {
    if (o.value == "0")
      return false;
    if (o.value == "1")
      return true;
  } else {
    std::string v;
    for (char c : o.value)
      v += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (v == "true" || v == "on")
      return true;
    if (v == "false" || v == "off")
      return false;
  }
  return error{sqlstate::syntax_error, o.name + " requires a Boolean value"};
}

expected<create_slot_options>
interpret_create_slot_options(const create_replication_slot& cmd) {
  create_slot_options out;
  bool snapshot_given = false, reserve_given = false, two_phase_given = false,
       failover_given = false;
  auto conflicting = [] {
    return error{sqlstate::syntax_error, "conflicting or redundant options"};
  };
  // A boolean option, allowed once and only for the slot kind it applies to.
  auto set_boolean = [&](const option& o, bool& given, bool allowed,
                         bool& field) -> status {
    if (given || !allowed)
      return conflicting();
    given = true;
    auto b = option_boolean(o);
    if (!b)
      return std::move(b).err();
    field = *b;
    return ok();
  };
  for (const auto& o : cmd.options) {
    if (o.name == "snapshot") {
      if (snapshot_given || !cmd.logical)
        return conflicting();
      snapshot_given = true;
      if (o.value == "export")
        out.snapshot = snapshot_action::export_snapshot;
      else if (o.value == "nothing")
        out.snapshot = snapshot_action::nothing;
      else if (o.value == "use")
        out.snapshot = snapshot_action::use;
      else
        return error{sqlstate::invalid_parameter_value,
                     "unrecognized value for CREATE_REPLICATION_SLOT option "
                     "\"snapshot\": \"" +
                         o.value + "\""};
    } else if (o.name == "reserve_wal") {
      if (auto st =
              set_boolean(o, reserve_given, !cmd.logical, out.reserve_wal);
          !st)
        return std::move(st).err();
    } else if (o.name == "two_phase") {
      if (auto st = set_boolean(o, two_phase_given, cmd.logical, out.two_phase);
          !st)
        return std::move(st).err();
    } else if (o.name == "failover") {
      if (auto st = set_boolean(o, failover_given, cmd.logical, out.failover);
          !st)
        return std::move(st).err();
    } else {
      return error{sqlstate::syntax_error, "unrecognized option: " + o.name};
    }
  }
  return out;
}

} // namespace walmux::repl
