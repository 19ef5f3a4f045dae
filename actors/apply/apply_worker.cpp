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

// While the stream is busy, the worker waits this long after each step
// before it reads again, so that the publisher's messages pile up in the
// socket: the walsender then sends in large writes instead of one per
// message (see source.cpp). With 10ms the walsender spent 1.75 s of CPU on
// 100,000 single-row transactions, with 100ms 1.1-1.4 s, as for a native
// subscriber; the walsender bounds the apply speed (and each step commits
// what it read: fewer, larger groups). The stream is busy from a step that
// finds busy_bytes or more until one finds less than quiet_bytes; while it
// is quiet the worker reads again at once (waiting in the socket for the
// next message), since a pause only adds latency there (it did: up to
// 100ms a change, median 48ms at 50 transactions a second,
// tools/bench/apply_lag.sh).
constexpr auto drain_interval = 100ms;
constexpr size_t busy_bytes = 64 << 10;
constexpr size_t quiet_bytes = 8 << 10;

struct worker_state {
  std::unique_ptr<apply_session> session;
  std::chrono::milliseconds backoff{1000};
  bool busy = false; // the stream (see drain_interval)
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
        bool& busy = self->state.busy;
        busy = busy ? *got >= quiet_bytes : *got >= busy_bytes;
        if (busy)
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
