// Point-in-time copies of a pool for status, metrics and tests.
#include "securechannel/secure_channel_pool.hpp"

#include "pool/pool_telemetry.hpp"

namespace securechannel {

using detail::PooledConnection;

PoolStats SecureChannelPool::stats() const {
  std::lock_guard lock(mutex_);
  PoolStats stats = counters_;
  stats.total_connections = connections_.size();
  stats.idle_connections = idle_.size();
  stats.leased_connections = leased_;
  stats.connecting_connections = connecting_;
  stats.pending_acquires = waiters_.size();
  stats.circuit_state = breaker_.state();
  stats.circuit_opened = breaker_.times_opened();
  stats.established = established_;
  std::lock_guard errors_lock(telemetry_->errors_mutex);
  stats.total_errors = telemetry_->errors_total;
  stats.errors_by_kind = telemetry_->errors_by_kind;
  return stats;
}

std::vector<ConnectionSnapshot> SecureChannelPool::connection_snapshots() const {
  std::lock_guard lock(mutex_);
  std::vector<ConnectionSnapshot> snapshots;
  snapshots.reserve(connections_.size());
  const auto steady_now = std::chrono::steady_clock::now();
  const auto wall_now = std::chrono::system_clock::now();
  const double threshold_ms = static_cast<double>(config_.latency_threshold.count());
  const auto pool_now = config_.clock->now();
  const auto pool_wall_now = config_.clock->wall_now();
  for (const auto& connection : connections_) {
    ConnectionSnapshot snapshot;
    snapshot.connection_id = connection->id();
    snapshot.state = std::string(detail::to_string(connection->state_));
    snapshot.created =
        pool_wall_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(pool_now - connection->created_);
    snapshot.last_activity =
        wall_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(steady_now - connection->last_io());
    snapshot.reconnects = connection->reconnects_;
    const ConnectionStats& stats = connection->stats();
    snapshot.errors = stats.errors();
    snapshot.leases = stats.leases();
    snapshot.bytes_sent = stats.bytes_sent();
    snapshot.bytes_received = stats.bytes_received();
    snapshot.round_trips = stats.round_trips();
    snapshot.p50_latency_ms = stats.latency_quantile_ms(0.50);
    snapshot.p95_latency_ms = stats.latency_quantile_ms(0.95);
    const bool connected = connection->state_ != detail::ConnectionState::connecting;
    snapshot.is_healthy = connected && !connection->broken_.load(std::memory_order_relaxed) &&
                          snapshot.p95_latency_ms <= threshold_ms;
    if (connected) {
      snapshot.alpn = std::string(connection->channel().negotiated_alpn());
      snapshot.tls_version = std::string(connection->channel().negotiated_protocol_version());
      snapshot.tls_resumed = connection->channel().resumed_session();
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
  return last_failure_;
}

}  // namespace securechannel
