// SecureChannelPool: warm, verified TLS connections to one upstream, handed out as Leases.
//
//   boost::asio::io_context io;
//   auto pool = securechannel::SecureChannelPool::builder("relay.example.com:443")
//                   .with_max_connections(50)
//                   .with_min_idle(5)
//                   .build(io.get_executor());          // throws ConfigError naming the field
//   pool->run_cleanup_task();                          // optional, explicit background work
//   pool->async_acquire([](boost::system::error_code ec, securechannel::Lease lease) { ... });
//   io.run();
//
// Semantics (ARCHITECTURE.md "Pool semantics"): LIFO reuse of idle connections; a new connection
// when fewer than max_connections exist (connecting ones count); otherwise FIFO waiting for up to
// acquire_timeout, pool_exhausted beyond max_pending; a release goes straight to the oldest waiter.
// Dead idle connections are replaced at checkout without failing the caller. A circuit breaker
// fails acquires fast while the upstream keeps failing.
//
// Thread-safety: all member functions may be called from any thread. Completion handlers run on
// their associated executor (default: the pool's), never inside the initiating call. The pool
// starts no thread and no background work of its own.
#pragma once

#include "securechannel/affinity.hpp"
#include "securechannel/circuit_breaker.hpp"
#include "securechannel/client_tls_context.hpp"
#include "securechannel/config_error.hpp"
#include "securechannel/error.hpp"
#include "securechannel/lease.hpp"
#include "securechannel/pool_config.hpp"
#include "securechannel/pool_stats.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace securechannel {

class PoolBuilder;

namespace detail {
struct PoolTelemetry;
struct AcquireWaiters;
class ConnectionBooks;
struct ConnectHistory;
struct MaintenanceState;
struct ShutdownState;
class WarmPolicy;
class LongLeases;
class AffinityKeys;
struct LeaseSlots;
struct ConnectionFacts;
struct CleanupLimits;
struct LeaseInternals;
}

// The most recent failed connection attempt, with OpenSSL's reason when TLS was the cause.
struct ConnectFailure {
  boost::system::error_code error;
  TlsFailure tls;
  std::chrono::system_clock::time_point when{};
  // "certificate_verify_failed: certificate verify failed (verify result 62: hostname mismatch)"
  std::string describe() const;
};

class SecureChannelPool : public std::enable_shared_from_this<SecureChannelPool> {
 public:
  using executor_type = boost::asio::any_io_executor;
  using AcquireHandler = boost::asio::any_completion_handler<void(boost::system::error_code, Lease)>;
  using ShutdownHandler = boost::asio::any_completion_handler<void(boost::system::error_code)>;

  static PoolBuilder builder(std::string endpoint);
  // Validates `config` and builds the pool; throws ConfigError naming the field.
  static std::shared_ptr<SecureChannelPool> create(executor_type executor, PoolConfig config);

  ~SecureChannelPool();
  SecureChannelPool(const SecureChannelPool&) = delete;
  SecureChannelPool& operator=(const SecureChannelPool&) = delete;

  // Handler: void(boost::system::error_code, Lease). Errors: acquire_timeout, pool_exhausted,
  // circuit_open, shutting_down, and the connect errors (connect_refused, dns_failed,
  // connect_timeout, certificate_verify_failed, tls_handshake_failed) of a connection opened for
  // this caller. Cancellation (asio::bind_cancellation_slot; terminal, partial or total): a caller
  // still waiting in line leaves it and completes with operation_aborted; one already served or
  // failed is not affected. Emit from the thread or strand that started the acquire (Asio's rule
  // for cancellation slots). Shutdown fails every waiter.
  template <class Token>
  auto async_acquire(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, Lease)>(
        [self = shared_from_this()](auto handler) { self->start_acquire(AcquireHandler(std::move(handler))); },
        token);
  }

  // The same for a caller that keeps state per connection (affinity.hpp; docs/POOL.md,
  // "Connection affinity"): the key's connection while it lives, waited for while it is leased
  // (unless affinity.may_move), and Lease::affinity() says whether the caller got it. A key
  // without a connection goes to the idle connection holding the fewest keys, or waits in line
  // as any caller. Errors as above, and affinity_key_too_long. An empty key is no affinity.
  template <class Token>
  auto async_acquire(Affinity affinity, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, Lease)>(
        [self = shared_from_this()](auto handler, Affinity a) {
          self->start_acquire(AcquireHandler(std::move(handler)), std::move(a));
        },
        token, std::move(affinity));
  }

  // An idle connection right now, or nothing: never waits, never connects. The hot path for
  // callers that keep the pool warm.
  std::optional<Lease> try_acquire();
  // With a key: its connection when that one is idle; nothing while it is leased (unless
  // may_move) or when the key is too long; a key without a connection takes an idle one.
  std::optional<Lease> try_acquire(const Affinity& affinity);

  // Starts connections until min_idle are idle or connecting (subject to the breaker and the
  // reconnect backoff). run_cleanup_task() does this on every pass.
  void warm_up();

  // One maintenance pass: closes idle connections past idle_timeout, max_lifetime or the
  // latency threshold, or found dead; marks leased ones past max_lifetime or the latency
  // threshold for retirement and asks HTTP/2 sessions idle for idle_timeout to drain; scores
  // every connection's health and recycles those low two passes in a row (docs/POOL.md); tops
  // up min_idle. Returns how many idle connections it closed. Uses the pool's clock.
  std::size_t run_cleanup_once();
  // Runs run_cleanup_once() every cleanup_interval until shutdown. Explicit: nothing runs unless
  // the caller starts it.
  void run_cleanup_task();

  // Stops accepting acquires (shutting_down), fails waiters, closes idle connections with
  // close_notify, waits up to `grace` for leases to come back, then closes the rest.
  // Handler: void(boost::system::error_code), called when every socket is closed.
  template <class Token>
  auto async_shutdown(std::chrono::milliseconds grace, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [self = shared_from_this()](auto handler, std::chrono::milliseconds g) {
          self->start_shutdown(g, ShutdownHandler(std::move(handler)));
        },
        token, grace);
  }

  // Re-reads the pool's TLS material as the options in force name it (ca_file, ca_directory, the system
  // store, client certificate files) into a new ClientTlsContext for every connection opened from
  // now on. Connections made with the old material drain: idle ones close at once (counted as
  // recycled, reason tls_reload) and min_idle is topped up with the new material; leased ones
  // serve their holder on and close when the lease ends, and a holder that keeps its lease (an
  // HTTP/2 session, told through Lease::on_retire) takes no new streams and closes once its
  // streams are done. The new context starts with an empty session cache, so the next
  // connections make full handshakes against the new material.
  // Returns nothing when the new material is in use; on a mistake the current context stays
  // and the ConfigError names the field ("tls.ca_file: ..."), or "pool: is shutting down".
  // Counted in <ns>_tls_reloads_total{result}; logged. Thread-safe; reads the files on the
  // calling thread, outside the pool's lock. `scpool serve` calls it on SIGHUP. A plain pool
  // (TLS off) has nothing to reload: nothing changes; switching TLS on or off is refused ("tls").
  [[nodiscard]] std::optional<ConfigError> reload_tls();
  // The same with other options (a CA file moved, a pin added): new connections are made and
  // checked with `options` from now on; config().tls keeps what the pool was built with, and
  // tls_context()->options() is what is in force. The daemon's SIGHUP uses it.
  [[nodiscard]] std::optional<ConfigError> reload_tls(TlsOptions options);

  // Changes the limits in force (PoolLimits, pool_config.hpp), checked as PoolConfig's are:
  // returns nothing when they apply; on a mistake nothing changes and the ConfigError names the
  // field. A higher max_connections or min_idle
  // starts connects for callers waiting and for the warm set at once; a lower max_connections
  // closes idle connections above it at once and leased ones as they come back (an HttpClient's
  // HTTP/2 session holds its lease for its whole life). Callers already waiting keep their
  // acquire_timeout. Thread-safe; logged. `scpool serve` calls it on SIGHUP.
  [[nodiscard]] std::optional<ConfigError> update_limits(const PoolLimits& limits);
  // The limits in force: config()'s until update_limits() changes them.
  PoolLimits limits() const;

  PoolStats stats() const;
  std::vector<ConnectionSnapshot> connection_snapshots() const;
  ConnectFailure last_connect_failure() const;
  PoolHistograms histograms() const;
  // As built; limits() has the limits in force.
  const PoolConfig& config() const noexcept { return config_; }
  // The context new connections use; reload_tls() replaces it.
  std::shared_ptr<const ClientTlsContext> tls_context() const;
  executor_type get_executor() const noexcept { return executor_; }

 private:
  struct Deferred;
  enum class CloseReason { idle_timeout, max_lifetime, max_requests, tls_reload, latency, unhealthy, stale, broken, abandoned, shutdown, connect_failed, over_limit };
  friend class Lease;

  SecureChannelPool(executor_type executor, PoolConfig config, std::shared_ptr<const ClientTlsContext> tls);

  void start_acquire(AcquireHandler handler, Affinity affinity = {});
  void start_shutdown(std::chrono::milliseconds grace, ShutdownHandler handler);
  void release(detail::PooledConnection& returned) noexcept;

  // All of these run with mutex_ held and only record what to do in `deferred`.
  // The idle connection to hand out next (closing stale ones on the way): for a caller with an
  // affinity key, its key's when idle, else the one holding the fewest keys.
  detail::PooledConnection* pop_healthy_idle_locked(Deferred& deferred, std::string_view affinity_key = {});
  // Leases the connection, binding `affinity_key` (if any) to it.
  Lease lease_locked(detail::PooledConnection& connection, std::string_view affinity_key = {});
  // Affinity (pool_affinity.cpp). The key's leased connection, for a caller to wait for: nullptr
  // when the key has none, when its connection is idle (pop_healthy_idle_locked takes that one
  // first, with the usual probe), or when it closes once it comes back.
  detail::PooledConnection* key_busy_connection_locked(std::string_view key);
  // The caller waits for its key's leased connection, in the line of its own.
  void wait_for_connection_locked(std::uint64_t id, AcquireHandler handler, std::string key,
                                  std::uint64_t connection_id);
  // A connection came back idle: the oldest caller waiting for it takes it. True when one did.
  bool serve_waiting_for_locked(detail::PooledConnection& connection, Deferred& deferred);
  // A connection closed: callers waiting for it go to the head of the general line.
  void reroute_waiting_for_locked(std::uint64_t connection_id, Deferred& deferred);
  // Affinity for a holder that hands out exchanges of its own (HTTP/2 streams), through
  // LeaseInternals: the id of the key's live connection (0: none), and the key bound to the
  // connection that carries its exchange.
  std::uint64_t affinity_connection_id(std::string_view key);
  AffinityOutcome bind_affinity(std::string_view key, std::uint64_t connection_id);
  void hand_to_waiters_locked(Deferred& deferred);
  void start_connect_locked(Deferred& deferred);
  void connect_for_waiters_locked(Deferred& deferred);
  // Past its max_lifetime, jittered per connection by max_lifetime_jitter.
  bool past_lifetime_locked(const detail::PooledConnection& connection, Clock::time_point now) const;
  // A leased connection is wanted back: marked, and its holder's Lease::on_retire listener called
  // after the lock. The first reason stays.
  void retire_locked(detail::PooledConnection& connection, detail::RetireReason reason, Deferred& deferred);
  // What a connection asked back is counted as when it closes.
  static CloseReason retire_close_reason(detail::RetireReason reason) noexcept;
  // Calls the holder's listener (after the lock) without marking: shutdown asks every holder.
  void notify_retire_locked(const detail::PooledConnection& connection, detail::RetireReason reason,
                            Deferred& deferred);
  // Lease::on_retire and LeaseInternals' multiplexing holders (pool_retirement.cpp).
  friend struct detail::LeaseInternals;
  void watch_retire(detail::PooledConnection& connection, std::function<void(detail::RetireReason)> listener);
  void share_slots(detail::PooledConnection& connection, std::shared_ptr<const detail::LeaseSlots> slots);
  void holder_retires(detail::PooledConnection& connection, detail::RetireReason reason);
  // An idle multiplexed connection: its holder is asked whether it agrees to drain (the listener
  // stays; nothing is marked).
  void suggest_idle_retire_locked(const detail::PooledConnection& connection, Deferred& deferred);
  // What the cleanup rules (pool/connection_rules.hpp) know of a connection.
  detail::ConnectionFacts facts_locked(const detail::PooledConnection& connection, Clock::time_point now) const;
  // The cleanup pass over leased connections: lifetime, latency, and idle multiplexed ones.
  void retire_leased_locked(Clock::time_point now, const detail::CleanupLimits& limits, Deferred& deferred);
  // Health scores (pool_health.cpp): each cleanup pass scores every connection, recycles those
  // low two passes in a row, and keeps the marks checkout reads.
  // Returns how many idle connections it closed.
  std::size_t score_connections_locked(Clock::time_point now, Deferred& deferred);
  double age_fraction_locked(const detail::PooledConnection& connection, Clock::time_point now) const;
  // With some connections marked: the healthiest of the warmest few idle ones (the caller takes
  // the warmest when none is marked).
  detail::PooledConnection* healthiest_warm_idle_locked() const;
  // A released connection whose latest round trip stalled is marked at once (called once a pass
  // has set the stall threshold).
  void note_release_health_locked(const detail::PooledConnection& connection);
  // After reload_tls(): connections made with the replaced material close (idle) or retire.
  void retire_old_material_locked(Deferred& deferred);
  // Every waiter of the general line fails with `reason`, oldest first.
  void fail_waiters_locked(errc reason, Deferred& deferred);
  void remove_locked(detail::PooledConnection& connection, CloseReason reason, Deferred& deferred);
  void transition(detail::PooledConnection& connection, detail::ConnectionState to);
  // Cools the idle connections below the warm ones at the top (after the limit came down).
  void cool_idle_beyond_warm_limit_locked();
  void cool_locked(detail::PooledConnection& connection);
  // At rest after cooling many connections: arms the timer that hands free memory back to the
  // OS once the pool has stayed at rest for memory_release_quiet_period.
  void release_memory_if_due_locked();
  void arm_memory_release_timer_locked();
  void on_memory_release_timer(boost::system::error_code error, std::uint64_t acquires_at_rest);
  void arm_waiter_timer_locked();
  void enqueue_waiter_locked(std::uint64_t id, AcquireHandler handler, std::string affinity_key = {});
  // Connects the handler's cancellation slot, if it has one, to cancel_waiter(): returns the id
  // the caller will wait under (0 without a slot).
  std::uint64_t watch_cancellation(AcquireHandler& handler);
  void cancel_waiter(std::uint64_t id);
  void top_up_locked(Deferred& deferred);
  // How many warm-up connects may be in flight now (cold start, session-ticket pacing).
  std::size_t warm_up_connects_allowed_locked() const;
  void maybe_finish_shutdown_locked(Deferred& deferred);

  void on_connected(const std::shared_ptr<detail::PooledConnection>& connection, boost::system::error_code error);
  void on_waiter_timer(boost::system::error_code error, std::chrono::steady_clock::time_point armed_at);
  void on_closed(const std::shared_ptr<detail::PooledConnection>& connection);
  void on_cleanup_tick(boost::system::error_code error);
  void on_grace_expired(boost::system::error_code error);
  void run(Deferred& deferred);
  // To config_.log_sink, or log_to_spdlog; never under mutex_.
  void log(LogLevel level, std::uint64_t connection_id, std::string_view message) const;
  // Certificate lifecycle (pool_certificates.cpp): after a full handshake, keeps the leaf's
  // notAfter for the expiry gauge; warns once per certificate under certificate_expiry_warning.
  void record_upstream_certificate_locked(detail::PooledConnection& connection, Deferred& deferred);
  void check_certificate_expiry_locked(Deferred& deferred);

  executor_type executor_;
  PoolConfig config_;
  PoolLimits limits_;  // under mutex_
  std::shared_ptr<const ClientTlsContext> tls_;  // guarded by mutex_: reload_tls() swaps it
  std::shared_ptr<detail::PoolTelemetry> telemetry_;

  // Everything below is guarded by mutex_ (the waiters' id counter excepted).
  mutable std::mutex mutex_;
  std::unique_ptr<detail::ConnectionBooks> books_;  // the connections, by state
  // Which idle connections stay warm, when freed memory goes back, the warm-up's pacing.
  std::unique_ptr<detail::WarmPolicy> warm_;
  std::unique_ptr<detail::AcquireWaiters> waiters_;  // FIFO, with their deadline timer
  // The cleanup pass's timer and the health marks it keeps.
  std::unique_ptr<detail::MaintenanceState> maintenance_;
  std::unique_ptr<detail::ShutdownState> shutdown_;
  // The breaker, the backoff and what the connects so far have learned.
  std::unique_ptr<detail::ConnectHistory> history_;
  PoolStats counters_;  // only the counter fields are kept here
  // Leases held for long (the HTTP/2 sessions): their Lease::on_retire listeners and slots.
  std::unique_ptr<detail::LongLeases> long_leases_;
  std::unique_ptr<detail::AffinityKeys> affinity_;     // affinity keys and their connections
};

}  // namespace securechannel
