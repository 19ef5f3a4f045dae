// checkpointer.cpp: periodic persistence of slot progress (checkpointer.hpp).
#include "actors/slots/checkpointer.hpp"

#include "actors/common/atoms.hpp"
#include "common/log.hpp"

#include <caf/all.hpp>

namespace walmux::actors {
namespace {

constexpr auto checkpoint_interval = std::chrono::seconds(1);

struct checkpointer_state {
  retention_env* env = nullptr;
  ~checkpointer_state() {
    if (env != nullptr)
      if (auto st = env->slots->persist(true); !st)
        log_error(elevel::warning, st.err());
  }
  static inline const char* name = "checkpointer";
};

caf::behavior checkpointer_actor(caf::stateful_actor<checkpointer_state>* self,
                                 retention_env* env) {
  self->state.env = env;
  self->delayed_send(self, checkpoint_interval, tick_atom::value);
  return {
      [=](tick_atom) {
        auto& env = *self->state.env;
        if (auto st = env.slots->persist(true); !st)
          log_error(elevel::warning, st.err());
        if (auto removed = run_retention(env); !removed)
          log_error(elevel::warning, removed.err());
        // Invalidations made by the pass, if any.
        if (auto st = env.slots->persist(true); !st)
          log_error(elevel::warning, st.err());
        self->delayed_send(self, checkpoint_interval, tick_atom::value);
      },
  };
}

} // namespace

caf::actor spawn_checkpointer(caf::actor_system& system, retention_env& env) {
  return system.spawn<caf::detached>(checkpointer_actor, &env);
}

} // namespace walmux::actors
