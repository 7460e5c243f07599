#include "monitor/pool_history.hpp"

#include <gtest/gtest.h>

namespace securechannel::monitor {
namespace {

using namespace std::chrono_literals;

PoolSample sample_at(std::chrono::system_clock::time_point time, std::uint64_t requests) {
  PoolSample sample;
  sample.time = time;
  sample.requests_total = requests;
  return sample;
}

class PoolHistoryTest : public ::testing::Test {
 protected:
  bool offer_at(std::chrono::system_clock::time_point time, std::uint64_t requests) {
    return history.offer(sample_at(time, requests), round_trips.snapshot());
  }

  PoolHistory history;
  LatencyHistogram round_trips;  // the pool's cumulative histogram
  const std::chrono::system_clock::time_point start = std::chrono::system_clock::now();
};

TEST_F(PoolHistoryTest, KeepsOneSamplePerIntervalWhoeverOffersIt) {
  EXPECT_TRUE(history.due(start));
  EXPECT_TRUE(offer_at(start, 1));
  EXPECT_FALSE(history.due(start + 1s));
  EXPECT_FALSE(offer_at(start + 1s, 2)) << "a second caller within the interval";
  EXPECT_TRUE(offer_at(start + PoolHistory::interval - 200ms, 3)) << "timer jitter still counts";
  const auto samples = history.samples();
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].requests_total, 1u);
  EXPECT_EQ(samples[1].requests_total, 3u);
}

TEST_F(PoolHistoryTest, EachSampleHasTheLatencyOfItsOwnInterval) {
  for (int i = 0; i < 100; ++i) round_trips.record(40ms);
  ASSERT_TRUE(offer_at(start, 0));  // the first: since the pool started
  for (int i = 0; i < 10; ++i) round_trips.record(2ms);
  ASSERT_TRUE(offer_at(start + PoolHistory::interval, 0));
  ASSERT_TRUE(offer_at(start + 2 * PoolHistory::interval, 0));  // nothing in between
  const auto samples = history.samples();
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(samples[0].round_trips, 100u);
  EXPECT_NEAR(samples[0].p99_ms, 40.0, 0.5);
  EXPECT_EQ(samples[1].round_trips, 10u);
  EXPECT_NEAR(samples[1].p99_ms, 2.0, 0.05) << "the slow earlier period is not in this interval";
  EXPECT_EQ(samples[2].round_trips, 0u);
}

TEST_F(PoolHistoryTest, HoldsFifteenMinutesAndNoMore) {
  const auto hour = std::chrono::duration_cast<std::chrono::seconds>(1h);
  for (auto at = 0s; at <= hour; at += PoolHistory::interval) offer_at(start + at, static_cast<std::uint64_t>(at.count()));
  const auto samples = history.samples();
  ASSERT_FALSE(samples.empty());
  EXPECT_EQ(samples.back().time, start + hour);
  EXPECT_LE(samples.back().time - samples.front().time, PoolHistory::span);
  EXPECT_EQ(samples.size(), static_cast<std::size_t>(PoolHistory::span / PoolHistory::interval) + 1);
}

TEST_F(PoolHistoryTest, AClockThatWentBackStartsTheHistoryAgain) {
  ASSERT_TRUE(offer_at(start, 1));
  ASSERT_TRUE(offer_at(start + PoolHistory::interval, 2));
  EXPECT_TRUE(history.due(start - 1h));
  ASSERT_TRUE(offer_at(start - 1h, 3));
  const auto samples = history.samples();
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].requests_total, 3u);
}

}  // namespace
}  // namespace securechannel::monitor
