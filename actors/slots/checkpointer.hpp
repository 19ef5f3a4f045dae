// checkpointer.hpp: persists slot progress and runs retention: every
// second, the slots whose confirmed_flush_lsn moved are written to the
// catalog in one synced batch (and once more when the actor exits, at a
// clean shutdown), then a retention pass removes the segments no slot needs
// (retention.hpp). A detached actor: the synced writes and file removals
// block its own thread only.
#pragma once

#include "actors/slots/retention.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

namespace walmux::actors {

// REQUIRES: `env` (and what it points to) outlives the actor.
caf::actor spawn_checkpointer(caf::actor_system& system, retention_env& env);

} // namespace walmux::actors
