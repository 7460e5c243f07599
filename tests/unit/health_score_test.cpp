// The health score on its own: each input's points, their caps, the lower median, and what the
// pool's marks do with the scores (checkout prefers the healthiest of the warmest, LIFO among
// the healthy; recycling after two low passes in a row).
#include "pool/health_marks.hpp"
#include "pool/health_score.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace securechannel::detail {
namespace {

using namespace std::chrono_literals;

TEST(HealthScoreTest, AConnectionLikeItsPeersScoresFull) {
  EXPECT_EQ(health_score(ConnectionHealth{}), 100);
  EXPECT_EQ(health_score(ConnectionHealth{.latency_ratio = 1.5, .age_fraction = 0.5}), 100) << "both at their free limit";
}

TEST(HealthScoreTest, EachInputTakesItsPointsUpToItsCap) {
  EXPECT_EQ(health_score(ConnectionHealth{.latency_ratio = 2.75}), 70) << "halfway from 1.5 to 4: 30 of 60";
  EXPECT_EQ(health_score(ConnectionHealth{.latency_ratio = 4}), 40);
  EXPECT_EQ(health_score(ConnectionHealth{.latency_ratio = 400}), 40) << "capped at 60 points";
  EXPECT_EQ(health_score(ConnectionHealth{.stalls = 2}), 80);
  EXPECT_EQ(health_score(ConnectionHealth{.stalls = 32}), 70) << "capped at 30 points";
  EXPECT_EQ(health_score(ConnectionHealth{.recent_failures = 1}), 80);
  EXPECT_EQ(health_score(ConnectionHealth{.recent_failures = 1000}), 60) << "capped at 40 points";
  EXPECT_EQ(health_score(ConnectionHealth{.age_fraction = 0.75}), 95);
  EXPECT_EQ(health_score(ConnectionHealth{.age_fraction = 3}), 90) << "capped at 10 points";
  EXPECT_EQ(health_score(ConnectionHealth{.latency_ratio = 100, .stalls = 32, .recent_failures = 9, .age_fraction = 1}),
            0)
      << "140 points off: never below 0";
}

TEST(HealthScoreTest, TheMedianIsTheLowerOneAndNeedsTwoConnections) {
  EXPECT_EQ(pool_median_p95_us(std::vector<double>{}), 0);
  EXPECT_EQ(pool_median_p95_us(std::vector<double>{500}), 0) << "nothing to compare with";
  EXPECT_EQ(pool_median_p95_us(std::vector<double>{60'000, 1'000}), 1'000) << "the slow one of two is judged";
  EXPECT_EQ(pool_median_p95_us(std::vector<double>{3, 1, 2}), 2);
  EXPECT_EQ(pool_median_p95_us(std::vector<double>{4, 1, 3, 2}), 2);
}

TEST(HealthScoreTest, LatencyInputsNeedEnoughSamplesAMedianAndARealExcess) {
  const std::vector<std::uint32_t> slow(16, 60'000);
  ConnectionHealth health;
  add_latency_inputs(slow, 60'000, 0, health);
  EXPECT_EQ(health.latency_ratio, 1) << "no median: not judged";
  add_latency_inputs(std::span(slow).first(15), 60'000, 1'000, health);
  EXPECT_EQ(health.latency_ratio, 1) << "15 samples: not judged";
  add_latency_inputs(slow, 60'000, 1'000, health);
  EXPECT_EQ(health.latency_ratio, 60);
  EXPECT_EQ(health.stalls, 16u) << "each over 4 ms and 1 + 5 ms";
  EXPECT_EQ(health_score(health), 10);

  // A fast network: 4x its peers, but 0.9 ms more: nothing held against it.
  ConnectionHealth lan;
  add_latency_inputs(std::vector<std::uint32_t>(16, 1'200), 1'200, 300, lan);
  EXPECT_EQ(lan.latency_ratio, 1);
  EXPECT_EQ(lan.stalls, 0u) << "a stall must also be 5 ms over the median";
  EXPECT_EQ(health_score(lan), 100);
  EXPECT_EQ(stall_threshold_us(300), 5'300);
  EXPECT_EQ(stall_threshold_us(10'000), 40'000);
  EXPECT_EQ(stall_threshold_us(0), 0) << "no median yet";

  ConnectionHealth one_stall;
  std::vector<std::uint32_t> mostly_fast(16, 1'000);
  mostly_fast[7] = 20'000;
  add_latency_inputs(mostly_fast, 1'000, 1'000, one_stall);
  EXPECT_EQ(one_stall.stalls, 1u);
  EXPECT_EQ(health_score(one_stall), 90);
}

TEST(HealthScoreTest, AConnectionsHealthComesFromItsStats) {
  ConnectionStats stats;
  for (int i = 0; i < 15; ++i) stats.record_round_trip(20ms);
  EXPECT_EQ(judged_p95_us(stats), 0) << "15 round trips: not judged";
  stats.record_round_trip(20ms);
  EXPECT_NEAR(judged_p95_us(stats), 20'000, 20);
  const ConnectionHealth health = connection_health(stats, judged_p95_us(stats), 1'000, 1, 0.25);
  EXPECT_NEAR(health.latency_ratio, 20, 0.1);
  EXPECT_EQ(health.stalls, 16u);
  EXPECT_EQ(health.recent_failures, 1u);
  EXPECT_EQ(health.score, 0) << "60 + 30 + 20 points";
}

class HealthMarksTest : public ::testing::Test {
 protected:
  PooledConnection& connection() {
    made.push_back(std::make_shared<PooledConnection>(made.size() + 1, io.get_executor(), nullptr, Clock::time_point{},
                                                      nullptr));
    return *made.back();
  }

  boost::asio::io_context io;
  std::vector<std::shared_ptr<PooledConnection>> made;
  HealthMarks marks;
};

TEST_F(HealthMarksTest, OnlyConnectionsBelowHealthyAreMarked) {
  PooledConnection& fine = connection();
  PooledConnection& slow = connection();
  EXPECT_EQ(marks.record_pass(fine, 95, 25, 20), 0u);
  EXPECT_TRUE(marks.empty()) << "a healthy pool keeps no marks";
  EXPECT_EQ(marks.record_pass(slow, 60, 25, 20), 0u);
  EXPECT_EQ(marks.score_of(slow), 60);
  EXPECT_EQ(marks.score_of(fine), 100);
  EXPECT_EQ(marks.record_pass(slow, 92, 25, 40), 0u);
  EXPECT_TRUE(marks.empty()) << "recovered";
}

TEST_F(HealthMarksTest, RecyclingNeedsTwoLowPassesInARow) {
  PooledConnection& bad = connection();
  EXPECT_EQ(marks.record_pass(bad, 10, 25, 20), 1u);
  EXPECT_EQ(marks.record_pass(bad, 30, 25, 40), 0u) << "back above: the count starts again";
  EXPECT_EQ(marks.record_pass(bad, 10, 25, 60), 1u);
  EXPECT_EQ(marks.record_pass(bad, 24, 25, 60), 2u) << "low again, though it carried nothing since";
  EXPECT_EQ(marks.record_pass(bad, 0, 0, 60), 0u) << "health_recycle_below 0: never";
}

TEST_F(HealthMarksTest, APassedOverConnectionRecoversUntilItIsTriedAgain) {
  PooledConnection& mediocre = connection();
  EXPECT_EQ(marks.record_pass(mediocre, 50, 25, 20), 0u);
  // Checkout passes it over: its window stays as it was, and so would its score.
  marks.record_pass(mediocre, 50, 25, 20);
  EXPECT_EQ(marks.score_of(mediocre), 50 + HealthMarks::recovery_points);
  marks.record_pass(mediocre, 50, 25, 20);
  marks.record_pass(mediocre, 50, 25, 20);
  EXPECT_TRUE(marks.empty()) << "back among the healthy, to be judged on new round trips";
  EXPECT_EQ(marks.record_pass(mediocre, 50, 25, 36), 0u);
  EXPECT_EQ(marks.score_of(mediocre), 50) << "new round trips, as slow as before: marked again";
}

TEST_F(HealthMarksTest, CheckoutTakesTheHealthiestOfTheWarmestAndTheWarmestAmongEquals) {
  PooledConnection& warmest = connection();
  PooledConnection& second = connection();
  PooledConnection& third = connection();
  std::vector<PooledConnection*> candidates{&warmest, &second, &third};
  EXPECT_EQ(marks.healthiest(candidates), 0u);
  marks.mark_stall(warmest);
  EXPECT_EQ(marks.score_of(warmest), 100 - HealthMarks::stall_mark_points);
  EXPECT_EQ(marks.healthiest(candidates), 1u) << "the stalled one is passed over";
  marks.record_pass(second, 50, 25, 100);
  EXPECT_EQ(marks.healthiest(candidates), 2u);
  marks.record_pass(third, 95, 25, 100);  // healthy: unmarked
  marks.record_pass(warmest, 89, 25, 100);
  EXPECT_EQ(marks.healthiest(candidates), 2u) << "89 is marked; 95 counts as healthy";
  marks.record_pass(warmest, 90, 25, 100);
  EXPECT_EQ(marks.healthiest(candidates), 0u) << "90 and 95 are equals: the warmest";
  marks.record_pass(third, 5, 25, 100);
  marks.record_pass(warmest, 5, 25, 100);
  EXPECT_EQ(marks.healthiest(candidates), 1u) << "all marked: the best score";
  marks.forget(second);
  EXPECT_EQ(marks.healthiest(candidates), 1u) << "forgotten: unmarked, so healthy";
}

}  // namespace
}  // namespace securechannel::detail
