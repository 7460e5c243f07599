// AuthFailureLimiter: the allowance, one try per interval after it, refunds for right tokens,
// refilling, the keys (IPv6 by its /64, IPv4-mapped as IPv4) and the bound on remembered
// addresses, which never hands a limited address a fresh allowance.
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
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.admit(client, start), 0ms) << "attempt " << i;
  EXPECT_EQ(limiter.admit(client, start), 1000ms);
  EXPECT_EQ(limiter.admit(client, start + 400ms), 600ms) << "a refused attempt is not counted";
  EXPECT_EQ(limiter.admit(client, start + 1000ms), 0ms);
  EXPECT_EQ(limiter.admit(client, start + 1000ms), 1000ms) << "one more try, then the next interval";
}

TEST(AuthFailureLimiterTest, ARightTokenIsNotCountedAsAFailure) {
  AuthFailureLimiter limiter({.allowed = 2, .interval = 1s});
  const auto client = make_address("192.0.2.7");
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(limiter.admit(client, start), 0ms) << "attempt " << i;
    limiter.refund(client, start);
  }
  EXPECT_EQ(limiter.addresses(), 0u);
}

TEST(AuthFailureLimiterTest, AttemptsInFlightAtOnceCountBeforeTheyAreJudged) {
  AuthFailureLimiter limiter({.allowed = 3, .interval = 1s});
  const auto client = make_address("192.0.2.7");
  int admitted = 0;
  for (int i = 0; i < 64; ++i) admitted += limiter.admit(client, start) == 0ms ? 1 : 0;
  EXPECT_EQ(admitted, 3) << "64 parallel guesses: only the allowance is compared";
}

TEST(AuthFailureLimiterTest, TheAllowanceRefillsAndAFullOneIsForgotten) {
  AuthFailureLimiter limiter({.allowed = 2, .interval = 100ms});
  const auto client = make_address("192.0.2.7");
  limiter.admit(client, start);
  limiter.admit(client, start);
  EXPECT_GT(limiter.admit(client, start), 0ms);
  EXPECT_EQ(limiter.admit(client, start + 200ms), 0ms) << "whole again: two more in a row";
  EXPECT_EQ(limiter.admit(client, start + 200ms), 0ms);
  EXPECT_EQ(limiter.admit(client, start + 200ms), 100ms);
}

TEST(AuthFailureLimiterTest, OtherAddressesAreNotHeldBack) {
  AuthFailureLimiter limiter({.allowed = 1, .interval = 1s});
  limiter.admit(make_address("192.0.2.7"), start);
  EXPECT_GT(limiter.admit(make_address("192.0.2.7"), start), 0ms);
  EXPECT_EQ(limiter.admit(make_address("192.0.2.8"), start), 0ms);
  EXPECT_EQ(limiter.admit(make_address("2001:db8::7"), start), 0ms);
}

TEST(AuthFailureLimiterTest, AnIpv6ClientCountsByItsSlash64) {
  AuthFailureLimiter limiter({.allowed = 2, .interval = 1s});
  limiter.admit(make_address("2001:db8:0:1::1"), start);
  limiter.admit(make_address("2001:db8:0:1:ffff::2"), start);
  EXPECT_GT(limiter.admit(make_address("2001:db8:0:1::3"), start), 0ms) << "the same /64";
  EXPECT_EQ(limiter.admit(make_address("2001:db8:0:2::1"), start), 0ms) << "another /64";
  EXPECT_EQ(limiter.addresses(), 2u);
}

TEST(AuthFailureLimiterTest, AnIpv4MappedAddressIsItsIpv4Address) {
  AuthFailureLimiter limiter({.allowed = 1, .interval = 1s});
  limiter.admit(make_address("::ffff:192.0.2.7"), start);
  EXPECT_GT(limiter.admit(make_address("192.0.2.7"), start), 0ms);
  EXPECT_EQ(limiter.admit(make_address("::ffff:192.0.2.8"), start), 0ms) << "not a /64 of IPv4";
}

TEST(AuthFailureLimiterTest, AFullTableNeverHandsALimitedAddressAFreshAllowance) {
  AuthFailureLimiter limiter({.allowed = 1, .interval = 1s, .max_addresses = 3});
  const auto persistent = make_address("192.0.2.1");
  limiter.admit(persistent, start);
  for (int i = 2; i < 100; ++i) {
    limiter.admit(make_address("192.0.2." + std::to_string(i)), start);
    ASSERT_LE(limiter.addresses(), 3u);
  }
  EXPECT_EQ(limiter.admit(persistent, start), 1000ms) << "a churn of others does not free it";
  // The addresses that found no room share one allowance: the first got it, the rest wait.
  EXPECT_GT(limiter.admit(make_address("192.0.2.200"), start), 0ms);
  // Once the remembered ones have refilled, there is room again.
  EXPECT_EQ(limiter.admit(make_address("192.0.2.201"), start + 2s), 0ms);
}

TEST(AuthFailureLimiterTest, ZeroAllowedTurnsTheLimitOff) {
  AuthFailureLimiter limiter({.allowed = 0, .interval = 1s});
  for (int i = 0; i < 100; ++i) EXPECT_EQ(limiter.admit(make_address("192.0.2.7"), start), 0ms);
  EXPECT_EQ(limiter.addresses(), 0u);
}

}  // namespace
}  // namespace securechannel::monitor
