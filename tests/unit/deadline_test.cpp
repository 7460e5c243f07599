#include "core/deadline.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace securechannel::detail {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::steady_clock::time_point;

TEST(DeadlineTest, AddsOrdinaryTimeouts) {
  const TimePoint now = std::chrono::steady_clock::now();
  EXPECT_EQ(deadline_after(now, 5s), now + 5s);
  EXPECT_EQ(deadline_after(now, 1ms), now + 1ms);
}

TEST(DeadlineTest, SaturatesInsteadOfWrappingIntoThePast) {
  const TimePoint now = std::chrono::steady_clock::now();
  EXPECT_EQ(deadline_after(now, std::chrono::milliseconds::max()), TimePoint::max());
  EXPECT_EQ(deadline_after(now, std::chrono::hours(24 * 365 * 1000)), TimePoint::max());
  EXPECT_EQ(deadline_after(TimePoint::max() - 1ns, 1ms), TimePoint::max());
  EXPECT_GT(deadline_after(now, std::chrono::hours(24 * 365 * 100)), now);
}

TEST(DeadlineTest, ANegativeOrZeroTimeoutIsNow) {
  const TimePoint now = std::chrono::steady_clock::now();
  EXPECT_EQ(deadline_after(now, -5s), now);
  EXPECT_EQ(deadline_after(now, std::chrono::milliseconds::min()), now);
  EXPECT_EQ(deadline_after(now, 0ms), now);
}

}  // namespace
}  // namespace securechannel::detail
