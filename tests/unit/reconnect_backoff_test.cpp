#include "securechannel/reconnect_backoff.hpp"

#include <gtest/gtest.h>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

TEST(ReconnectBackoffTest, CeilingDoublesUpToMax) {
  ReconnectBackoff backoff(100ms, 1s, std::make_shared<SequenceRandomSource>(std::initializer_list<double>{1.0}));
  EXPECT_EQ(backoff.ceiling(0), 0ms);
  EXPECT_EQ(backoff.ceiling(1), 100ms);
  EXPECT_EQ(backoff.ceiling(2), 200ms);
  EXPECT_EQ(backoff.ceiling(4), 800ms);
  EXPECT_EQ(backoff.ceiling(5), 1s);
  EXPECT_EQ(backoff.ceiling(1000), 1s) << "no overflow for long outages";
}

TEST(ReconnectBackoffTest, FullJitterScalesTheCeiling) {
  auto random = std::make_shared<SequenceRandomSource>(std::initializer_list<double>{0.0, 0.5, 0.999});
  ReconnectBackoff backoff(100ms, 10s, random);
  EXPECT_EQ(backoff.delay_after(3), 0ms);
  EXPECT_EQ(backoff.delay_after(3), 200ms);
  EXPECT_EQ(backoff.delay_after(3), 399ms);
}

TEST(ReconnectBackoffTest, DefaultRandomStaysWithinCeiling) {
  ReconnectBackoff backoff(50ms, 5s, std::make_shared<DefaultRandomSource>());
  for (unsigned failures = 1; failures < 12; ++failures) {
    for (int i = 0; i < 50; ++i) {
      const auto delay = backoff.delay_after(failures);
      EXPECT_GE(delay, 0ms);
      EXPECT_LE(delay, backoff.ceiling(failures));
    }
  }
}

}  // namespace
}  // namespace securechannel
