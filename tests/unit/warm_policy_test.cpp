// WarmPolicy on its own: how many idle connections stay warm through busy periods and rest,
// when a memory release is due, and how a failed connect paces the warm-up.
#include "pool/warm_policy.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

namespace securechannel::detail {
namespace {

using namespace std::chrono_literals;

class WarmPolicyTest : public ::testing::Test {
 protected:
  boost::asio::io_context io;
  WarmPolicy policy{io.get_executor()};
};

TEST_F(WarmPolicyTest, ABusyPeriodKeepsWarmAsManyAsWereLeasedAtOnce) {
  EXPECT_EQ(policy.warm_idle_limit(), WarmPolicy::warm_idle_connections);
  for (std::size_t leased = 1; leased <= 32; ++leased) policy.on_leased(leased);
  EXPECT_EQ(policy.warm_idle_limit(), 32u);
  // The batch comes back: while some are still out, the limit holds.
  for (std::size_t leased = 31; leased > 0; --leased) EXPECT_FALSE(policy.on_idle_came_to_rest(leased));
  EXPECT_EQ(policy.warm_idle_limit(), 32u) << "the next batch finds its 32 connections warm";
}

TEST_F(WarmPolicyTest, RestBringsTheLimitBackOnce) {
  policy.on_leased(20);
  EXPECT_TRUE(policy.on_idle_came_to_rest(0)) << "the pool cools everything beyond the few";
  EXPECT_EQ(policy.warm_idle_limit(), WarmPolicy::warm_idle_connections);
  EXPECT_FALSE(policy.on_idle_came_to_rest(0)) << "already at the few: nothing more to cool at once";
}

TEST_F(WarmPolicyTest, MaintenanceJudgesTheBusyPeriodOver) {
  policy.on_leased(40);
  policy.on_maintenance(12);
  EXPECT_EQ(policy.warm_idle_limit(), 12u) << "as many as are leased now";
  policy.on_maintenance(3);
  EXPECT_EQ(policy.warm_idle_limit(), WarmPolicy::warm_idle_connections) << "never below the few";
}

TEST_F(WarmPolicyTest, AMemoryReleaseIsDueAfterEnoughCoolingAndOnlyOnceAtATime) {
  for (std::size_t i = 1; i < WarmPolicy::memory_release_after_cooling; ++i) policy.on_cooled();
  EXPECT_FALSE(policy.memory_release_due());
  policy.on_cooled();
  EXPECT_TRUE(policy.memory_release_due());
  policy.arm_memory_release();
  EXPECT_FALSE(policy.memory_release_due()) << "one quiet period at a time";
  policy.memory_release_fired();
  EXPECT_TRUE(policy.memory_release_due()) << "busy when it fired: the cooled count stays";
  policy.on_memory_released();
  EXPECT_FALSE(policy.memory_release_due());
}

TEST_F(WarmPolicyTest, AFailedConnectPutsTheWarmUpOffByTheBackoff) {
  const ReconnectBackoff backoff(100ms, 10s, std::make_shared<SequenceRandomSource>(std::initializer_list<double>{0.5}));
  const Clock::time_point now{std::chrono::seconds(1000)};
  EXPECT_TRUE(policy.top_up_allowed(now));
  policy.on_connect_failed(now, backoff);
  EXPECT_FALSE(policy.top_up_allowed(now + 49ms));
  EXPECT_TRUE(policy.top_up_allowed(now + 50ms)) << "half of the first ceiling, 100 ms";
  policy.on_connect_failed(now, backoff);
  EXPECT_FALSE(policy.top_up_allowed(now + 99ms)) << "the second failure in a row waits longer";
  EXPECT_TRUE(policy.top_up_allowed(now + 100ms));
  policy.on_connected();
  policy.on_connect_failed(now, backoff);
  EXPECT_TRUE(policy.top_up_allowed(now + 50ms)) << "a success starts the count over";
}

}  // namespace
}  // namespace securechannel::detail
