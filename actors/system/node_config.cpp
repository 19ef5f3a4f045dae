// node_config.cpp: see node_config.hpp.
#include "actors/system/node_config.hpp"

#include <algorithm>

namespace walmux::actors {

node_config::node_config(const config::settings& settings)
    : scheduler_threads_(
          static_cast<size_t>(std::max(2, settings.facts().vcpu_count))) {
  // CAF 0.17 keys carry no "caf." prefix.
  set("scheduler.max-threads", scheduler_threads_);
  // walmux writes its own log (common/log.hpp); CAF's would only duplicate.
  set("logger.file-verbosity", caf::atom("quiet"));
  set("logger.console-verbosity", caf::atom("quiet"));
}

} // namespace walmux::actors
