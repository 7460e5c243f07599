// Retiring leased connections: the pool wants a connection back (max_lifetime passed,
// reload_tls() replaced its material, latency, a multiplexed connection idle for idle_timeout,
// shutdown) but never takes it from under its holder. It marks the connection, which closes
// when its lease ends, and tells a holder that keeps its lease for long (an HTTP/2 session)
// through Lease::on_retire, so that it drains.
#include "securechannel/secure_channel_pool.hpp"

#include "pool/deferred_actions.hpp"
#include "pool/long_leases.hpp"
#include "pool/shutdown_state.hpp"

#include <algorithm>

namespace securechannel {

using detail::PooledConnection;
using detail::RetireReason;

SecureChannelPool::CloseReason SecureChannelPool::retire_close_reason(RetireReason reason) noexcept {
  switch (reason) {
    case RetireReason::tls_reload: return CloseReason::tls_reload;
    case RetireReason::latency: return CloseReason::latency;
    case RetireReason::idle: return CloseReason::idle_timeout;
    case RetireReason::unhealthy: return CloseReason::unhealthy;
    case RetireReason::max_requests: return CloseReason::max_requests;
    case RetireReason::shutdown: return CloseReason::shutdown;
    case RetireReason::none:  // past max_lifetime without having been asked back yet
    case RetireReason::max_lifetime: break;
  }
  return CloseReason::max_lifetime;
}

void SecureChannelPool::retire_locked(PooledConnection& connection, RetireReason reason, Deferred& deferred) {
  if (connection.retire_reason_ == RetireReason::none) connection.retire_reason_ = reason;
  notify_retire_locked(connection, connection.retire_reason_, deferred);
}

void SecureChannelPool::notify_retire_locked(const PooledConnection& connection, RetireReason reason,
                                             Deferred& deferred) {
  auto listener = long_leases_->take_listener(connection);
  if (!listener) return;
  deferred.actions().retire_listeners.push_back(
      [listener = std::move(listener), reason] { listener(reason); });
}

void SecureChannelPool::watch_retire(PooledConnection& connection, std::function<void(RetireReason)> listener) {
  RetireReason wanted_back = RetireReason::none;
  {
    std::lock_guard lock(mutex_);
    wanted_back = shutdown_->started ? RetireReason::shutdown : connection.retire_reason_;
    // One listener per lease: the last one set.
    if (wanted_back == RetireReason::none) {
      long_leases_->entry(connection).listener = std::move(listener);
      return;
    }
  }
  listener(wanted_back);  // outside the lock: it may call back into the pool
}

void SecureChannelPool::share_slots(PooledConnection& connection, std::shared_ptr<const detail::LeaseSlots> slots) {
  std::lock_guard lock(mutex_);
  if (connection.state_ != detail::ConnectionState::leased || !slots) return;
  detail::LongLeases::Entry& entry = long_leases_->entry(connection);
  // Idle from now until a stream starts: a session opened ahead of its streams counts too.
  entry.started_seen = slots->started.load(std::memory_order_acquire);
  entry.failures_seen = slots->failed.load(std::memory_order_relaxed);
  entry.quiet_since = config_.clock->now();
  entry.quiet = slots->in_use.load(std::memory_order_acquire) == 0;
  entry.slots = std::move(slots);
}

void SecureChannelPool::holder_retires(PooledConnection& connection, RetireReason reason) {
  std::lock_guard lock(mutex_);
  if (connection.state_ == detail::ConnectionState::leased && connection.retire_reason_ == RetireReason::none) {
    connection.retire_reason_ = reason;
  }
}

void SecureChannelPool::suggest_idle_retire_locked(const PooledConnection& connection, Deferred& deferred) {
  detail::LongLeases::Entry* entry = long_leases_->find(connection);
  if (!entry || !entry->listener) return;
  deferred.actions().retire_listeners.push_back([listener = entry->listener] { listener(RetireReason::idle); });
}

}  // namespace securechannel
