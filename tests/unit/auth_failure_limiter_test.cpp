// AuthFailureLimiter: the allowance, one try per interval after it, refilling, the keys (IPv6 by
// its /64, IPv4-mapped as IPv4) and the bound on remembered addresses.
#include "monitor/auth_failure_limiter.hpp"

#include <gtest/gtest.h>

namespace securechannel::monitor {
namespace {

using namespace std::chrono_literals;
using boost::asio::ip::make_address;

const AuthFailureLimiter::TimePoint start{};

TEST(AuthFailureLimiterTest, AnAddressMayFailItsAllowanceThenOncePerInterval) {
  AuthFailureLimiter limiter({.allowed = 3, .interval = 1000ms});
  const auto client = make_address("192.0.2.7");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter.wait_before_attempt(client, start), 0ms) << "failure " << i;
    limiter.record_failure(client, start);
  }
  EXPECT_EQ(limiter.wait_before_attempt(client, start), 1000ms);
  EXPECT_EQ(limiter.wait_before_attempt(client, start + 400ms), 600ms);
  EXPECT_EQ(limiter.wait_before_attempt(client, start + 1000ms), 0ms);
  limiter.record_failure(client, start + 1000ms);
  EXPECT_EQ(limiter.wait_before_attempt(client, start + 1000ms), 1000ms) << "one more try, then the next interval";
}

TEST(AuthFailureLimiterTest, TheAllowanceRefillsAndAFullOneIsForgotten) {
  AuthFailureLimiter limiter({.allowed = 2, .interval = 100ms});
  const auto client = make_address("192.0.2.7");
  limiter.record_failure(client, start);
  limiter.record_failure(client, start);
  EXPECT_GT(limiter.wait_before_attempt(client, start), 0ms);
  EXPECT_EQ(limiter.wait_before_attempt(client, start + 200ms), 0ms);
  // Whole again: two more failures in a row are allowed.
  limiter.record_failure(client, start + 200ms);
  EXPECT_EQ(limiter.wait_before_attempt(client, start + 200ms), 0ms);
  limiter.record_failure(client, start + 200ms);
  EXPECT_EQ(limiter.wait_before_attempt(client, start + 200ms), 100ms);
}

TEST(AuthFailureLimiterTest, OtherAddressesAreNotHeldBack) {
  AuthFailureLimiter limiter({.allowed = 1, .interval = 1s});
  limiter.record_failure(make_address("192.0.2.7"), start);
  EXPECT_GT(limiter.wait_before_attempt(make_address("192.0.2.7"), start), 0ms);
  EXPECT_EQ(limiter.wait_before_attempt(make_address("192.0.2.8"), start), 0ms);
  EXPECT_EQ(limiter.wait_before_attempt(make_address("2001:db8::7"), start), 0ms);
}

TEST(AuthFailureLimiterTest, AnIpv6ClientCountsByItsSlash64) {
  AuthFailureLimiter limiter({.allowed = 2, .interval = 1s});
  limiter.record_failure(make_address("2001:db8:0:1::1"), start);
  limiter.record_failure(make_address("2001:db8:0:1:ffff::2"), start);
  EXPECT_GT(limiter.wait_before_attempt(make_address("2001:db8:0:1::3"), start), 0ms) << "the same /64";
  EXPECT_EQ(limiter.wait_before_attempt(make_address("2001:db8:0:2::1"), start), 0ms) << "another /64";
  EXPECT_EQ(limiter.addresses(), 1u);
}

TEST(AuthFailureLimiterTest, AnIpv4MappedAddressIsItsIpv4Address) {
  AuthFailureLimiter limiter({.allowed = 1, .interval = 1s});
  limiter.record_failure(make_address("::ffff:192.0.2.7"), start);
  EXPECT_GT(limiter.wait_before_attempt(make_address("192.0.2.7"), start), 0ms);
  EXPECT_EQ(limiter.wait_before_attempt(make_address("::ffff:192.0.2.8"), start), 0ms) << "not a /64 of IPv4";
}

TEST(AuthFailureLimiterTest, RemembersAtMostMaxAddressesAndForgetsTheClosestToRefilledFirst) {
  AuthFailureLimiter limiter({.allowed = 1, .interval = 1s, .max_addresses = 3});
  const auto persistent = make_address("192.0.2.1");
  for (int i = 0; i < 5; ++i) limiter.record_failure(persistent, start);  // 5 s ahead
  for (int i = 2; i < 100; ++i) {
    limiter.record_failure(make_address("192.0.2." + std::to_string(i)), start);  // 1 s ahead each
    ASSERT_LE(limiter.addresses(), 3u);
  }
  EXPECT_EQ(limiter.wait_before_attempt(persistent, start), 5000ms) << "a churn of others does not free it";
  EXPECT_EQ(limiter.wait_before_attempt(make_address("192.0.2.99"), start), 1000ms);
}

TEST(AuthFailureLimiterTest, ZeroAllowedTurnsTheLimitOff) {
  AuthFailureLimiter limiter({.allowed = 0, .interval = 1s});
  for (int i = 0; i < 100; ++i) limiter.record_failure(make_address("192.0.2.7"), start);
  EXPECT_EQ(limiter.wait_before_attempt(make_address("192.0.2.7"), start), 0ms);
  EXPECT_EQ(limiter.addresses(), 0u);
}

}  // namespace
}  // namespace securechannel::monitor
