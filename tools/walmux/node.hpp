// node.hpp: the two things the walmux binary does: create a data directory
// and run a node in one.
#pragma once

#include "tools/walmux/command_line.hpp"

namespace walmux::tools {

// The number of online CPUs, the vCPU count of the parameter defaults.
int online_vcpus();

// walmux init: validates the -c values, writes walmux.conf (the generated
// sample plus those values), creates the catalog with a new system
// identifier. Prints a summary on stdout. Returns the process exit code.
int run_init(const command_line& cl);

// walmux -C name|all: loads the data directory's settings (walmux.conf and
// -c) and prints the value of one parameter, or "name = value" for all, as
// SHOW would. Works while a node runs. Returns the exit code.
int run_show_config(const command_line& cl);

// walmux -D DIR: checks and locks the data directory, loads the settings,
// opens the catalog, starts the actor system and waits for signals: SIGHUP
// reloads walmux.conf, SIGTERM/SIGINT shut down. Returns the exit code:
// 0 after a requested shutdown, 1 when the node could not start.
int run_node(const command_line& cl);

} // namespace walmux::tools
