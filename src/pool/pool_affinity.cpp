// Connection affinity (docs/POOL.md, "Connection affinity"): a key's own connection, the callers
// waiting for it, and what becomes of them when it closes. The key table is pool/affinity_keys.hpp.
#include "securechannel/secure_channel_pool.hpp"

#include "core/deadline.hpp"
#include "pool/acquire_waiters.hpp"
#include "pool/affinity_keys.hpp"
#include "pool/connection_books.hpp"
#include "pool/deferred_actions.hpp"
#include "pool/pool_telemetry.hpp"
#include "pool/shutdown_state.hpp"

#include <vector>

namespace securechannel {

using detail::ConnectionState;
using detail::PooledConnection;

std::string_view to_string(AffinityOutcome outcome) noexcept {
  switch (outcome) {
    case AffinityOutcome::none: return "none";
    case AffinityOutcome::new_key: return "new_key";
    case AffinityOutcome::kept: return "kept";
    case AffinityOutcome::moved: return "moved";
  }
  return "none";
}

std::optional<Lease> SecureChannelPool::try_acquire(const Affinity& affinity) {
  if (affinity.key.empty()) return try_acquire();
  if (affinity.key.size() > max_affinity_key_bytes) return std::nullopt;
  Deferred deferred;
  std::optional<Lease> lease;
  {
    std::lock_guard lock(mutex_);
    if (shutdown_->started) return std::nullopt;
    // Its key's idle connection first, else (no connection, or a move allowed) another idle one.
    PooledConnection* chosen = !affinity.may_move && key_busy_connection_locked(affinity.key)
                                   ? nullptr
                                   : pop_healthy_idle_locked(deferred, affinity.key);
    if (chosen) {
      telemetry_->acquire_waits.record_microseconds(0);
      lease = lease_locked(*chosen, affinity.key);
    }
  }
  run(deferred);
  return lease;
}

PooledConnection* SecureChannelPool::key_busy_connection_locked(std::string_view key) {
  PooledConnection* own = affinity_->find(key);
  if (!own || own->state_ == ConnectionState::idle) return nullptr;
  // One that closes when it comes back (asked back, past its lifetime or its requests) is as
  // good as gone: waiting for it would only end in the key moving, later.
  const bool closes_on_release =
      own->retire_reason_ != detail::RetireReason::none || past_lifetime_locked(*own, config_.clock->now()) ||
      (config_.max_requests_per_connection != 0 && own->stats().leases() >= config_.max_requests_per_connection);
  return closes_on_release ? nullptr : own;
}

void SecureChannelPool::wait_for_connection_locked(std::uint64_t id, AcquireHandler handler, std::string key,
                                                   std::uint64_t connection_id) {
  const auto now = std::chrono::steady_clock::now();
  waiters_->for_connection.push(id, detail::QueuedAcquire{std::move(handler), std::move(key), connection_id}, now,
                                detail::deadline_after(now, limits_.acquire_timeout));
  arm_waiter_timer_locked();
}

bool SecureChannelPool::serve_waiting_for_locked(PooledConnection& connection, Deferred& deferred) {
  auto waiter = waiters_->take_waiting_for(connection.id());
  if (!waiter) return false;
  telemetry_->acquire_waits.record(std::chrono::steady_clock::now() - waiter->enqueued);
  deferred.complete(std::move(waiter->handler.complete), {}, lease_locked(connection, waiter->handler.affinity_key));
  return true;
}

void SecureChannelPool::reroute_waiting_for_locked(std::uint64_t connection_id, Deferred& deferred) {
  std::vector<detail::AcquireWaiters::Waiter> orphans;
  while (auto waiter = waiters_->take_waiting_for(connection_id)) orphans.push_back(std::move(*waiter));
  if (orphans.empty()) return;
  // They waited longest: the head of the line, in their order. Their keys move to whatever
  // connection serves them, and Lease::affinity() tells them.
  for (auto orphan = orphans.rbegin(); orphan != orphans.rend(); ++orphan) {
    orphan->handler.connection_id = 0;
    waiters_->push_front(orphan->id, std::move(orphan->handler), orphan->enqueued, orphan->deadline);
  }
  hand_to_waiters_locked(deferred);
}

std::uint64_t SecureChannelPool::affinity_connection_id(std::string_view key) {
  std::lock_guard lock(mutex_);
  const PooledConnection* own = affinity_->find(key);
  return own ? own->id() : 0;
}

AffinityOutcome SecureChannelPool::bind_affinity(std::string_view key, std::uint64_t connection_id) {
  std::lock_guard lock(mutex_);
  if (const PooledConnection* own = affinity_->find(key); own && own->id() == connection_id) {
    return AffinityOutcome::kept;
  }
  // A new or moved key: a walk over the connections, once per key (a multiplexing pool has few).
  for (const auto& connection : books_->live()) {
    if (connection->id() == connection_id) return affinity_->bind(key, *connection);
  }
  return AffinityOutcome::new_key;  // the connection closed meanwhile: nothing to bind to
}

}  // namespace securechannel
