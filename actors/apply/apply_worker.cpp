// apply_worker.cpp: one subscription's apply worker (apply_worker.hpp):
// the detached actor that drives an apply_session.
#include "actors/apply/apply_worker.hpp"

#include "actors/apply/apply_session.hpp"
#include "actors/common/atoms.hpp"
#include "common/log.hpp"

#include <chrono>

#include <caf/all.hpp>

namespace walmux::actors::apply {
namespace {

using namespace std::chrono_literals;

// After a step that found data, the worker waits this long before it reads
// again, so that the publisher's messages pile up in the socket: its
// walsender then sends in large writes instead of one per message (see
// source.cpp). With 10ms the walsender spent 1.75 s of CPU on 100,000
// single-row transactions, with 100ms 1.1-1.4 s, as for a native
// subscriber; the walsender bounds the apply speed. It bounds the extra
// latency of a busy stream (an idle worker reads at once).
constexpr auto drain_interval = 100ms;

struct worker_state {
  std::unique_ptr<apply_session> session;
  std::chrono::milliseconds backoff{1000};
  static inline const char* name = "apply_worker";
};

caf::behavior apply_worker(caf::stateful_actor<worker_state>* self,
                           subscription_manager* manager, std::string name,
                           std::shared_ptr<worker_control> control) {
  self->attach_functor([control] { control->done = true; });
  self->state.session =
      std::make_unique<apply_session>(*manager, std::move(name), control);
  self->send(self, connect_atom::value);
  // Returns false when the worker should end.
  auto retry = [self, control](const error& e) {
    if (control->stop.load())
      return false;
    if (self->state.session->failed(e))
      return false;
    log_message(elevel::log,
                "logical replication apply worker for subscription \"" +
                    self->state.session->name() + "\" will restart in " +
                    std::to_string(self->state.backoff.count()) + " ms");
    self->delayed_send(self, self->state.backoff, connect_atom::value);
    self->state.backoff = std::min<std::chrono::milliseconds>(
        self->state.backoff * 2, std::chrono::milliseconds(30000));
    return true;
  };
  return {
      [=](connect_atom) {
        if (control->stop.load()) {
          self->quit();
          return;
        }
        if (auto st = self->state.session->start(); !st) {
          if (st.err().code == "57P01" || !retry(st.err()))
            self->quit();
          return;
        }
        self->send(self, pump_atom::value);
      },
      [=](pump_atom) {
        if (control->stop.load()) {
          self->quit();
          return;
        }
        auto got = self->state.session->step(100ms);
        if (!got) {
          if (!retry(got.err()))
            self->quit();
          return;
        }
        if (self->state.session->advanced())
          self->state.backoff = std::chrono::milliseconds(1000);
        if (*got)
          self->delayed_send(self, drain_interval, pump_atom::value);
        else
          self->send(self, pump_atom::value);
      },
  };
}

} // namespace

caf::actor spawn_apply_worker(caf::actor_system& system,
                              subscription_manager& manager, std::string name,
                              std::shared_ptr<worker_control> control) {
  return system.spawn<caf::detached>(apply_worker, &manager, std::move(name),
                                     std::move(control));
}

} // namespace walmux::actors::apply
