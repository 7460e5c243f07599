// Per-connection statistics: counters, and the ring of the last 32 round trips kept as 16-bit
// floating-point microseconds (exact below 2,048 µs, within 0.05 % above).
#include "securechannel/connection_stats.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

TEST(ConnectionStatsTest, SmallRoundTripsAreKeptExactly) {
  ConnectionStats stats;
  for (int micros = 1; micros <= 32; ++micros) stats.record_round_trip(std::chrono::microseconds(micros * 60));
  std::array<std::uint32_t, ConnectionStats::latency_sample_capacity> samples{};
  ASSERT_EQ(stats.copy_latency_samples_us(samples), 32u);
  for (std::size_t i = 0; i < samples.size(); ++i) EXPECT_EQ(samples[i], (i + 1) * 60);
}

TEST(ConnectionStatsTest, LargeRoundTripsStayWithinAFractionOfAPercent) {
  for (const auto round_trip : {2'049us, 12'345us, 200'000us, 61'000'000us, 3'600'000'000us}) {
    ConnectionStats stats;
    stats.record_round_trip(round_trip);
    const double kept_ms = stats.latency_quantile_ms(0.5);
    const double actual_ms = static_cast<double>(round_trip.count()) / 1000.0;
    EXPECT_LE(std::abs(kept_ms - actual_ms) / actual_ms, 0.0005) << round_trip.count();
  }
}

TEST(ConnectionStatsTest, TheRingKeepsTheLatest32) {
  ConnectionStats stats;
  for (int i = 0; i < 32; ++i) stats.record_round_trip(100ms);
  for (int i = 0; i < 32; ++i) stats.record_round_trip(1ms);
  EXPECT_EQ(stats.round_trips(), 64u);
  EXPECT_DOUBLE_EQ(stats.latency_quantile_ms(0.95), 1.0);
}

TEST(ConnectionStatsTest, ZeroAndHugeRoundTripsAreClamped) {
  ConnectionStats stats;
  stats.record_round_trip(0ns);
  EXPECT_DOUBLE_EQ(stats.latency_quantile_ms(0.5), 0.001) << "recorded as 1 µs, not lost";
  stats.record_round_trip(std::chrono::hours(24 * 365));
  EXPECT_GT(stats.latency_quantile_ms(1.0), 4.0e6) << "clamped at 2^32 µs (about 71 minutes)";
}

}  // namespace
}  // namespace securechannel
