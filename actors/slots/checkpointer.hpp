// checkpointer.hpp: persists slot progress: every second, the slots whose
// confirmed_flush_lsn moved are written to the catalog in one synced batch,
// and once more when the actor exits (clean shutdown). A detached actor:
// the synced RocksDB write blocks its own thread only.
#pragma once

#include "actors/slots/slot_manager.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

namespace walmux::actors {

// REQUIRES: `slots` outlives the actor.
caf::actor spawn_checkpointer(caf::actor_system& system, slot_manager& slots);

} // namespace walmux::actors
