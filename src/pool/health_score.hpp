// A connection's health score, 0 (worst) to 100: a pure function of what its recent history
// says, beside the other connections of its pool. The pool prefers healthier idle connections at
// checkout and recycles those whose score stays low (docs/POOL.md, "Health scores"); status
// shows the score with its inputs. Tested on its own (tests/unit/health_score_test.cpp).
//
//   ConnectionHealth health{.recent_failures = failures, .age_fraction = age / max_lifetime};
//   add_latency_inputs(samples_us, judged_p95_us(stats), pool_median_p95_us(p95s_of_the_pool), health);
//   health.score = health_score(health);   // 100 - latency - failures - stalls - age points
#pragma once

#include "securechannel/connection_stats.hpp"
#include "securechannel/pool_stats.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace securechannel::detail {

// Fewer round trips than this say too little about a connection's latency to judge it: with 16,
// its p95 is not simply its slowest round trip (one slow answer of the server's).
inline constexpr std::size_t min_samples_for_health = 16;
// Latency above the pool's median by less than this is never held against a connection: on a
// fast network 0.3 ms against 1.2 ms is 4x, yet nothing worth a new handshake.
inline constexpr double min_latency_excess_us = 5'000;

// Penalties, in points off 100.
inline constexpr int max_latency_points = 60;  // p95 at latency_ratio_worst × the pool's median or worse
inline constexpr double latency_ratio_free = 1.5;   // up to this ratio: no points
inline constexpr double latency_ratio_worst = 4.0;
inline constexpr int points_per_failure = 20;  // a failed exchange that left the connection open
inline constexpr int max_failure_points = 40;
// A stall: a round trip over stall_ratio × the pool's median p95 and over it by at least
// min_latency_excess_us (stall_threshold_us).
inline constexpr double stall_ratio = 4.0;
inline constexpr int points_per_stall = 10;
inline constexpr int max_stall_points = 30;
inline constexpr int max_age_points = 10;      // at max_lifetime; none before half of it

// The pool's (lower) median of its connections' p95 round trips, in microseconds, over those
// with enough samples; 0 when fewer than two connections have them (nothing to compare with).
double pool_median_p95_us(std::span<const double> p95_us_of_connections);

// Round trips over this are stalls; 0 while the pool's median is not known.
double stall_threshold_us(double pool_median_p95_us) noexcept;

// The latency inputs from a connection's retained round trips (microseconds) and their p95
// (judged_p95_us), against the pool's median p95.
void add_latency_inputs(std::span<const std::uint32_t> samples_us, double p95_us, double pool_median_p95_us,
                        ConnectionHealth& inputs) noexcept;

// A connection's p95 round trip in microseconds when it has enough samples to be judged, else 0:
// what pool_median_p95_us is taken over.
double judged_p95_us(const ConnectionStats& stats) noexcept;

// The whole health of a connection: its latency inputs from `stats` and its judged p95, the
// other inputs as given, and the score.
ConnectionHealth connection_health(const ConnectionStats& stats, double p95_us, double pool_median_p95_us,
                                   std::uint32_t recent_failures, double age_fraction) noexcept;

// The score from the inputs (their `score` field is not read).
int health_score(const ConnectionHealth& inputs) noexcept;

}  // namespace securechannel::detail
