// No storms: connects are paced (max_connecting), and lifetimes are spread (max_lifetime_jitter)
// so that a pool built at once neither connects nor rotates all its connections at once.
#include "echo_upstream.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/securechannel.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

// The same sequence every run (golden-ratio steps), so that the spread is the same every run.
class SteppingRandom final : public RandomSource {
 public:
  double uniform01() noexcept override {
    next_ += 0.6180339887498949;
    if (next_ >= 1) next_ -= 1;
    return next_;
  }

 private:
  double next_ = 0.25;
};

class PoolPacingTest : public ::testing::Test {
 protected:
  PoolBuilder builder() { return upstream.builder_for(upstream.server.endpoint()); }

  testing::EchoUpstream upstream;
  testing::IoThread io;
};

TEST_F(PoolPacingTest, ABurstOfCallersStartsAtMostMaxConnectingConnects) {
  auto pool = builder().with_max_connections(20).with_max_connecting(2).with_acquire_timeout(60s).build(io.executor());
  std::vector<testing::PendingAcquire> callers;
  for (int i = 0; i < 20; ++i) callers.push_back(testing::start_acquire(*pool));
  // Every connect the burst asked for started (or not) inside those calls.
  EXPECT_LE(pool->stats().connecting_connections, 2u);
  std::size_t most_connecting = 0;
  for (auto& caller : callers) {
    most_connecting = std::max(most_connecting, pool->stats().connecting_connections);
    ASSERT_EQ(caller.error.get(), boost::system::error_code{});
  }
  EXPECT_LE(most_connecting, 2u);
  // Each completed connect started the next while callers waited: all 20 were served.
  EXPECT_EQ(pool->stats().leased_connections, 20u);
  EXPECT_EQ(pool->stats().connections_created, 20u);
}

TEST_F(PoolPacingTest, LifetimesAreSpreadAroundMaxLifetime) {
  auto clock = std::make_shared<ManualClock>();
  auto pool = builder()
                  .with_clock(clock)
                  .with_random(std::make_shared<SteppingRandom>())
                  .with_max_connections(20)
                  .with_min_idle(20)
                  .with_max_lifetime(100s)
                  .with_max_lifetime_jitter(0.1)
                  .build(io.executor());
  pool->warm_up();
  ASSERT_TRUE(testing::eventually([&] { return pool->stats().idle_connections == 20; }, 30s));

  clock->advance(89s);  // below every lifetime (90 s at the least)
  EXPECT_EQ(pool->run_cleanup_once(), 0u);
  clock->advance(11s);  // 100 s: about half are due
  const std::size_t rotated_at_100s = pool->run_cleanup_once();
  EXPECT_GT(rotated_at_100s, 0u);
  EXPECT_LT(rotated_at_100s, 20u) << "all rotated at once: no spread";
}

TEST_F(PoolPacingTest, WithoutJitterEveryConnectionRotatesAtMaxLifetime) {
  auto clock = std::make_shared<ManualClock>();
  auto pool = builder()
                  .with_clock(clock)
                  .with_max_connections(5)
                  .with_min_idle(5)
                  .with_max_lifetime(100s)
                  .with_max_lifetime_jitter(0)
                  .build(io.executor());
  pool->warm_up();
  ASSERT_TRUE(testing::eventually([&] { return pool->stats().idle_connections == 5; }, 30s));
  clock->advance(99s);
  EXPECT_EQ(pool->run_cleanup_once(), 0u);
  clock->advance(1s);
  EXPECT_EQ(pool->run_cleanup_once(), 5u);
}

}  // namespace
}  // namespace securechannel
