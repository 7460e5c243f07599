// The cleanup pass's rules on their own: when an idle connection closes, when a leased one is
// asked back, and how max_lifetime spreads over the connections.
#include "pool/connection_rules.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace securechannel::detail {
namespace {

using namespace std::chrono_literals;

const CleanupLimits limits{.idle_timeout = 60s, .latency_threshold = 300ms};

ConnectionFacts healthy_idle() {
  return ConnectionFacts{.past_lifetime = false, .idle_for = 1s, .above_min_idle = true, .round_trips = 100, .p95_ms = 20};
}

TEST(ConnectionRulesTest, AHealthyIdleConnectionStays) {
  EXPECT_EQ(idle_close_reason(healthy_idle(), limits), CleanupVerdict::keep);
  EXPECT_EQ(leased_retire_reason(healthy_idle(), limits), CleanupVerdict::keep);
}

TEST(ConnectionRulesTest, IdleTimeoutTrimsOnlyAboveMinIdle) {
  ConnectionFacts facts = healthy_idle();
  facts.idle_for = 60s;
  EXPECT_EQ(idle_close_reason(facts, limits), CleanupVerdict::idle_timeout) << "at the timeout exactly";
  facts.above_min_idle = false;
  EXPECT_EQ(idle_close_reason(facts, limits), CleanupVerdict::keep) << "never below min_idle";
  facts.idle_for = 59s;
  facts.above_min_idle = true;
  EXPECT_EQ(idle_close_reason(facts, limits), CleanupVerdict::keep);
}

TEST(ConnectionRulesTest, LifetimeComesFirst) {
  ConnectionFacts facts = healthy_idle();
  facts.past_lifetime = true;
  facts.idle_for = 120s;
  facts.p95_ms = 5000;
  EXPECT_EQ(idle_close_reason(facts, limits), CleanupVerdict::max_lifetime);
  EXPECT_EQ(leased_retire_reason(facts, limits), CleanupVerdict::max_lifetime);
}

TEST(ConnectionRulesTest, LatencyNeedsEnoughSamplesAndAP95AboveTheThreshold) {
  ConnectionFacts facts = healthy_idle();
  facts.p95_ms = 300;
  EXPECT_EQ(idle_close_reason(facts, limits), CleanupVerdict::keep) << "at the threshold is not above it";
  facts.p95_ms = 301;
  EXPECT_EQ(idle_close_reason(facts, limits), CleanupVerdict::latency);
  EXPECT_EQ(leased_retire_reason(facts, limits), CleanupVerdict::latency);
  facts.round_trips = min_samples_for_latency_eviction - 1;
  EXPECT_EQ(idle_close_reason(facts, limits), CleanupVerdict::keep) << "one slow handshake says little";
  EXPECT_EQ(leased_retire_reason(facts, limits), CleanupVerdict::keep);
}

TEST(ConnectionRulesTest, AnExclusiveLeaseIsNeverClosedForIdleness) {
  ConnectionFacts facts = healthy_idle();
  facts.idle_for = 24h;
  EXPECT_EQ(leased_retire_reason(facts, limits), CleanupVerdict::keep);
}

TEST(ConnectionRulesTest, AMultiplexedLeaseIdleForTheTimeoutIsAskedBackAboveMinIdle) {
  ConnectionFacts facts = healthy_idle();
  facts.multiplexed = true;
  facts.idle_for = 60s;
  EXPECT_EQ(leased_retire_reason(facts, limits), CleanupVerdict::idle_timeout) << "at the timeout exactly";
  facts.above_min_idle = false;
  EXPECT_EQ(leased_retire_reason(facts, limits), CleanupVerdict::keep) << "never below min_idle";
  facts.above_min_idle = true;
  facts.idle_for = 59s;
  EXPECT_EQ(leased_retire_reason(facts, limits), CleanupVerdict::keep);
  facts.idle_for = 60s;
  facts.past_lifetime = true;
  EXPECT_EQ(leased_retire_reason(facts, limits), CleanupVerdict::max_lifetime) << "lifetime first, as when idle";
  facts.past_lifetime = false;
  facts.idle_for = 1s;
  facts.p95_ms = 400;
  EXPECT_EQ(leased_retire_reason(facts, limits), CleanupVerdict::latency);
}

TEST(ConnectionRulesTest, WithoutJitterEveryConnectionLivesExactlyItsLifetime) {
  for (std::uint64_t id = 1; id < 50; ++id) {
    EXPECT_FALSE(past_lifetime(59'999ms, 60s, 0.0, id, 42)) << id;
    EXPECT_TRUE(past_lifetime(60s, 60s, 0.0, id, 42)) << id;
  }
}

TEST(ConnectionRulesTest, JitterSpreadsLifetimesOverTheWholeBand) {
  // With a jitter of 0.2, lifetimes fall in [48 s, 72 s): find each connection's by stepping.
  std::vector<int> lifetimes_s;
  for (std::uint64_t id = 1; id <= 200; ++id) {
    int seconds = 40;
    while (!past_lifetime(std::chrono::seconds(seconds), 60s, 0.2, id, 7)) ++seconds;
    lifetimes_s.push_back(seconds);
    EXPECT_FALSE(past_lifetime(std::chrono::seconds(seconds - 1), 60s, 0.2, id, 7)) << "monotonic in age";
  }
  const auto [shortest, longest] = std::minmax_element(lifetimes_s.begin(), lifetimes_s.end());
  EXPECT_GE(*shortest, 48);
  EXPECT_LE(*longest, 72);
  EXPECT_LE(*shortest, 50) << "the band's low end is used";
  EXPECT_GE(*longest, 70) << "the band's high end is used";
}

TEST(ConnectionRulesTest, TheSpreadDependsOnThePoolsSeed) {
  int differ = 0;
  for (std::uint64_t id = 1; id <= 50; ++id) {
    if (past_lifetime(60s, 60s, 0.2, id, 1) != past_lifetime(60s, 60s, 0.2, id, 2)) ++differ;
  }
  EXPECT_GT(differ, 5) << "two pools opened together do not rotate together";
}

TEST(ConnectionRulesTest, AHugeLifetimeNeverOverflows) {
  const auto forever = std::chrono::milliseconds::max();
  EXPECT_FALSE(past_lifetime(std::chrono::hours(24 * 365 * 100), forever, 0.1, 1, 1));
}

}  // namespace
}  // namespace securechannel::detail
