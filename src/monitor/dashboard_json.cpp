#include "monitor/dashboard_json.hpp"

#include "monitor/status_json.hpp"

#include <algorithm>

namespace securechannel::monitor {

using nlohmann::json;

namespace {

// Milliseconds since the Unix epoch: what a browser's Date takes.
std::int64_t unix_ms(std::chrono::system_clock::time_point when) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
}

json history_json(const PoolHistory& history) {
  json samples = json::array();
  for (const PoolSample& sample : history.samples()) {
    // No round trip in the interval: no latency, rather than a made-up 0.
    const auto latency = [&](double value) { return sample.round_trips == 0 ? json(nullptr) : json(value); };
    samples.push_back({{"time_unix_ms", unix_ms(sample.time)},
                       {"round_trips", sample.round_trips},
                       {"p50_ms", latency(sample.p50_ms)},
                       {"p95_ms", latency(sample.p95_ms)},
                       {"p99_ms", latency(sample.p99_ms)},
                       {"requests_total", sample.requests_total},
                       {"errors_total", sample.errors_total},
                       {"in_use", sample.in_use},
                       {"idle", sample.idle}});
  }
  return samples;
}

json http_json(const HttpClientStats& stats) {
  std::size_t streams_in_flight = 0;
  // A peer that sets no SETTINGS_MAX_CONCURRENT_STREAMS allows 2^32 - 1: the sum saturates there.
  std::uint64_t stream_capacity = 0;
  for (const Http2ConnectionStats& connection : stats.http2_connections) {
    streams_in_flight += connection.streams_in_flight;
    stream_capacity = std::min<std::uint64_t>(stream_capacity + connection.peer_max_concurrent_streams, 0xffff'ffffu);
  }
  return {{"protocol", std::string(to_string(stats.protocol))},
          {"requests", stats.requests},
          {"requests_on_reused_connections", stats.requests_on_reused_connections},
          {"failed_requests", stats.failed_requests},
          {"requests_in_flight", stats.requests_in_flight},
          {"http2_sessions", stats.http2_connections.size()},
          {"http2_streams_in_flight", streams_in_flight},
          {"http2_stream_capacity", stream_capacity}};
}

}  // namespace

json dashboard_pool_json(const SecureChannelPool& pool, const PoolHistory& history,
                         const std::optional<HttpClientStats>& http, std::chrono::system_clock::time_point now) {
  const PoolStats stats = pool.stats();
  const PoolConfig& config = pool.config();
  json body = {
      {"namespace", config.metric_namespace},
      {"endpoint", stats.endpoint},
      {"scheme", std::string(scheme_of(config))},
      {"pool_healthy", pool_is_healthy(stats)},
      {"ready", pool_is_ready(pool, stats)},
      {"circuit_breaker", std::string(to_string(stats.circuit_state))},
      // null: closed since the pool started.
      {"circuit_breaker_since_unix_ms",
       stats.circuit_state_since ? json(unix_ms(*stats.circuit_state_since)) : json(nullptr)},
      {"connections",
       {{"active", active_connections(stats)},
        {"idle", stats.idle_connections},
        {"in_use", stats.leased_connections},
        {"connecting", stats.connecting_connections},
        {"max", pool.limits().max_connections},
        {"pending_acquires", stats.pending_acquires}}},
      {"requests_total", stats.acquires},
      {"connection_reuses_total", stats.reuses},
      {"reuse_ratio", reuse_ratio(stats)},
      {"total_errors", stats.total_errors},
      {"errors_by_kind", stats.errors_by_kind},
      {"latency_ms", latency_quantiles_ms(pool.histograms().recent_round_trips)},
      {"upstream_certificate_not_after_unix_ms",
       stats.upstream_certificate_not_after ? json(unix_ms(*stats.upstream_certificate_not_after)) : json(nullptr)},
      {"certificate_expiry_warning_ms", config.certificate_expiry_warning.count()},
      {"history", history_json(history)},
      {"timestamp_unix_ms", unix_ms(now)},
  };
  if (http) body["http"] = http_json(*http);
  return body;
}

json dashboard_json(const ServiceIdentity& service, json pools, std::chrono::system_clock::time_point now) {
  return {{"service", service.name},
          {"started_unix_ms", unix_ms(service.started_at)},
          {"timestamp_unix_ms", unix_ms(now)},
          {"pools", std::move(pools)}};
}

}  // namespace securechannel::monitor
