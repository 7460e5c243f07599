// Settings a reload replaces while connections run (a listener's limits and timeouts): each
// connection takes the current snapshot when it is accepted and keeps it for its life, so a
// connection never sees its limits change half-way through a request; the next connection gets
// the new ones. Reading costs a lock and a shared_ptr copy, once per connection.
//
//   LiveSettings<HttpForwardOptions> settings{options};
//   std::shared_ptr<const HttpForwardOptions> mine = settings.current();  // a new connection
//   settings.replace(next);                                              // SIGHUP
#pragma once

#include <memory>
#include <mutex>
#include <utility>

namespace securechannel::daemon {

template <class Settings>
class LiveSettings {
 public:
  explicit LiveSettings(Settings initial) : current_(std::make_shared<const Settings>(std::move(initial))) {}

  std::shared_ptr<const Settings> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }

  void replace(Settings next) {
    auto fresh = std::make_shared<const Settings>(std::move(next));
    std::lock_guard lock(mutex_);
    current_.swap(fresh);
  }  // the old snapshot goes outside the lock (or with its last connection)

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Settings> current_;
};

}  // namespace securechannel::daemon
