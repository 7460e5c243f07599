// Opening and closing connections: the pool's side of establishment, the circuit breaker,
// min_idle top-up with backoff, and the books kept when a connection leaves.
#include "securechannel/secure_channel_pool.hpp"

#include "pool/acquire_waiters.hpp"
#include "pool/affinity_keys.hpp"
#include "pool/connect_history.hpp"
#include "pool/connection_books.hpp"
#include "pool/deferred_actions.hpp"
#include "pool/maintenance_state.hpp"
#include "pool/pool_telemetry.hpp"
#include "pool/shutdown_state.hpp"
#include "pool/warm_policy.hpp"
#include "tls/tls_session_cache.hpp"

#include <algorithm>

namespace securechannel {

using boost::system::error_code;
using detail::ConnectionState;
using detail::PooledConnection;

void SecureChannelPool::start_connect_locked(Deferred& deferred) {
  PooledConnection& connection = books_->open(std::make_shared<PooledConnection>(
      books_->next_id(), executor_, tls_, config_.clock->now(), telemetry_));
  deferred.actions().connects.push_back(connection.shared_from_this());
}

void SecureChannelPool::on_connected(const std::shared_ptr<PooledConnection>& connection, error_code error) {
  Deferred deferred;
  {
    std::lock_guard lock(mutex_);
    if (connection->state_ != ConnectionState::connecting) return;  // shutdown took it already
    if (error) {
      remove_locked(*connection, CloseReason::connect_failed, deferred);
      if (!shutdown_->started) {
        history_->breaker.record_failure();
        ++counters_.connect_failures;
        counters_.connect_failing = true;
        telemetry_->record_error(error);
        history_->last_failure = {error, connection->channel().tls_failure(), config_.clock->wall_now()};
        warm_->on_connect_failed(config_.clock->now(), history_->backoff);
        deferred.actions().log_lines.push_back(
            {LogLevel::warn, connection->id(), "connect to " + config_.endpoint + " failed: " + history_->last_failure.describe()});
        // More callers waiting than connections on the way: the oldest one was counting on this
        // connection, so it gets the reason rather than a later acquire_timeout.
        if (waiters_->size() > books_->connecting()) {
          deferred.complete(std::move(waiters_->pop_front().handler.complete), error);
        }
        if (history_->breaker.state() == CircuitState::open) {
          // This failure opened the breaker: the upstream is down, and callers queued behind busy
          // leases would otherwise wait out acquire_timeout for a lease that may never come back.
          fail_waiters_locked(errc::circuit_open, deferred);
        } else {
          // Others still waiting get their own attempt (each failure answers one of them, and
          // the breaker stops the sequence), rather than idling until acquire_timeout.
          connect_for_waiters_locked(deferred);
        }
      }
    } else {
      history_->breaker.record_success();
      warm_->on_connected();
      counters_.connect_failing = false;
      // A plain connection has no handshake: no zero samples in the TLS handshake histogram.
      if (!connection->channel().plain()) telemetry_->handshakes.record(connection->channel().handshake_duration());
      history_->established = true;
      ++counters_.connections_created;
      if (connection->channel().resumed_session()) ++counters_.tls_resumed;
      record_upstream_certificate_locked(*connection, deferred);
      if (!history_->lineage.empty()) {
        connection->reconnects_ = static_cast<std::uint32_t>(history_->lineage.back() + 1);
        history_->lineage.pop_back();
        ++counters_.reconnects;
      }
      transition(*connection, ConnectionState::idle);
      connection->released_at_ = config_.clock->now();
      if (shutdown_->started) {
        remove_locked(*connection, CloseReason::shutdown, deferred);
      } else if (books_->live().size() > limits_.max_connections && waiters_->empty()) {
        // Started before update_limits() lowered max_connections: not kept above it.
        remove_locked(*connection, CloseReason::over_limit, deferred);
      } else {
        hand_to_waiters_locked(deferred);
        connect_for_waiters_locked(deferred);  // connects are paced: the next one for those still waiting
        if (warm_->topping_up()) top_up_locked(deferred);  // a warm-up continues as its connects complete
      }
    }
    maybe_finish_shutdown_locked(deferred);
  }
  run(deferred);
}

void SecureChannelPool::remove_locked(PooledConnection& connection, CloseReason reason, Deferred& deferred) {
  std::shared_ptr<PooledConnection> owned = books_->take_out(connection);
  if (!maintenance_->health_marks.empty()) maintenance_->health_marks.forget(connection);
  if (!affinity_->empty()) affinity_->forget_connection(connection);

  bool graceful = true;
  bool replaceable = true;
  switch (reason) {
    case CloseReason::idle_timeout: ++counters_.closed_idle_timeout; replaceable = false; break;
    case CloseReason::max_lifetime: ++counters_.closed_max_lifetime; break;
    case CloseReason::max_requests: ++counters_.closed_max_requests; break;
    case CloseReason::tls_reload: ++counters_.closed_tls_reload; break;
    case CloseReason::latency: ++counters_.closed_latency; break;
    case CloseReason::unhealthy: ++counters_.closed_unhealthy; break;
    case CloseReason::stale: graceful = false; break;
    case CloseReason::broken: ++counters_.closed_broken; graceful = false; break;
    // A reply may be on its way: close_notify would wait behind it for nothing.
    case CloseReason::abandoned: ++counters_.closed_abandoned; graceful = false; break;
    case CloseReason::shutdown: replaceable = false; break;
    case CloseReason::connect_failed: graceful = false; replaceable = false; break;
    case CloseReason::over_limit: replaceable = false; break;  // max_connections was lowered
  }
  if (reason != CloseReason::connect_failed) ++counters_.connections_closed;
  if (replaceable && !shutdown_->started) history_->lineage.push_back(connection.reconnects_);
  if (!connection.channel().usable()) graceful = false;  // nothing to say close_notify over
  // A retired connection its holder left unusable (an HTTP/2 session that ended, an operation
  // still pending): close_notify could run beside that operation.
  if (connection.broken_.load(std::memory_order_relaxed) ||
      connection.operations_in_flight_.load(std::memory_order_acquire) != 0) {
    graceful = false;
  }

  if (graceful) {
    transition(connection, ConnectionState::closing);
    deferred.actions().graceful_closes.push_back(std::move(owned));
  } else {
    transition(connection, ConnectionState::closed);
    deferred.actions().abrupt_closes.push_back(std::move(owned));
  }
}

void SecureChannelPool::on_closed(const std::shared_ptr<PooledConnection>& connection) {
  Deferred deferred;
  {
    std::lock_guard lock(mutex_);
    if (connection->state_ == ConnectionState::closing) transition(*connection, ConnectionState::closed);
    if (!shutdown_->started) connect_for_waiters_locked(deferred);  // its socket no longer counts
    maybe_finish_shutdown_locked(deferred);
  }
  run(deferred);
}

namespace {
// Warm-up opens connections a few at a time: N handshakes at once leave their transient buffers
// interleaved with the long-lived SSL objects on the heap (measured: +7 KB resident per idle
// connection for N = 1000), and finish no sooner on a small machine.
constexpr std::size_t max_warm_up_connects_in_flight = 16;
// ... and only one while no connection is established (a cold pool, or one that lost them all):
// the rest then resume its TLS session (cheaper handshakes, 4 KB less per connection), and an
// upstream that is down or just recovering sees one attempt rather than a burst.
constexpr std::size_t cold_start_connects_in_flight = 1;
}  // namespace

std::size_t SecureChannelPool::warm_up_connects_allowed_locked() const {
  if (!history_->established) return cold_start_connects_in_flight;
  // Paced by the session tickets at hand, when the upstream issues them: a connect started
  // without one would be a full handshake, 4 KB more per idle connection for the pool's life.
  // Each connect that waits for its own tickets (SecureChannel) brings more.
  const detail::TlsSessionCache* cache = tls_->session_cache();
  if (cache == nullptr || cache->tickets_received_total() == 0) return max_warm_up_connects_in_flight;
  return std::clamp<std::size_t>(cache->size(), cold_start_connects_in_flight, max_warm_up_connects_in_flight);
}

void SecureChannelPool::top_up_locked(Deferred& deferred) {
  if (shutdown_->started || !warm_->top_up_allowed(config_.clock->now())) return;
  warm_->set_topping_up(books_->idle().size() + books_->connecting() < limits_.min_idle);
  const std::size_t in_flight_limit = std::min(warm_up_connects_allowed_locked(), config_.max_connecting);
  while (books_->idle().size() + books_->connecting() < limits_.min_idle && books_->total() < limits_.max_connections &&
         books_->connecting() < in_flight_limit && history_->breaker.allow_attempt()) {
    start_connect_locked(deferred);
  }
}

void SecureChannelPool::warm_up() {
  Deferred deferred;
  {
    std::lock_guard lock(mutex_);
    top_up_locked(deferred);
  }
  run(deferred);
}

}  // namespace securechannel
