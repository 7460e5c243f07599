// LongLeases on its own: one listener per connection, called once; and the idle spell of a
// multiplexed holder, as the cleanup pass reads it, starting only when nothing runs and nothing
// started since the last look.
#include "pool/long_leases.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

namespace securechannel::detail {
namespace {

using namespace std::chrono_literals;

struct FakeSlots final : SlotReport {
  std::uint32_t slot_capacity() const noexcept override { return 128; }
  std::uint32_t slots_in_use() const noexcept override { return in_use.load(); }
  std::uint64_t exchanges_started() const noexcept override { return started.load(); }
  std::uint64_t exchanges_failed() const noexcept override { return 0; }
  std::atomic<std::uint32_t> in_use{0};
  std::atomic<std::uint64_t> started{0};
};

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

TEST_F(LongLeasesTest, ALeaseWithoutSlotsOrWithItsHolderGoneHasNoIdleSpell) {
  const auto leased = connection();
  EXPECT_FALSE(leases.quiet_for(*leased, t0)) << "not listed";
  leases.entry(*leased).listener = [](RetireReason) {};
  EXPECT_FALSE(leases.quiet_for(*leased, t0)) << "one exchange at a time";
  {
    auto slots = std::make_shared<FakeSlots>();
    leases.entry(*leased).slots = slots;
    EXPECT_TRUE(leases.quiet_for(*leased, t0));
  }
  EXPECT_FALSE(leases.quiet_for(*leased, t0)) << "the holder is gone";
}

TEST_F(LongLeasesTest, TheIdleSpellStartsWhenNothingRunsAndNothingStarted) {
  const auto leased = connection();
  auto slots = std::make_shared<FakeSlots>();
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

}  // namespace
}  // namespace securechannel::detail
