// WeakRegistry: the objects a server has open (its sessions), held weakly, so that a drain or a
// shutdown can reach each one without keeping any alive. Each object adds itself when it starts
// and removes itself in its destructor. Thread-safe.
//
//   WeakRegistry<Session> sessions;
//   sessions.add(session);                                 // on accept
//   sessions.remove(this);                                 // in ~Session()
//   sessions.for_each_alive([](Session& s) { s.close(); }); // shutdown
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace securechannel::detail {

template <class T>
class WeakRegistry {
 public:
  void add(const std::shared_ptr<T>& item) {
    std::lock_guard lock(mutex_);
    items_.emplace(item.get(), item);
  }

  void remove(const T* item) {
    std::lock_guard lock(mutex_);
    items_.erase(item);
  }

  // Calls `act` on every object still alive, outside the lock: `act` may end the object at
  // once, and the last reference, dropped here, runs a destructor that calls remove().
  template <class Act>
  void for_each_alive(Act&& act) {
    std::vector<std::shared_ptr<T>> alive;
    {
      std::lock_guard lock(mutex_);
      alive.reserve(items_.size());
      for (const auto& [address, item] : items_) {
        if (auto strong = item.lock()) alive.push_back(std::move(strong));
      }
    }
    for (const auto& item : alive) act(*item);
  }

 private:
  std::mutex mutex_;
  std::unordered_map<const T*, std::weak_ptr<T>> items_;
};

}  // namespace securechannel::detail
