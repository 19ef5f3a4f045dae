// settings_holder.hpp: the node's settings as of the last reload, readable
// from any thread (admin sessions' SHOW, the admin catalog), replaced by
// the main thread on SIGHUP.
#pragma once

#include "config/settings.hpp"

#include <memory>
#include <mutex>

namespace walmux::actors {

class settings_holder {
 public:
  std::shared_ptr<const config::settings> get() const {
    std::lock_guard g(mu_);
    return current_;
  }
  void set(const config::settings& s) {
    auto fresh = std::make_shared<const config::settings>(s);
    std::lock_guard g(mu_);
    current_ = std::move(fresh);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const config::settings> current_;
};

} // namespace walmux::actors
