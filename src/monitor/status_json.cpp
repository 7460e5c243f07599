#include "monitor/status_json.hpp"

#include <cmath>

namespace securechannel::monitor {

using nlohmann::json;

namespace {

std::int64_t whole_milliseconds(double milliseconds) noexcept { return std::llround(milliseconds); }

}  // namespace

json latency_quantiles_ms(const HistogramSnapshot& snapshot) {
  return {{"p50", snapshot.quantile(0.50) / 1'000.0},
          {"p95", snapshot.quantile(0.95) / 1'000.0},
          {"p99", snapshot.quantile(0.99) / 1'000.0},
          {"max", snapshot.max_microseconds() / 1'000.0},
          {"samples", snapshot.count()}};
}

double reuse_ratio(const PoolStats& stats) noexcept {
  return stats.acquires == 0 ? 0.0 : static_cast<double>(stats.reuses) / static_cast<double>(stats.acquires);
}

json memory_protection_json(const MemoryProtectionStatus& status) {
  return {{"enabled", status.enabled},
          {"self_check", status.self_check},
          {"secure_buffers", status.secure_buffers},
          {"buffers", status.buffers},
          {"locked_bytes", status.locked_bytes},
          {"mlock_failures", status.mlock_failures}};
}

std::size_t active_connections(const PoolStats& stats) noexcept {
  return stats.idle_connections + stats.leased_connections;
}

double error_rate_percent(const PoolStats& stats) noexcept {
  // Errors of every kind (failed connects, I/O errors on leases, ...) relative to the work
  // asked of the pool: successful acquires plus those errors.
  const double attempts = static_cast<double>(stats.acquires + stats.total_errors);
  return attempts == 0 ? 0.0 : 100.0 * static_cast<double>(stats.total_errors) / attempts;
}

double mean_ms(const HistogramSnapshot& snapshot) noexcept {
  if (snapshot.count() == 0) return 0.0;
  return snapshot.sum_microseconds() / static_cast<double>(snapshot.count()) / 1'000.0;
}

bool pool_is_healthy(const PoolStats& stats) noexcept {
  return stats.circuit_state == CircuitState::closed && !stats.connect_failing;
}

bool pool_is_ready(const SecureChannelPool& pool, const PoolStats& stats) noexcept {
  if (!pool_is_healthy(stats)) return false;
  return pool.limits().min_idle == 0 || active_connections(stats) > 0;
}

json connection_json(const ConnectionSnapshot& connection) {
  return {
      {"connection_id", connection.connection_id},
      {"last_activity", rfc3339_utc(connection.last_activity)},
      {"reconnects", connection.reconnects},
      {"errors", connection.errors},
      {"p95_latency_ms", whole_milliseconds(connection.p95_latency_ms)},
      {"is_healthy", connection.is_healthy},
      // Added fields.
      {"state", connection.state},
      {"created", rfc3339_utc(connection.created)},
      {"leases", connection.leases},
      {"round_trips", connection.round_trips},
      {"bytes_sent", connection.bytes_sent},
      {"bytes_received", connection.bytes_received},
      {"latency_ms", {{"p50", connection.p50_latency_ms}, {"p95", connection.p95_latency_ms}}},
      {"alpn", connection.alpn},
      {"tls_version", connection.tls_version},
      {"tls_resumed", connection.tls_resumed},
      {"streams_in_flight", connection.streams_in_flight},
      {"max_concurrent_streams", connection.max_concurrent_streams},
      {"health",
       {{"score", connection.health.score},
        {"latency_ratio", connection.health.latency_ratio},
        {"stalls", connection.health.stalls},
        {"recent_failures", connection.health.recent_failures},
        {"age_fraction", connection.health.age_fraction}}},
      {"affinity_keys", connection.affinity_keys},
  };
}

json pool_status_json(const SecureChannelPool& pool, std::chrono::system_clock::time_point now) {
  const PoolStats stats = pool.stats();
  const PoolHistograms histograms = pool.histograms();
  json connections = json::array();
  for (const ConnectionSnapshot& connection : pool.connection_snapshots()) {
    connections.push_back(connection_json(connection));
  }
  return {
      {"endpoint", stats.endpoint},
      {"scheme", std::string(scheme_of(pool.config()))},
      {"active_connections", active_connections(stats)},
      {"total_reconnects", stats.reconnects},
      {"total_errors", stats.total_errors},
      {"pool_p95_latency_ms", whole_milliseconds(histograms.recent_round_trips.quantile(0.95) / 1'000.0)},
      {"connections", std::move(connections)},
      {"last_updated", rfc3339_utc(now)},
      // Added fields.
      {"namespace", pool.config().metric_namespace},
      {"idle_connections", stats.idle_connections},
      {"in_use_connections", stats.leased_connections},
      {"connecting_connections", stats.connecting_connections},
      {"max_connections", pool.limits().max_connections},
      {"pending_acquires", stats.pending_acquires},
      {"circuit_breaker", std::string(to_string(stats.circuit_state))},
      {"pool_healthy", pool_is_healthy(stats)},
      {"latency_ms", latency_quantiles_ms(histograms.recent_round_trips)},
      {"errors_by_kind", stats.errors_by_kind},
      // null until a full handshake has shown the upstream's certificate.
      {"upstream_certificate_not_after",
       stats.upstream_certificate_not_after ? json(rfc3339_utc(*stats.upstream_certificate_not_after)) : json(nullptr)},
      // Process-wide, not the pool's: the SecureBuffers holding the metrics token, client keys
      // and passphrases (seed 002's "enhanced status").
      {"memory_protection", memory_protection_json(memory_protection_status())},
  };
}

json pool_health_json(const SecureChannelPool& pool, std::chrono::system_clock::time_point now) {
  const PoolStats stats = pool.stats();
  const bool healthy = pool_is_healthy(stats);
  json health = {
      {"status", healthy ? "healthy" : "unhealthy"},
      {"timestamp", rfc3339_utc(now)},
      {"pool_healthy", healthy},
      {"active_connections", active_connections(stats)},
      // Added fields.
      {"endpoint", stats.endpoint},
      {"scheme", std::string(scheme_of(pool.config()))},
      {"namespace", pool.config().metric_namespace},
      {"ready", pool_is_ready(pool, stats)},
      {"idle_connections", stats.idle_connections},
      {"in_use_connections", stats.leased_connections},
      {"pending_acquires", stats.pending_acquires},
      {"circuit_breaker", std::string(to_string(stats.circuit_state))},
  };
  if (stats.connect_failing) health["last_connect_error"] = pool.last_connect_failure().describe();
  return health;
}

json pool_stats_json(const SecureChannelPool& pool, std::chrono::system_clock::time_point now) {
  const PoolStats stats = pool.stats();
  const PoolHistograms histograms = pool.histograms();
  const auto max_connections = static_cast<double>(pool.limits().max_connections);
  const HistogramSnapshot& round_trips = histograms.round_trips;
  return {
      {"endpoint", stats.endpoint},
      {"scheme", std::string(scheme_of(pool.config()))},
      {"namespace", pool.config().metric_namespace},
      {"timestamp", rfc3339_utc(now)},
      {"utilization_percent", 100.0 * static_cast<double>(stats.leased_connections) / max_connections},
      {"error_rate_percent", error_rate_percent(stats)},
      {"avg_latency_ms", mean_ms(round_trips)},
      {"p95_latency_ms", round_trips.quantile(0.95) / 1'000.0},
      {"reuse_ratio", reuse_ratio(stats)},
      {"requests_total", stats.acquires},
      {"connection_reuses_total", stats.reuses},
      {"connections_created_total", stats.connections_created},
      {"tls_resumed_total", stats.tls_resumed},
      {"total_errors", stats.total_errors},
      {"active_connections", active_connections(stats)},
      {"max_connections", pool.limits().max_connections},
      {"recent_latency_ms", latency_quantiles_ms(histograms.recent_round_trips)},
      {"acquire_wait_ms", latency_quantiles_ms(histograms.acquire_waits)},
      {"tls_handshake_ms", latency_quantiles_ms(histograms.handshakes)},
      {"affinity_keys", stats.affinity_keys},
      {"affinity_moves_total", stats.affinity_moves},
      {"affinity_keys_evicted_total", stats.affinity_keys_evicted},
  };
}

json http_client_json(const HttpClientStats& stats) {
  json connections = json::array();
  for (const Http2ConnectionStats& connection : stats.http2_connections) {
    connections.push_back({{"connection_id", connection.connection_id},
                           {"streams_in_flight", connection.streams_in_flight},
                           {"peer_max_concurrent_streams", connection.peer_max_concurrent_streams},
                           {"streams_started", connection.streams_started},
                           {"draining", connection.draining}});
  }
  return {
      {"protocol", std::string(to_string(stats.protocol))},
      {"requests", stats.requests},
      {"requests_on_reused_connections", stats.requests_on_reused_connections},
      {"failed_requests", stats.failed_requests},
      {"retries", stats.retries},
      {"goaways", stats.goaways},
      {"requests_in_flight", stats.requests_in_flight},
      {"http2_connections", std::move(connections)},
  };
}

}  // namespace securechannel::monitor
