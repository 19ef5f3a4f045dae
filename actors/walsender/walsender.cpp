// walsender.cpp: the walsender actor: one detached actor per connection
// driving its session (walsender_session.hpp) with the bytes the listener
// delivers and with pump steps while it streams.
#include "actors/walsender/walsender.hpp"

#include "actors/common/atoms.hpp"
#include "actors/walsender/walsender_session.hpp"

#include <caf/all.hpp>

namespace walmux::actors {
namespace {

using walsender_detail::session;

struct walsender_state {
  std::unique_ptr<session> s;
  std::shared_ptr<connection_link> link;
  bool pumping = false;
  static inline const char* name = "walsender";
};

caf::behavior walsender_actor(caf::stateful_actor<walsender_state>* self,
                              walsender_env* env,
                              std::shared_ptr<connection_link> link) {
  self->state.link = link;
  self->state.s = std::make_unique<session>(*env, std::move(link));
  auto schedule = [self] {
    if (self->state.s->streaming() && !self->state.pumping) {
      self->state.pumping = true;
      self->send(self, pump_atom::value);
    }
  };
  // A client has authentication_timeout to log in; a stalled one does
  // not hold its session longer.
  self->delayed_send(self, std::chrono::seconds(env->authentication_timeout_s),
                     tick_atom::value);
  return {
      [=](tick_atom) {
        if (!self->state.s->logged_in()) {
          self->state.s->authentication_timed_out();
          self->quit();
        }
      },
      [=](data_atom, const std::string& bytes) {
        self->state.link->consumed(bytes.size());
        if (!self->state.s->on_data(bytes)) {
          self->quit();
          return;
        }
        schedule();
      },
      [=](pump_atom) {
        self->state.pumping = false;
        if (!self->state.s->pump()) {
          self->quit();
          return;
        }
        schedule();
      },
      [=](closed_atom) { self->quit(); },
  };
}

} // namespace

caf::actor spawn_walsender(caf::actor_system& system, walsender_env& env,
                           std::shared_ptr<connection_link> link) {
  return system.spawn<caf::detached>(walsender_actor, &env, std::move(link));
}

} // namespace walmux::actors
