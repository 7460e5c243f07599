// Acquire and release: the part of SecureChannelPool on every caller's path (the line callers
// wait in is pool_waiting.cpp).
#include "securechannel/secure_channel_pool.hpp"

#include "pool/acquire_waiters.hpp"
#include "pool/affinity_keys.hpp"
#include "pool/connect_history.hpp"
#include "pool/connection_books.hpp"
#include "pool/connection_rules.hpp"
#include "pool/deferred_actions.hpp"
#include "pool/long_leases.hpp"
#include "pool/maintenance_state.hpp"
#include "pool/pool_telemetry.hpp"
#include "pool/shutdown_state.hpp"
#include "pool/tcp_liveness.hpp"
#include "pool/warm_policy.hpp"
#include "securechannel/pool_builder.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/post.hpp>

namespace securechannel {

using boost::system::error_code;
using detail::ConnectionState;
using detail::PooledConnection;

std::string ConnectFailure::describe() const {
  if (!error) return "";
  std::string text(error_kind(error));
  const std::string detail = tls.empty() ? error.message() : tls.describe();
  return text + ": " + detail;
}

PoolBuilder SecureChannelPool::builder(std::string endpoint) { return PoolBuilder(std::move(endpoint)); }

std::shared_ptr<SecureChannelPool> SecureChannelPool::create(executor_type executor, PoolConfig config) {
  if (auto problem = validate(config)) throw *problem;
  std::optional<ConfigError> tls_error;
  auto tls = ClientTlsContext::create(config.tls, tls_error);
  if (!tls) throw *tls_error;
  return std::shared_ptr<SecureChannelPool>(new SecureChannelPool(std::move(executor), std::move(config), std::move(tls)));
}

SecureChannelPool::SecureChannelPool(executor_type executor, PoolConfig config,
                                     std::shared_ptr<const ClientTlsContext> tls)
    : executor_(executor),
      config_(std::move(config)),
      limits_(limits_of(config_)),
      tls_(std::move(tls)),
      telemetry_(std::make_shared<detail::PoolTelemetry>()),
      books_(std::make_unique<detail::ConnectionBooks>(
          static_cast<std::uint64_t>(config_.random->uniform01() * 0x1.0p53))),
      warm_(std::make_unique<detail::WarmPolicy>(executor)),
      waiters_(std::make_unique<detail::AcquireWaiters>(executor)),
      maintenance_(std::make_unique<detail::MaintenanceState>(executor, config_.clock->now())),
      shutdown_(std::make_unique<detail::ShutdownState>(executor)),
      history_(std::make_unique<detail::ConnectHistory>(config_)),
      long_leases_(std::make_unique<detail::LongLeases>()),
      affinity_(std::make_unique<detail::AffinityKeys>(config_.affinity_max_keys)) {
  counters_.endpoint = config_.endpoint;
}

SecureChannelPool::~SecureChannelPool() = default;

void SecureChannelPool::start_acquire(AcquireHandler handler, Affinity affinity) {
  const std::uint64_t id = watch_cancellation(handler);
  Deferred deferred;
  {
    std::lock_guard lock(mutex_);
    PooledConnection* busy = nullptr;  // the affinity key's leased connection
    if (shutdown_->started) {
      deferred.complete(std::move(handler), errc::shutting_down);
    } else if (affinity.key.size() > max_affinity_key_bytes) {
      deferred.complete(std::move(handler), errc::affinity_key_too_long);
    } else if (!affinity.key.empty() && !affinity.may_move && (busy = key_busy_connection_locked(affinity.key))) {
      // Its connection is leased: the caller waits for that one, not for any.
      if (waiters_->everyone() >= limits_.max_pending) {
        ++counters_.pool_exhausted;
        deferred.complete(std::move(handler), errc::pool_exhausted);
      } else {
        wait_for_connection_locked(id, std::move(handler), std::move(affinity.key), busy->id());
      }
    } else if (PooledConnection* idle = pop_healthy_idle_locked(deferred, affinity.key)) {
      telemetry_->acquire_waits.record_microseconds(0);  // served at once: no wait
      deferred.complete(std::move(handler), {}, lease_locked(*idle, affinity.key));
    } else if (books_->total() < limits_.max_connections && books_->connecting() >= config_.max_connecting) {
      // Connects are paced: wait in line for one already on the way (each completion starts the
      // next while callers wait), as long as the line is not full.
      if (waiters_->everyone() >= limits_.max_pending) {
        ++counters_.pool_exhausted;
        deferred.complete(std::move(handler), errc::pool_exhausted);
      } else {
        enqueue_waiter_locked(id, std::move(handler), std::move(affinity.key));
      }
    } else if (books_->total() < limits_.max_connections) {
      if (!history_->breaker.allow_attempt()) {
        ++counters_.circuit_open_rejections;
        deferred.complete(std::move(handler), errc::circuit_open);
      } else {
        // The caller waits in line like everyone else: the new connection goes to the oldest
        // waiter, and if it fails, the oldest waiter learns why.
        enqueue_waiter_locked(id, std::move(handler), std::move(affinity.key));
        start_connect_locked(deferred);
      }
    } else if (history_->breaker.failing_fast()) {
      // At capacity with the upstream refusing connects: a caller would only wait behind leases
      // that may come back broken. Fail fast, as the callers already waiting were.
      ++counters_.circuit_open_rejections;
      deferred.complete(std::move(handler), errc::circuit_open);
    } else if (waiters_->everyone() >= limits_.max_pending) {
      ++counters_.pool_exhausted;
      deferred.complete(std::move(handler), errc::pool_exhausted);
    } else {
      enqueue_waiter_locked(id, std::move(handler), std::move(affinity.key));
    }
  }
  run(deferred);
}

std::optional<Lease> SecureChannelPool::try_acquire() {
  Deferred deferred;
  std::optional<Lease> lease;
  {
    std::lock_guard lock(mutex_);
    if (shutdown_->started) return std::nullopt;
    if (PooledConnection* idle = pop_healthy_idle_locked(deferred)) {
      telemetry_->acquire_waits.record_microseconds(0);  // as an async_acquire served at once
      lease = lease_locked(*idle);
    }
  }
  run(deferred);
  return lease;
}

PooledConnection* SecureChannelPool::pop_healthy_idle_locked(Deferred& deferred, std::string_view affinity_key) {
  const bool always_probe = config_.validate_after_inactivity.count() == 0;
  const auto now = always_probe ? Clock::time_point{} : config_.clock->now();
  while (!books_->idle().empty()) {
    // Without marks (a healthy pool) the warmest, with no call for the health scores' sake. A
    // caller with a key takes its key's connection when that one is idle (one that may move,
    // served from the line), else the one holding the fewest keys, so that keys spread.
    PooledConnection* candidate = nullptr;
    if (!affinity_key.empty()) {
      candidate = affinity_->find(affinity_key);
      if (!candidate || candidate->state_ != ConnectionState::idle) candidate = affinity_->fewest_keys(books_->idle());
    } else {
      candidate = maintenance_->health_marks.empty() ? books_->idle().back() : healthiest_warm_idle_locked();
    }
    if (always_probe || now - candidate->released_at_ >= config_.validate_after_inactivity) {
      if (candidate->channel().probe_idle(candidate->never_used()) != IdleHealth::healthy) {
        ++counters_.stale_discarded;
        remove_locked(*candidate, CloseReason::stale, deferred);
        continue;
      }
    }
    return candidate;
  }
  return nullptr;
}

Lease SecureChannelPool::lease_locked(PooledConnection& connection, std::string_view affinity_key) {
  transition(connection, ConnectionState::leased);
  connection.round_trips_at_lease_ = static_cast<std::uint32_t>(connection.stats().round_trips());
  const bool reused = connection.stats().leases() > 0;
  connection.stats().add_lease_locked();
  ++counters_.acquires;
  if (reused) ++counters_.reuses;
  const AffinityOutcome affinity =
      affinity_key.empty() ? AffinityOutcome::none : affinity_->bind(affinity_key, connection);
  return Lease(shared_from_this(), connection, reused, affinity);
}

void SecureChannelPool::hand_to_waiters_locked(Deferred& deferred) {
  while (!waiters_->empty()) {
    PooledConnection* idle = pop_healthy_idle_locked(deferred, waiters_->front().handler.affinity_key);
    if (!idle) {
      // Stale connections discarded on the way free capacity for those still waiting.
      connect_for_waiters_locked(deferred);
      return;
    }
    auto waiter = waiters_->pop_front();
    telemetry_->acquire_waits.record(std::chrono::steady_clock::now() - waiter.enqueued);
    deferred.complete(std::move(waiter.handler.complete), {}, lease_locked(*idle, waiter.handler.affinity_key));
  }
}

void SecureChannelPool::release(PooledConnection& returned) noexcept {
  Deferred deferred;
  {
    std::lock_guard lock(mutex_);
    long_leases_->forget(returned);  // a leased connection leaves its holder only here
    const auto leftover = returned.state_ == ConnectionState::leased ? returned.leftover_after_lease()
                                                                      : PooledConnection::Leftover::nothing;
    // A connection the pool asked back ends for that reason, even when its holder could not
    // leave it reusable (an HTTP/2 session that sent its GOAWAY); one abandoned mid-reply does
    // not: what it still receives is a peer's, not ours.
    const bool retired = returned.retire_reason_ != detail::RetireReason::none &&
                         leftover != PooledConnection::Leftover::abandoned;
    const auto now = config_.clock->now();
    if (returned.state_ != ConnectionState::leased) {
      // Shutdown already force-closed it; it only needs to leave the books.
      if (returned.state_ != ConnectionState::closed) remove_locked(returned, CloseReason::shutdown, deferred);
    } else if (leftover != PooledConnection::Leftover::nothing && !retired) {
      remove_locked(returned, leftover == PooledConnection::Leftover::abandoned ? CloseReason::abandoned : CloseReason::broken,
                    deferred);
      if (!shutdown_->started) {
        connect_for_waiters_locked(deferred);
        // Kept warm at once, not at the next cleanup pass: a caller that uses each connection
        // once (the daemon's tcp listener) would otherwise find min_idle empty and handshake.
        top_up_locked(deferred);
      }
    } else if (shutdown_->started) {
      remove_locked(returned, CloseReason::shutdown, deferred);
    } else if (books_->live().size() > limits_.max_connections) {
      remove_locked(returned, CloseReason::over_limit, deferred);
    } else if (retired || past_lifetime_locked(returned, now)) {
      remove_locked(returned, retire_close_reason(returned.retire_reason_), deferred);
      connect_for_waiters_locked(deferred);
      top_up_locked(deferred);
    } else if (config_.max_requests_per_connection != 0 &&
               returned.stats().leases() >= config_.max_requests_per_connection) {
      remove_locked(returned, CloseReason::max_requests, deferred);
      connect_for_waiters_locked(deferred);
      top_up_locked(deferred);
    } else {
      transition(returned, ConnectionState::idle);
      returned.released_at_ = now;
      if (maintenance_->health_marks.stall_us != 0) note_release_health_locked(returned);
      // A caller waiting for this connection (its affinity key's) comes before the line.
      if (!serve_waiting_for_locked(returned, deferred)) hand_to_waiters_locked(deferred);
      release_memory_if_due_locked();
    }
    if (!waiters_->for_connection.empty() && returned.state_ != ConnectionState::leased &&
        returned.state_ != ConnectionState::idle) {
      reroute_waiting_for_locked(returned.id(), deferred);
    }
    maybe_finish_shutdown_locked(deferred);
  }
  run(deferred);
}

void SecureChannelPool::connect_for_waiters_locked(Deferred& deferred) {
  while (waiters_->size() > books_->connecting() && books_->total() < limits_.max_connections &&
         books_->connecting() < config_.max_connecting) {
    if (!history_->breaker.allow_attempt()) {
      // Fail fast while the breaker is open, and when nothing could ever serve them (no connect
      // on the way, no lease coming back). A half-open probe in flight may still serve them.
      if (history_->breaker.failing_fast() || (books_->connecting() == 0 && books_->leased() == 0)) {
        fail_waiters_locked(errc::circuit_open, deferred);
      }
      return;
    }
    start_connect_locked(deferred);
  }
}

bool SecureChannelPool::past_lifetime_locked(const PooledConnection& connection, Clock::time_point now) const {
  return detail::past_lifetime(now - connection.created_, limits_.max_lifetime, config_.max_lifetime_jitter,
                               connection.id(), books_->lifetime_seed());
}

void SecureChannelPool::transition(PooledConnection& connection, ConnectionState to) {
  books_->move(connection, to);
  if (to == ConnectionState::idle) {
    if (warm_->on_idle_came_to_rest(books_->leased())) {
      cool_idle_beyond_warm_limit_locked();  // at rest: only the few on top stay warm
    } else if (books_->idle().size() > warm_->warm_idle_limit()) {
      // LIFO reuse hands out the top of the stack first: the connection that just sank below
      // the warm ones will not be needed soon, and gives its buffers back.
      cool_locked(*books_->idle()[books_->idle().size() - 1 - warm_->warm_idle_limit()]);
    }
  } else if (to == ConnectionState::leased) {
    warm_->on_leased(books_->leased());
    connection.channel().set_warm(true);
  }
}

void SecureChannelPool::log(LogLevel level, std::uint64_t connection_id, std::string_view message) const {
  const PoolLogLine line{.level = level,
                         .pool = config_.metric_namespace,
                         .endpoint = config_.endpoint,
                         .connection_id = connection_id,
                         .message = message};
  if (config_.log_sink) return config_.log_sink(line);
  log_to_spdlog(line);
}

void SecureChannelPool::run(Deferred& deferred) {
  if (!deferred.pending) return;
  Deferred::Actions& actions = *deferred.pending;
  for (const auto& line : actions.log_lines) log(line.level, line.connection_id, line.message);
  for (auto& connection : actions.connects) {
    connection->channel().async_connect(config_.host, config_.port, config_.connect_timeout,
                                        config_.dns_refresh_interval, [self = shared_from_this(), connection](error_code error) {
                                          if (!error) {
                                            error = detail::apply_tcp_liveness(connection->channel().socket(),
                                                                               self->config_);
                                          }
                                          self->on_connected(connection, error);
                                        });
  }
  for (auto& connection : actions.graceful_closes) {
    // close_notify is worth at most a second: the peer may be gone already.
    connection->channel().async_shutdown(std::chrono::seconds(1),
                                         [self = shared_from_this(), connection](error_code) {
                                           self->on_closed(connection);
                                         });
  }
  for (auto& connection : actions.abrupt_closes) {
    if (connection->operations_in_flight_.load(std::memory_order_relaxed) > 0) {
      // An operation of the former lease holder is still pending, maybe on another thread:
      // shut the connection down under it; the descriptor closes with the last reference.
      connection->channel().abort();
    } else {
      connection->channel().close();
    }
  }
  for (auto& completion : actions.completions) {
    boost::asio::post(executor_, boost::asio::append(std::move(completion.handler), completion.error,
                                                     std::move(completion.lease)));
  }
  for (auto& listener : actions.retire_listeners) listener();
  for (auto& handler : actions.shutdown_completions) {
    boost::asio::post(executor_, boost::asio::append(std::move(handler), actions.shutdown_error));
  }
}

}  // namespace securechannel
