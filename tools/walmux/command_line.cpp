// command_line.cpp: see command_line.hpp.
#include "tools/walmux/command_line.hpp"

#include <string_view>

namespace walmux::tools {
namespace {

error usage_error(const std::string& message) {
  return error{sqlstate::syntax_error, message}.with_hint(
      "Try \"walmux --help\" for more information.");
}

// "name=value" -> override; dashes in the name become underscores.
bool split_assignment(std::string_view text,
                      std::pair<std::string, std::string>& out) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0)
    return false;
  std::string name(text.substr(0, eq));
  for (auto& c : name)
    if (c == '-')
      c = '_';
  out = {std::move(name), std::string(text.substr(eq + 1))};
  return true;
}

} // namespace

expected<command_line> parse_command_line(int argc, const char* const* argv,
                                          const char* env_data_dir) {
  command_line cl;
  int i = 1;
  if (i < argc && std::string_view(argv[i]) == "init") {
    cl.cmd = command::init;
    ++i;
  }
  for (; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto next_value = [&](std::string_view option) -> expected<std::string> {
      if (i + 1 >= argc)
        return usage_error("option requires an argument -- '" +
                           std::string(option) + "'");
      return std::string(argv[++i]);
    };
    if (arg == "--version" || arg == "-V") {
      cl.cmd = command::version;
    } else if (arg == "--help" || arg == "-?" || arg == "-h") {
      cl.cmd = command::help;
    } else if (arg == "--describe-config") {
      cl.cmd = command::describe_config;
    } else if (arg == "-C") {
      auto v = next_value("C");
      if (!v)
        return std::move(v).err();
      cl.cmd = command::show_config;
      cl.show_name = *v;
    } else if (arg == "--markdown") {
      cl.markdown = true;
    } else if (arg == "-D") {
      auto v = next_value("D");
      if (!v)
        return std::move(v).err();
      cl.data_dir = *v;
    } else if (arg.starts_with("-D")) {
      cl.data_dir = std::string(arg.substr(2));
    } else if (arg.starts_with("--datadir=")) {
      cl.data_dir = std::string(arg.substr(10));
    } else if (arg == "-c" || (arg.starts_with("-c") && arg.size() > 2)) {
      std::string text;
      if (arg == "-c") {
        auto v = next_value("c");
        if (!v)
          return std::move(v).err();
        text = *v;
      } else {
        text = std::string(arg.substr(2));
      }
      std::pair<std::string, std::string> kv;
      if (!split_assignment(text, kv))
        return usage_error("-c " + text + " requires a value");
      cl.overrides.push_back(std::move(kv));
    } else if (arg.starts_with("--") && arg.size() > 2) {
      std::pair<std::string, std::string> kv;
      if (!split_assignment(arg.substr(2), kv))
        return usage_error("--" + std::string(arg.substr(2)) +
                           " requires a value");
      cl.overrides.push_back(std::move(kv));
    } else {
      return usage_error("invalid argument: \"" + std::string(arg) + "\"");
    }
  }
  bool needs_dir = cl.cmd == command::run || cl.cmd == command::init ||
                   cl.cmd == command::show_config;
  if (needs_dir && cl.data_dir.empty() && env_data_dir != nullptr)
    cl.data_dir = env_data_dir;
  if (needs_dir && cl.data_dir.empty())
    return error{sqlstate::syntax_error, "no data directory specified"}
        .with_hint("You must specify -D DIR or set the WALMUX_DATA environment "
                   "variable.");
  return cl;
}

std::string usage_text() {
  return "walmux is a logical replication engine for PostgreSQL: one upstream\n"
         "stream, kept durably, served to many subscribers.\n"
         "\n"
         "Usage:\n"
         "  walmux [OPTION]...                run a node\n"
         "  walmux init [OPTION]...           create a data directory\n"
         "\n"
         "Options:\n"
         "  -D, --datadir=DIR       data directory (default: $WALMUX_DATA)\n"
         "  -c NAME=VALUE           set a parameter (overrides walmux.conf);\n"
         "                          with init, written into walmux.conf\n"
         "  --NAME=VALUE            same as -c NAME=VALUE\n"
         "  -C NAME                 print the effective value of parameter "
         "NAME\n"
         "                          (\"all\": every parameter) and exit\n"
         "  --describe-config       print the parameter table and exit\n"
         "  --markdown              with --describe-config: as Markdown\n"
         "  -V, --version           print the version and exit\n"
         "  -?, --help              show this help and exit\n"
         "\n"
         "Signals: SIGHUP re-reads walmux.conf; SIGTERM and SIGINT shut the\n"
         "node down.\n";
}

} // namespace walmux::tools
