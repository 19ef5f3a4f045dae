// atoms.hpp: the message atoms of walmux's actors (CAF 0.17 atom constants,
// at most 10 characters).
#pragma once

#include <caf/atom.hpp>

namespace walmux::actors {

using pump_atom = caf::atom_constant<caf::atom("pump")>;       // do a step
using connect_atom = caf::atom_constant<caf::atom("connect")>; // (re)connect
using data_atom = caf::atom_constant<caf::atom("data")>;       // bytes in
using closed_atom = caf::atom_constant<caf::atom("closed")>;   // peer gone
using tick_atom = caf::atom_constant<caf::atom("tick")>;       // timer

} // namespace walmux::actors
