#include "monitor/enhanced_status_json.hpp"

#include "monitor/go_duration.hpp"
#include "monitor/status_json.hpp"
#include "securechannel/secure_buffer.hpp"

#ifndef SC_VERSION
#error "SC_VERSION must hold the project version (src/CMakeLists.txt sets it)"
#endif

namespace securechannel::monitor {

using nlohmann::json;

namespace {

double percent(double part, double whole) noexcept { return whole == 0 ? 0.0 : 100.0 * part / whole; }

// Sums over pools, so that the aggregate rates weigh each pool by its traffic.
struct Totals {
  std::size_t healthy_pools = 0;
  std::size_t active_connections = 0;
  std::size_t leased_connections = 0;
  std::size_t max_connections = 0;
  std::uint64_t acquires = 0;
  std::uint64_t errors = 0;
  HistogramSnapshot round_trips;
};

json memory_protection_with_integrity() {
  const MemoryProtectionStatus status = memory_protection_status();
  json protection = memory_protection_json(status);
  // The seed's name, kept for its Go struct. Our SecureBuffer registry's integrity check: at least
  // one buffer is registered and every registered buffer's canaries are intact (its guard pages
  // are set before it can register at all). Never vacuously true: no buffer, no integrity claim.
  protection["rust_integrity"] = status.secure_buffers && status.self_check;
  return protection;
}

}  // namespace

json enhanced_status_json(std::span<const std::shared_ptr<SecureChannelPool>> pools, const ServiceIdentity& service,
                          std::chrono::system_clock::time_point now) {
  Totals totals;
  json each = json::array();
  for (const auto& pool : pools) {
    const PoolStats stats = pool->stats();
    const HistogramSnapshot round_trips = pool->histograms().round_trips;
    const bool healthy = pool_is_healthy(stats);
    const std::size_t max_connections = pool->limits().max_connections;
    totals.healthy_pools += healthy ? 1 : 0;
    totals.active_connections += active_connections(stats);
    totals.leased_connections += stats.leased_connections;
    totals.max_connections += max_connections;
    totals.acquires += stats.acquires;
    totals.errors += stats.total_errors;
    totals.round_trips.merge(round_trips);
    each.push_back({{"namespace", pool->config().metric_namespace},
                    {"endpoint", stats.endpoint},
                    {"scheme", std::string(scheme_of(pool->config()))},
                    {"status", healthy ? "healthy" : "unhealthy"},
                    {"pool_healthy", healthy},
                    {"active_connections", active_connections(stats)},
                    {"max_connections", max_connections},
                    {"utilization_percent",
                     percent(static_cast<double>(stats.leased_connections), static_cast<double>(max_connections))},
                    {"error_rate_percent", error_rate_percent(stats)},
                    {"avg_latency_ms", mean_ms(round_trips)}});
  }
  const bool all_healthy = !pools.empty() && totals.healthy_pools == pools.size();
  const double error_rate = percent(static_cast<double>(totals.errors), static_cast<double>(totals.acquires + totals.errors));
  const double avg_latency_ms = mean_ms(totals.round_trips);
  const char* status = totals.healthy_pools == 0                                   ? "down"
                       : all_healthy && error_rate <= degraded_error_rate_percent ? "ok"
                                                                                   : "degraded";
  const char* channel_status = all_healthy ? "healthy" : totals.healthy_pools == 0 ? "unhealthy" : "degraded";
  // Whole seconds, as the seed's "2h30m15s".
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::max(now - service.started_at, {}));
  return {
      {"service", service.name},
      {"status", status},
      {"version", SC_VERSION},
      {"timestamp", rfc3339_utc(now)},
      {"uptime", go_duration_text(uptime)},
      {"memory_protection", memory_protection_with_integrity()},
      {"secure_channel",
       {{"status", channel_status},
        {"pool_healthy", all_healthy},
        {"active_connections", totals.active_connections},
        {"error_rate", error_rate},
        {"avg_latency_ms", avg_latency_ms},
        // Added fields.
        {"pools", pools.size()},
        {"healthy_pools", totals.healthy_pools}}},
      {"performance",
       {{"connection_pool_utilization", percent(static_cast<double>(totals.leased_connections),
                                                static_cast<double>(totals.max_connections))},
        {"avg_response_time_ms", avg_latency_ms},
        {"error_rate_percent", error_rate}}},
      // Added: the same figures pool by pool.
      {"pools", std::move(each)},
      {"uptime_seconds", uptime.count()},
  };
}

}  // namespace securechannel::monitor
