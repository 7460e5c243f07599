// Retiring leased connections: the pool wants a connection back (max_lifetime passed,
// reload_tls() replaced its material, shutdown) but never takes it from under its holder. It
// marks the connection, which closes when its lease ends, and tells a holder that keeps its
// lease for long (an HTTP/2 session) through Lease::on_retire, so that it drains.
#include "securechannel/secure_channel_pool.hpp"

#include "pool/deferred_actions.hpp"
#include "pool/shutdown_state.hpp"

#include <algorithm>

namespace securechannel {

using detail::PooledConnection;
using detail::RetireReason;

SecureChannelPool::CloseReason SecureChannelPool::retire_close_reason(RetireReason reason) noexcept {
  switch (reason) {
    case RetireReason::tls_reload: return CloseReason::tls_reload;
    case RetireReason::latency: return CloseReason::latency;
    case RetireReason::none:  // past max_lifetime without having been asked back yet
    case RetireReason::max_lifetime: break;
  }
  return CloseReason::max_lifetime;
}

void SecureChannelPool::retire_locked(PooledConnection& connection, RetireReason reason, Deferred& deferred) {
  if (connection.retire_reason_ == RetireReason::none) connection.retire_reason_ = reason;
  notify_retire_locked(connection, deferred);
}

void SecureChannelPool::notify_retire_locked(const PooledConnection& connection, Deferred& deferred) {
  const auto found = std::find_if(retire_listeners_.begin(), retire_listeners_.end(),
                                  [&](const auto& entry) { return entry.first == &connection; });
  if (found == retire_listeners_.end()) return;
  deferred.actions().retire_listeners.push_back(std::move(found->second));
  retire_listeners_.erase(found);
}

void SecureChannelPool::watch_retire(PooledConnection& connection, std::function<void()> listener) {
  {
    std::lock_guard lock(mutex_);
    const bool wanted_back = connection.retire_reason_ != RetireReason::none || shutdown_->started;
    if (!wanted_back) {
      forget_retire_listener_locked(connection);  // one listener per lease: the last one set
      retire_listeners_.emplace_back(&connection, std::move(listener));
      return;
    }
  }
  listener();  // outside the lock: it may call back into the pool
}

void SecureChannelPool::forget_retire_listener_locked(const PooledConnection& connection) {
  std::erase_if(retire_listeners_, [&](const auto& entry) { return entry.first == &connection; });
}

}  // namespace securechannel
