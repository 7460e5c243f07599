#include "pool/health_score.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace securechannel::detail {

namespace {

int points(double fraction, int most) {
  return static_cast<int>(std::lround(std::clamp(fraction, 0.0, 1.0) * most));
}

}  // namespace

double pool_median_p95_us(std::span<const double> p95_us_of_connections) {
  if (p95_us_of_connections.size() < 2) return 0;
  std::vector<double> sorted(p95_us_of_connections.begin(), p95_us_of_connections.end());
  std::sort(sorted.begin(), sorted.end());
  // The lower median: of two connections, one slow, the slow one is judged against the other.
  return sorted[(sorted.size() - 1) / 2];
}

double stall_threshold_us(double pool_median_p95_us) noexcept {
  if (pool_median_p95_us <= 0) return 0;
  return std::max(stall_ratio * pool_median_p95_us, pool_median_p95_us + min_latency_excess_us);
}

void add_latency_inputs(std::span<const std::uint32_t> samples_us, double p95_us, double pool_median_p95_us,
                        ConnectionHealth& inputs) noexcept {
  if (samples_us.size() < min_samples_for_health || pool_median_p95_us <= 0 || p95_us <= 0) return;
  // Within the excess floor a connection is as fast as its peers, whatever the ratio.
  inputs.latency_ratio = p95_us - pool_median_p95_us < min_latency_excess_us ? std::min(1.0, p95_us / pool_median_p95_us)
                                                                             : p95_us / pool_median_p95_us;
  const double stall_us = stall_threshold_us(pool_median_p95_us);
  inputs.stalls = static_cast<std::uint32_t>(
      std::count_if(samples_us.begin(), samples_us.end(), [&](std::uint32_t sample) { return sample > stall_us; }));
}

double judged_p95_us(const ConnectionStats& stats) noexcept {
  if (stats.round_trips() < min_samples_for_health) return 0;
  return stats.latency_quantile_ms(0.95) * 1000;
}

ConnectionHealth connection_health(const ConnectionStats& stats, double p95_us, double pool_median_p95_us,
                                   std::uint32_t recent_failures, double age_fraction) noexcept {
  ConnectionHealth health{.recent_failures = recent_failures, .age_fraction = age_fraction};
  std::array<std::uint32_t, ConnectionStats::latency_sample_capacity> samples{};
  const std::size_t count = stats.copy_latency_samples_us(samples);
  add_latency_inputs(std::span(samples.data(), count), p95_us, pool_median_p95_us, health);
  health.score = health_score(health);
  return health;
}

int health_score(const ConnectionHealth& inputs) noexcept {
  const int latency =
      points((inputs.latency_ratio - latency_ratio_free) / (latency_ratio_worst - latency_ratio_free), max_latency_points);
  const int failures = static_cast<int>(std::min<std::uint64_t>(
      std::uint64_t{inputs.recent_failures} * points_per_failure, max_failure_points));
  const int stalls =
      static_cast<int>(std::min<std::uint64_t>(std::uint64_t{inputs.stalls} * points_per_stall, max_stall_points));
  const int age = points((inputs.age_fraction - 0.5) / 0.5, max_age_points);
  return std::max(0, 100 - latency - failures - stalls - age);
}

}  // namespace securechannel::detail
