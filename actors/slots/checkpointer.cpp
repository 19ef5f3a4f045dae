// checkpointer.cpp: periodic persistence of slot progress (checkpointer.hpp).
#include "actors/slots/checkpointer.hpp"

#include "actors/common/atoms.hpp"
#include "common/log.hpp"

#include <caf/all.hpp>

namespace walmux::actors {
namespace {

constexpr auto checkpoint_interval = std::chrono::seconds(1);

struct checkpointer_state {
  slot_manager* slots = nullptr;
  ~checkpointer_state() {
    if (slots != nullptr)
      if (auto st = slots->persist(true); !st)
        log_error(elevel::warning, st.err());
  }
  static inline const char* name = "checkpointer";
};

caf::behavior checkpointer_actor(caf::stateful_actor<checkpointer_state>* self,
                                 slot_manager* slots) {
  self->state.slots = slots;
  self->delayed_send(self, checkpoint_interval, tick_atom::value);
  return {
      [=](tick_atom) {
        if (auto st = self->state.slots->persist(true); !st)
          log_error(elevel::warning, st.err());
        self->delayed_send(self, checkpoint_interval, tick_atom::value);
      },
  };
}

} // namespace

caf::actor spawn_checkpointer(caf::actor_system& system, slot_manager& slots) {
  return system.spawn<caf::detached>(checkpointer_actor, &slots);
}

} // namespace walmux::actors
