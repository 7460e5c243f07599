// Explicit background work: the cleanup pass and its timer, and shutdown. Nothing here runs
// unless the caller asked for it.
#include "securechannel/secure_channel_pool.hpp"

#include "pool/acquire_waiters.hpp"
#include "pool/connect_history.hpp"
#include "pool/connection_books.hpp"
#include "pool/connection_rules.hpp"
#include "pool/deferred_actions.hpp"
#include "pool/long_leases.hpp"
#include "pool/maintenance_state.hpp"
#include "pool/pool_telemetry.hpp"
#include "pool/shutdown_state.hpp"
#include "pool/warm_policy.hpp"

#include <algorithm>
#include <optional>
#include <vector>

namespace securechannel {

using boost::system::error_code;
using detail::ConnectionState;
using detail::PooledConnection;

std::size_t SecureChannelPool::run_cleanup_once() {
  Deferred deferred;
  std::size_t closed = 0;
  {
    std::lock_guard lock(mutex_);
    if (shutdown_->started) return 0;
    const auto now = config_.clock->now();
    const detail::CleanupLimits limits{.idle_timeout = limits_.idle_timeout,
                                       .latency_threshold = limits_.latency_threshold};
    // Oldest idle first, so that idle_timeout trims the cold end and keeps the warm set.
    const std::vector<PooledConnection*> idle_snapshot = books_->idle();
    for (PooledConnection* connection : idle_snapshot) {
      switch (detail::idle_close_reason(facts_locked(*connection, now), limits)) {
        case detail::CleanupVerdict::max_lifetime:
          remove_locked(*connection, CloseReason::max_lifetime, deferred);
          break;
        case detail::CleanupVerdict::idle_timeout:
          remove_locked(*connection, CloseReason::idle_timeout, deferred);
          break;
        case detail::CleanupVerdict::latency:
          remove_locked(*connection, CloseReason::latency, deferred);
          break;
        case detail::CleanupVerdict::keep:
          if (connection->channel().probe_idle(connection->never_used()) == IdleHealth::healthy) continue;
          ++counters_.stale_discarded;
          remove_locked(*connection, CloseReason::stale, deferred);
          break;
      }
      ++closed;
    }
    retire_leased_locked(now, limits, deferred);
    closed += score_connections_locked(now, deferred);
    if (now - maintenance_->histograms_rotated_at >= config_.histogram_rotation_interval) {
      // Bounds the window of the recent quantiles; the cumulative series keep every sample.
      maintenance_->histograms_rotated_at = now;
      telemetry_->round_trips.rotate();
      telemetry_->acquire_waits.rotate();
      telemetry_->handshakes.rotate();
    }
    // The busy period that warmed more idle connections than the few is judged over: keep
    // warm only as many as are leased now.
    warm_->on_maintenance(books_->leased());
    cool_idle_beyond_warm_limit_locked();
    release_memory_if_due_locked();
    // A long-lived pool sees its upstream's certificate approach its end between handshakes.
    check_certificate_expiry_locked(deferred);
    // Seed 001 bug #1: "established" must fall back once the pool has emptied.
    if (books_->live().empty()) history_->established = false;
    top_up_locked(deferred);
  }
  run(deferred);
  return closed;
}

detail::ConnectionFacts SecureChannelPool::facts_locked(const PooledConnection& connection,
                                                        Clock::time_point now) const {
  const std::uint64_t round_trips = connection.stats().round_trips();
  // The quantile is read only where there are samples enough for the latency rule.
  const bool enough_samples = round_trips >= detail::min_samples_for_latency_eviction;
  return detail::ConnectionFacts{.past_lifetime = past_lifetime_locked(connection, now),
                                 .idle_for = now - connection.released_at_,
                                 .above_min_idle = books_->idle().size() > limits_.min_idle,
                                 .round_trips = round_trips,
                                 .p95_ms = enough_samples ? connection.stats().latency_quantile_ms(0.95) : 0.0};
}

void SecureChannelPool::retire_leased_locked(Clock::time_point now, const detail::CleanupLimits& limits,
                                             Deferred& deferred) {
  // A multiplexed connection (an HTTP/2 session) that ran no exchange for a while is as idle as
  // a connection on the idle stack, and min_idle counts both; one already asked back counts as
  // neither. So first how long each session has been quiet, then the rules.
  struct LeasedConnection {
    PooledConnection* connection;
    std::optional<Clock::duration> quiet_for;  // nullopt: it does not multiplex
  };
  std::vector<LeasedConnection> leased;
  std::size_t idle_now = books_->idle().size();
  for (auto& connection : books_->live()) {
    if (connection->state_ != ConnectionState::leased || connection->retire_reason_ != detail::RetireReason::none) {
      continue;
    }
    const auto quiet_for = long_leases_->quiet_for(*connection, now);
    leased.push_back({connection.get(), quiet_for});
    if (quiet_for && *quiet_for > Clock::duration::zero()) ++idle_now;
  }
  for (const LeasedConnection& entry : leased) {
    detail::ConnectionFacts facts = facts_locked(*entry.connection, now);
    facts.multiplexed = entry.quiet_for.has_value();
    facts.idle_for = entry.quiet_for.value_or(Clock::duration::zero());
    facts.above_min_idle = idle_now > limits_.min_idle;
    switch (detail::leased_retire_reason(facts, limits)) {
      case detail::CleanupVerdict::max_lifetime:
        retire_locked(*entry.connection, detail::RetireReason::max_lifetime, deferred);
        break;
      case detail::CleanupVerdict::idle_timeout:
        // Only suggested: a stream may start before the session hears it, and the session, on
        // its strand, is the one that knows (LeaseInternals::retiring_for).
        suggest_idle_retire_locked(*entry.connection, deferred);
        --idle_now;
        break;
      case detail::CleanupVerdict::latency:
        // An HTTP/2 session behind a slow path is never idle to be evicted: asked back instead.
        retire_locked(*entry.connection, detail::RetireReason::latency, deferred);
        break;
      case detail::CleanupVerdict::keep:
        break;
    }
  }
}

void SecureChannelPool::run_cleanup_task() {
  {
    std::lock_guard lock(mutex_);
    if (maintenance_->cleanup_task_running || shutdown_->started) return;
    maintenance_->cleanup_task_running = true;
    maintenance_->cleanup_timer.expires_after(config_.cleanup_interval);
    maintenance_->cleanup_timer.async_wait([weak = weak_from_this()](error_code error) {
      if (auto self = weak.lock()) self->on_cleanup_tick(error);
    });
  }
  warm_up();
}

void SecureChannelPool::on_cleanup_tick(error_code error) {
  if (error == boost::asio::error::operation_aborted) return;
  run_cleanup_once();
  std::lock_guard lock(mutex_);
  if (shutdown_->started) return;
  maintenance_->cleanup_timer.expires_after(config_.cleanup_interval);
  maintenance_->cleanup_timer.async_wait([weak = weak_from_this()](error_code next_error) {
    if (auto self = weak.lock()) self->on_cleanup_tick(next_error);
  });
}

void SecureChannelPool::start_shutdown(std::chrono::milliseconds grace, ShutdownHandler handler) {
  Deferred deferred;
  {
    std::lock_guard lock(mutex_);
    if (shutdown_->complete) {
      if (shutdown_->grace_expired) deferred.actions().shutdown_error = boost::asio::error::timed_out;
      deferred.actions().shutdown_completions.push_back(std::move(handler));
    } else {
      shutdown_->handlers.push_back(std::move(handler));
    }
    if (!shutdown_->started) {
      shutdown_->started = true;
      waiters_->take_everyone(
          [&](auto&& waiter) { deferred.complete(std::move(waiter.handler.complete), errc::shutting_down); });
      waiters_->timer.cancel();
      waiters_->timer_at = {};
      maintenance_->cleanup_timer.cancel();
      warm_->stop();
      while (!books_->idle().empty()) remove_locked(*books_->idle().back(), CloseReason::shutdown, deferred);
      for (auto& connection : books_->live()) {
        // A connect in flight ends with operation_aborted and leaves the books in on_connected.
        // abort(), not close(): the connect runs on whichever thread of the executor, and only
        // abort() is safe beside it (it never frees the descriptor's number under it).
        if (connection->state_ == ConnectionState::connecting) connection->channel().abort();
        // A holder that keeps its lease (an HTTP/2 session) drains within the grace period.
        if (connection->state_ == ConnectionState::leased) {
          notify_retire_locked(*connection, detail::RetireReason::shutdown, deferred);
        }
      }
      if (books_->leased() > 0) {
        shutdown_->grace_timer.expires_after(grace);
        shutdown_->grace_timer.async_wait([weak = weak_from_this()](error_code error) {
          if (auto self = weak.lock()) self->on_grace_expired(error);
        });
      }
    }
    maybe_finish_shutdown_locked(deferred);
  }
  run(deferred);
}

void SecureChannelPool::on_grace_expired(error_code error) {
  if (error == boost::asio::error::operation_aborted) return;
  Deferred deferred;
  {
    std::lock_guard lock(mutex_);
    shutdown_->grace_expired = true;
    for (auto& connection : books_->live()) {
      if (connection->state_ != ConnectionState::leased) continue;
      // The lease holder's operations fail (not_connected, or the failure the channel already
      // had); its Lease returns the connection as broken whenever it is destroyed.
      connection->mark_broken();
      connection->channel().abort();
    }
    maybe_finish_shutdown_locked(deferred);
  }
  run(deferred);
}

void SecureChannelPool::maybe_finish_shutdown_locked(Deferred& deferred) {
  if (!shutdown_->started || shutdown_->complete) return;
  if (!books_->settled_but_leases() || (books_->leased() > 0 && !shutdown_->grace_expired)) return;
  shutdown_->complete = true;
  shutdown_->grace_timer.cancel();
  if (shutdown_->grace_expired) deferred.actions().shutdown_error = boost::asio::error::timed_out;
  for (auto& handler : shutdown_->handlers) deferred.actions().shutdown_completions.push_back(std::move(handler));
  shutdown_->handlers.clear();
}

}  // namespace securechannel
