// LongLeases on its own: one listener per connection, called once; the idle spell of a
// multiplexed holder, as the cleanup pass reads it, starting only when nothing runs and nothing
// started since the last look; and the failures taken once per pass.
#include "pool/long_leases.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <memory>

namespace securechannel::detail {
namespace {

using namespace std::chrono_literals;

class LongLeasesTest : public ::testing::Test {
 protected:
  // A connection that never connects: no TLS context needed.
  std::shared_ptr<PooledConnection> connection() {
    return std::make_shared<PooledConnection>(1, io.get_executor(), nullptr, Clock::time_point{}, nullptr);
  }

  boost::asio::io_context io;
  LongLeases leases;
  const Clock::time_point t0 = Clock::time_point{} + 1h;
};

TEST_F(LongLeasesTest, AListenerIsTakenOnceAndForgottenWithItsLease) {
  const auto first = connection();
  const auto second = connection();
  int calls = 0;
  leases.entry(*first).listener = [&](RetireReason) { ++calls; };
  leases.entry(*first).listener = [&](RetireReason reason) { calls += reason == RetireReason::idle ? 10 : 100; };
  EXPECT_FALSE(leases.take_listener(*second)) << "no listener of its own";
  auto listener = leases.take_listener(*first);
  ASSERT_TRUE(listener);
  listener(RetireReason::idle);
  EXPECT_EQ(calls, 10) << "the last listener set, once";
  EXPECT_FALSE(leases.take_listener(*first)) << "taken already";
  leases.forget(*first);
  EXPECT_EQ(leases.find(*first), nullptr);
  EXPECT_TRUE(leases.entries().empty());
}

TEST_F(LongLeasesTest, OnlyALeaseWithSlotsHasAnIdleSpell) {
  const auto leased = connection();
  EXPECT_FALSE(leases.quiet_for(*leased, t0)) << "not listed";
  leases.entry(*leased).listener = [](RetireReason) {};
  EXPECT_FALSE(leases.quiet_for(*leased, t0)) << "one exchange at a time";
  leases.entry(*leased).slots = std::make_shared<LeaseSlots>();
  EXPECT_TRUE(leases.quiet_for(*leased, t0)) << "multiplexed";
}

TEST_F(LongLeasesTest, TheIdleSpellStartsWhenNothingRunsAndNothingStarted) {
  const auto leased = connection();
  auto slots = std::make_shared<LeaseSlots>();
  LongLeases::Entry& entry = leases.entry(*leased);
  entry.slots = slots;
  entry.quiet_since = t0;
  entry.quiet = true;

  EXPECT_EQ(leases.quiet_for(*leased, t0 + 5s), 5s) << "quiet since the lease was shared";

  slots->in_use = 3;
  slots->started = 3;
  EXPECT_EQ(leases.quiet_for(*leased, t0 + 6s), 0s) << "streams running";

  slots->in_use = 0;
  EXPECT_EQ(leases.quiet_for(*leased, t0 + 7s), 0s)
      << "ended since the last look, at a time not known: the spell starts now, not at the busy look";
  EXPECT_EQ(leases.quiet_for(*leased, t0 + 9s), 2s);

  slots->started = 4;  // a stream that started and ended between two looks
  EXPECT_EQ(leases.quiet_for(*leased, t0 + 10s), 0s);
  EXPECT_EQ(leases.quiet_for(*leased, t0 + 70s), 60s);
}

TEST_F(LongLeasesTest, FailuresAreCountedOncePerPass) {
  const auto leased = connection();
  EXPECT_EQ(leases.take_failures(*leased), 0u) << "not listed";
  auto slots = std::make_shared<LeaseSlots>();
  slots->failed = 2;
  LongLeases::Entry& entry = leases.entry(*leased);
  entry.slots = slots;
  entry.failures_seen = 2;  // as share_slots leaves it: what came before is not recent
  slots->failed = 5;
  EXPECT_EQ(LongLeases::failures_since_taken(entry), 3u);
  EXPECT_EQ(LongLeases::failures_since_taken(entry), 3u) << "a look for status takes nothing";
  EXPECT_EQ(leases.take_failures(*leased), 3u);
  EXPECT_EQ(leases.take_failures(*leased), 0u) << "taken by the last pass";
}

}  // namespace
}  // namespace securechannel::detail
