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

TEST(PoolHistoryTest, KeepsOneSamplePerIntervalWhoeverOffersIt) {
  PoolHistory history;
  const auto start = std::chrono::system_clock::now();
  EXPECT_TRUE(history.offer(sample_at(start, 1)));
  EXPECT_FALSE(history.offer(sample_at(start + 1s, 2))) << "a second caller within the interval";
  EXPECT_TRUE(history.offer(sample_at(start + PoolHistory::interval - 200ms, 3))) << "timer jitter still counts";
  const auto samples = history.samples();
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].requests_total, 1u);
  EXPECT_EQ(samples[1].requests_total, 3u);
}

TEST(PoolHistoryTest, HoldsFifteenMinutesAndNoMore) {
  PoolHistory history;
  const auto start = std::chrono::system_clock::now();
  const auto hour = std::chrono::duration_cast<std::chrono::seconds>(1h);
  for (auto at = 0s; at <= hour; at += PoolHistory::interval) {
    history.offer(sample_at(start + at, static_cast<std::uint64_t>(at.count())));
  }
  const auto samples = history.samples();
  ASSERT_FALSE(samples.empty());
  EXPECT_EQ(samples.back().time, start + hour);
  EXPECT_LE(samples.back().time - samples.front().time, PoolHistory::span);
  EXPECT_EQ(samples.size(), static_cast<std::size_t>(PoolHistory::span / PoolHistory::interval) + 1);
}

}  // namespace
}  // namespace securechannel::monitor
