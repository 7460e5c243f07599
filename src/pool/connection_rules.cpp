#include "pool/connection_rules.hpp"

namespace securechannel::detail {

namespace {

// SplitMix64 of the connection id and the seed, as a fixed point in [-1, 1).
double lifetime_spread(std::uint64_t connection_id, std::uint64_t seed) noexcept {
  std::uint64_t z = connection_id * 0x9E3779B97F4A7C15ULL + seed;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53 * 2 - 1;
}

bool over_latency_threshold(const ConnectionFacts& facts, const CleanupLimits& limits) noexcept {
  return facts.round_trips >= min_samples_for_latency_eviction &&
         facts.p95_ms > static_cast<double>(limits.latency_threshold.count());
}

}  // namespace

bool past_lifetime(Clock::duration age, std::chrono::milliseconds max_lifetime, double jitter,
                   std::uint64_t connection_id, std::uint64_t seed) noexcept {
  const double age_ms = std::chrono::duration<double, std::milli>(age).count();
  const double max_lifetime_ms = static_cast<double>(max_lifetime.count());
  // Most releases come from connections far from the end of their lifetime: no hash for them.
  if (age_ms < max_lifetime_ms * (1 - jitter)) return false;
  return age_ms >= max_lifetime_ms * (1 + jitter * lifetime_spread(connection_id, seed));
}

CleanupVerdict idle_close_reason(const ConnectionFacts& facts, const CleanupLimits& limits) noexcept {
  if (facts.past_lifetime) return CleanupVerdict::max_lifetime;
  if (facts.idle_for >= limits.idle_timeout && facts.above_min_idle) return CleanupVerdict::idle_timeout;
  if (over_latency_threshold(facts, limits)) return CleanupVerdict::latency;
  return CleanupVerdict::keep;
}

CleanupVerdict leased_retire_reason(const ConnectionFacts& facts, const CleanupLimits& limits) noexcept {
  if (facts.past_lifetime) return CleanupVerdict::max_lifetime;
  if (facts.multiplexed && facts.idle_for >= limits.idle_timeout && facts.above_min_idle) {
    return CleanupVerdict::idle_timeout;
  }
  if (over_latency_threshold(facts, limits)) return CleanupVerdict::latency;
  return CleanupVerdict::keep;
}

}  // namespace securechannel::detail
