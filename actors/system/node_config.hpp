// node_config.hpp: the CAF actor system configuration of a walmux node.
//
// Scheduler threads: one per vCPU, at least two, so a busy decoder cannot
// starve the others on a small machine. Actors that block (RocksDB fsync,
// synchronous libpq, file reads) are spawned detached and do not count
// against these threads.
#pragma once

#include "config/settings.hpp"

#include <caf/actor_system_config.hpp>

namespace walmux::actors {

class node_config : public caf::actor_system_config {
 public:
  explicit node_config(const config::settings& settings);

  size_t scheduler_threads() const { return scheduler_threads_; }

 private:
  size_t scheduler_threads_;
};

} // namespace walmux::actors
