// Point-in-time copies of a pool for status, metrics and tests.
#include "securechannel/secure_channel_pool.hpp"

#include "pool/acquire_waiters.hpp"
#include "pool/affinity_keys.hpp"
#include "pool/connect_history.hpp"
#include "pool/connection_books.hpp"
#include "pool/health_score.hpp"
#include "pool/long_leases.hpp"
#include "pool/pool_telemetry.hpp"

namespace securechannel {

using detail::PooledConnection;

PoolStats SecureChannelPool::stats() const {
  std::lock_guard lock(mutex_);
  PoolStats stats = counters_;
  stats.total_connections = books_->live().size();
  stats.idle_connections = books_->idle().size();
  stats.leased_connections = books_->leased();
  stats.connecting_connections = books_->connecting();
  stats.pending_acquires = waiters_->everyone();
  stats.circuit_state = history_->breaker.state();
  stats.circuit_opened = history_->breaker.times_opened();
  stats.circuit_state_since = history_->breaker.state_changed_at();
  stats.established = history_->established;
  stats.affinity_keys = affinity_->size();
  stats.affinity_moves = affinity_->moves();
  stats.affinity_keys_evicted = affinity_->evictions();
  std::lock_guard errors_lock(telemetry_->errors_mutex);
  stats.total_errors = telemetry_->errors_total;
  stats.errors_by_kind = telemetry_->errors_by_kind;
  return stats;
}

std::vector<ConnectionSnapshot> SecureChannelPool::connection_snapshots() const {
  // Under the lock, only what the lock guards (a pointer and a few fields per connection); the
  // strings, the latency quantiles, the health scores and the TLS details are worked out after it, so that a
  // status request over 10,000 connections never holds up acquires and releases.
  struct Booked {
    std::shared_ptr<PooledConnection> connection;
    detail::ConnectionState state;
    Clock::time_point created;
    std::uint32_t reconnects;
    std::shared_ptr<const detail::LeaseSlots> slots;  // a multiplexing holder's
    std::uint32_t recent_failures;                    // on the holder's slots, since the last pass
    double age_fraction;
    std::uint32_t affinity_keys;
  };
  std::vector<Booked> booked;
  Clock::time_point pool_now;
  std::chrono::system_clock::time_point pool_wall_now;
  double threshold_ms = 0;
  {
    std::lock_guard lock(mutex_);
    threshold_ms = static_cast<double>(limits_.latency_threshold.count());
    booked.reserve(books_->live().size());
    pool_now = config_.clock->now();
    const bool keyed = !affinity_->empty();
    for (const auto& connection : books_->live()) {
      booked.push_back({connection, connection->state_, connection->created_, connection->reconnects_, {}, 0,
                        age_fraction_locked(*connection, pool_now), keyed ? affinity_->keys_of(*connection) : 0});
    }
    for (const auto& entry : long_leases_->entries()) {
      // booked is in the order of live(), where each connection knows its index.
      const std::size_t index = entry.connection->index_in_pool_;
      if (index >= booked.size() || booked[index].connection.get() != entry.connection) continue;
      booked[index].slots = entry.slots;
      booked[index].recent_failures = detail::LongLeases::failures_since_taken(entry);
    }
    pool_wall_now = config_.clock->wall_now();
  }

  std::vector<double> p95_of(booked.size());
  std::vector<double> judged;
  for (std::size_t i = 0; i < booked.size(); ++i) {
    p95_of[i] = detail::judged_p95_us(booked[i].connection->stats());
    if (p95_of[i] > 0) judged.push_back(p95_of[i]);
  }
  const double median_p95_us = detail::pool_median_p95_us(judged);

  std::vector<ConnectionSnapshot> snapshots;
  snapshots.reserve(booked.size());
  const auto steady_now = std::chrono::steady_clock::now();
  const auto wall_now = std::chrono::system_clock::now();
  for (std::size_t i = 0; i < booked.size(); ++i) {
    const Booked& entry = booked[i];
    const PooledConnection& connection = *entry.connection;
    ConnectionSnapshot snapshot;
    snapshot.connection_id = connection.id();
    snapshot.state = std::string(detail::to_string(entry.state));
    snapshot.created =
        pool_wall_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(pool_now - entry.created);
    snapshot.last_activity =
        wall_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(steady_now - connection.last_io());
    snapshot.reconnects = entry.reconnects;
    const ConnectionStats& stats = connection.stats();
    snapshot.errors = stats.errors();
    snapshot.leases = stats.leases();
    snapshot.bytes_sent = stats.bytes_sent();
    snapshot.bytes_received = stats.bytes_received();
    snapshot.round_trips = stats.round_trips();
    snapshot.p50_latency_ms = stats.latency_quantile_ms(0.50);
    snapshot.p95_latency_ms = stats.latency_quantile_ms(0.95);
    const bool connected = entry.state != detail::ConnectionState::connecting;
    snapshot.is_healthy = connected && !connection.broken_.load(std::memory_order_relaxed) &&
                          snapshot.p95_latency_ms <= threshold_ms;
    if (connected) {
      // Set once by the handshake, before the connection left `connecting` under the lock.
      const SecureChannel& channel = connection.channel();
      // A plain connection negotiates nothing; HTTP/2 by prior knowledge is h2c (RFC 9113 3.1).
      const std::string_view alpn = channel.negotiated_alpn();
      snapshot.alpn = !channel.plain() ? std::string(alpn) : alpn == "h2" ? "h2c" : "";
      snapshot.tls_version = std::string(channel.negotiated_protocol_version());
      snapshot.tls_resumed = channel.resumed_session();
      snapshot.health =
          detail::connection_health(stats, p95_of[i], median_p95_us, entry.recent_failures, entry.age_fraction);
    }
    snapshot.affinity_keys = entry.affinity_keys;
    if (entry.slots) {
      snapshot.streams_in_flight = entry.slots->in_use.load(std::memory_order_relaxed);
      snapshot.max_concurrent_streams = entry.slots->capacity.load(std::memory_order_relaxed);
    }
    snapshots.push_back(std::move(snapshot));
  }
  return snapshots;
}

PoolHistograms SecureChannelPool::histograms() const {
  // No pool lock: the histograms synchronise themselves, and a scrape must not stall acquires.
  PoolHistograms histograms;
  telemetry_->round_trips.merge_cumulative_into(histograms.round_trips);
  telemetry_->round_trips.merge_recent_into(histograms.recent_round_trips);
  telemetry_->acquire_waits.merge_cumulative_into(histograms.acquire_waits);
  telemetry_->handshakes.merge_cumulative_into(histograms.handshakes);
  return histograms;
}

ConnectFailure SecureChannelPool::last_connect_failure() const {
  std::lock_guard lock(mutex_);
  return history_->last_failure;
}

}  // namespace securechannel
