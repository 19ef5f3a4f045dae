// main.cpp: the walmux executable's entry point; dispatches the command line
// (command_line.hpp) to init, run, or the informational commands.
#include "common/log.hpp"
#include "config/settings.hpp"
#include "tools/walmux/command_line.hpp"
#include "tools/walmux/node.hpp"

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  using namespace walmux;
  auto cl = tools::parse_command_line(argc, argv, std::getenv("WALMUX_DATA"));
  if (!cl) {
    std::fprintf(stderr, "walmux: %s\n", cl.err().message.c_str());
    if (!cl.err().hint.empty())
      std::fprintf(stderr, "%s\n", cl.err().hint.c_str());
    return 1;
  }
  switch (cl->cmd) {
  case tools::command::version:
    std::printf("walmux %s\n", WALMUX_VERSION);
    return 0;
  case tools::command::help:
    std::fputs(tools::usage_text().c_str(), stdout);
    return 0;
  case tools::command::describe_config: {
    if (cl->markdown) {
      std::fputs(config::parameters_markdown().c_str(), stdout);
    } else {
      config::settings defaults(config::machine_facts{tools::online_vcpus()});
      for (const auto& row : defaults.show_all())
        std::printf("%s\t%s\t%s\n", row.name.c_str(), row.setting.c_str(),
                    row.description.c_str());
    }
    return 0;
  }
  case tools::command::show_config:
    return tools::run_show_config(*cl);
  case tools::command::init:
    return tools::run_init(*cl);
  case tools::command::run:
    return tools::run_node(*cl);
  }
  return 1;
}
