#include "securechannel/circuit_breaker.hpp"

#include <gtest/gtest.h>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

class CircuitBreakerTest : public ::testing::Test {
 protected:
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  CircuitBreaker breaker{3, 60s, clock};
};

TEST_F(CircuitBreakerTest, StaysClosedBelowThreshold) {
  breaker.record_failure();
  breaker.record_failure();
  EXPECT_EQ(breaker.state(), CircuitState::closed);
  EXPECT_TRUE(breaker.allow_attempt());
}

TEST_F(CircuitBreakerTest, SuccessResetsConsecutiveFailures) {
  breaker.record_failure();
  breaker.record_failure();
  breaker.record_success();
  breaker.record_failure();
  EXPECT_EQ(breaker.state(), CircuitState::closed);
  EXPECT_EQ(breaker.consecutive_failures(), 1u);
}

TEST_F(CircuitBreakerTest, OpensAtThresholdAndFailsFastUntilCooldown) {
  for (int i = 0; i < 3; ++i) breaker.record_failure();
  EXPECT_EQ(breaker.state(), CircuitState::open);
  EXPECT_FALSE(breaker.allow_attempt());
  clock->advance(59s);
  EXPECT_FALSE(breaker.allow_attempt());
  EXPECT_EQ(breaker.times_opened(), 1u);
}

TEST_F(CircuitBreakerTest, AllowsExactlyOneProbeAfterCooldown) {
  for (int i = 0; i < 3; ++i) breaker.record_failure();
  clock->advance(60s);
  EXPECT_TRUE(breaker.allow_attempt());
  EXPECT_EQ(breaker.state(), CircuitState::half_open);
  EXPECT_FALSE(breaker.allow_attempt()) << "a second attempt while the probe is out";
}

TEST_F(CircuitBreakerTest, ProbeSuccessCloses) {
  for (int i = 0; i < 3; ++i) breaker.record_failure();
  clock->advance(61s);
  ASSERT_TRUE(breaker.allow_attempt());
  breaker.record_success();
  EXPECT_EQ(breaker.state(), CircuitState::closed);
  EXPECT_TRUE(breaker.allow_attempt());
}

TEST_F(CircuitBreakerTest, ProbeFailureReopensWithFreshCooldown) {
  for (int i = 0; i < 3; ++i) breaker.record_failure();
  clock->advance(61s);
  ASSERT_TRUE(breaker.allow_attempt());
  breaker.record_failure();
  EXPECT_EQ(breaker.state(), CircuitState::open);
  EXPECT_EQ(breaker.times_opened(), 2u);
  clock->advance(30s);
  EXPECT_FALSE(breaker.allow_attempt());
  clock->advance(31s);
  EXPECT_TRUE(breaker.allow_attempt());
}

TEST(CircuitStateTest, NamesAreStable) {
  EXPECT_EQ(to_string(CircuitState::closed), "closed");
  EXPECT_EQ(to_string(CircuitState::half_open), "half_open");
  EXPECT_EQ(to_string(CircuitState::open), "open");
  EXPECT_EQ(static_cast<int>(CircuitState::open), 2);
}

}  // namespace
}  // namespace securechannel

namespace securechannel {
namespace {

TEST(SteadyClockTest, CoarseClockSharesSteadyClocksTimeBase) {
  SteadyClock clock;
  const auto fine_before = std::chrono::steady_clock::now();
  const auto coarse = clock.now();
  const auto fine_after = std::chrono::steady_clock::now();
  // The coarse reading lags by at most a kernel tick and never runs ahead.
  EXPECT_LE(coarse, fine_after);
  EXPECT_GT(coarse, fine_before - std::chrono::milliseconds(100));
}

TEST_F(CircuitBreakerTest, RemembersWhenItsStateLastChanged) {
  EXPECT_FALSE(breaker.state_changed_at()) << "closed since it was made";
  for (int i = 0; i < 3; ++i) breaker.record_failure();
  const auto opened = breaker.state_changed_at();
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened, clock->wall_now());
  clock->advance(60s);
  ASSERT_TRUE(breaker.allow_attempt());
  EXPECT_EQ(breaker.state(), CircuitState::half_open);
  EXPECT_EQ(*breaker.state_changed_at() - *opened, 60s);
  clock->advance(1s);
  breaker.record_success();
  EXPECT_EQ(*breaker.state_changed_at() - *opened, 61s);
  clock->advance(1s);
  breaker.record_success();  // already closed: no change
  EXPECT_EQ(*breaker.state_changed_at() - *opened, 61s);
}

}  // namespace
}  // namespace securechannel
