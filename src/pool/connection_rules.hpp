// The rules by which the pool's cleanup pass closes an idle connection or asks a leased one back:
// pure functions of what the pool knows about the connection, tested on their own
// (tests/unit/connection_rules_test.cpp).
//
//   const ConnectionFacts facts{.past_lifetime = past_lifetime(age, max_lifetime, jitter, id, seed), ...};
//   switch (idle_close_reason(facts, limits)) { case CleanupVerdict::idle_timeout: close(...); ... }
#pragma once

#include "securechannel/clock.hpp"

#include <chrono>
#include <cstdint>

namespace securechannel::detail {

// Fewer round trips than this say too little about a connection to recycle it for latency.
inline constexpr std::uint64_t min_samples_for_latency_eviction = 5;

// Whether a connection of this age has lived its max_lifetime, spread per connection over
// max_lifetime * (1 ± jitter) (jitter in [0, 1]) so that connections opened together do not all
// reconnect together. The spread is a fixed point per connection id and pool seed (a hash, so no
// field in every connection); compared as doubles, so a max_lifetime near its type's limit never
// overflows.
bool past_lifetime(Clock::duration age, std::chrono::milliseconds max_lifetime, double jitter,
                   std::uint64_t connection_id, std::uint64_t seed) noexcept;

struct ConnectionFacts {
  bool past_lifetime = false;
  // Since it was last released (idle connections), or since its holder last ran an exchange (a
  // leased connection that multiplexes).
  Clock::duration idle_for{};
  bool above_min_idle = false;      // the pool holds more idle connections than min_idle
  std::uint64_t round_trips = 0;    // latency samples in its histogram
  double p95_ms = 0;                // of those samples
  bool multiplexed = false;         // leased to a holder that shows its slots (an HTTP/2 session)
};

struct CleanupLimits {
  Clock::duration idle_timeout{};
  std::chrono::milliseconds latency_threshold{};
};

enum class CleanupVerdict { keep, max_lifetime, idle_timeout, latency };

// For an idle connection, in this order: lived its lifetime; idle longer than idle_timeout while
// the pool holds more than min_idle idle ones (like HikariCP's idleTimeout, it never trims below
// min_idle); a p95 round trip above the latency threshold over enough samples. (The look for
// bytes or a close from the peer comes after these, in the pool: it is a system call.)
CleanupVerdict idle_close_reason(const ConnectionFacts& facts, const CleanupLimits& limits) noexcept;
// For a leased connection (an HTTP/2 session holds its lease for long), in the same order: lived
// its lifetime; multiplexed and idle for idle_timeout above min_idle (one that runs one exchange
// at a time is never idle while leased); over the latency threshold.
CleanupVerdict leased_retire_reason(const ConnectionFacts& facts, const CleanupLimits& limits) noexcept;

}  // namespace securechannel::detail
