// UpstreamGroup: balancing across endpoints, ejection after consecutive failures for a growing
// time, readmission by a probe connection, the ejection cap, and the backup group taking over
// while every endpoint is ejected and handing back when one is readmitted. Endpoints are real
// pools (our TLS echo server, or a closed port); time is a ManualClock.
#include "daemon/upstream_group.hpp"
#include "echo_upstream.hpp"
#include "io_thread.hpp"
#include "securechannel/securechannel.hpp"

#include <gtest/gtest.h>

#include <future>
#include <algorithm>
#include <map>

namespace securechannel::daemon {
namespace {

using namespace std::chrono_literals;
namespace sct = securechannel::testing;
using Outcome = UpstreamGroup::Outcome;

class UpstreamGroupTest : public ::testing::Test {
 protected:
  std::shared_ptr<SecureChannelPool> pool(const std::string& endpoint) {
    return upstream.builder_for(endpoint).with_connect_timeout(2s).with_circuit_breaker_failure_threshold(1000).build(io.executor());
  }

  std::shared_ptr<UpstreamGroup> group(const std::string& name, std::vector<std::string> endpoints,
                                       BalancingPolicy policy = BalancingPolicy::round_robin) {
    auto made = std::make_shared<UpstreamGroup>(name, policy, detection, clock);
    for (const std::string& endpoint : endpoints) made->add({pool(endpoint), nullptr, endpoint});
    return made;
  }

  // Picks once and reports `outcome`; returns the endpoint used ("" when none).
  static std::string use(UpstreamGroup& group, Outcome outcome) {
    const UpstreamGroup::Pick pick = group.pick();
    if (!pick) return "";
    group.report(pick, outcome);
    return pick.member->endpoint;
  }

  static bool ejected(const UpstreamGroup& group, std::size_t index) { return group.state().endpoints.at(index).ejected; }

  sct::EchoUpstream upstream;
  sct::IoThread io;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  OutlierDetection detection{.consecutive_failures = 3, .base_ejection_time = 10s, .max_ejection_time = 25s,
                             .max_ejection_percent = 100};
  const std::string closed = "127.0.0.1:1";
};

TEST_F(UpstreamGroupTest, RoundRobinTakesTurns) {
  auto relay = group("relay", {upstream.server.endpoint(), "127.0.0.2:" + std::to_string(upstream.server.port())});
  std::map<std::string, int> used;
  for (int i = 0; i < 10; ++i) ++used[use(*relay, Outcome::success)];
  EXPECT_EQ(used.size(), 2u);
  for (const auto& [endpoint, count] : used) EXPECT_EQ(count, 5) << endpoint;
}

TEST_F(UpstreamGroupTest, LeastRequestsAvoidsTheBusyEndpoint) {
  auto relay = group("relay", {"127.0.0.1:1001", "127.0.0.1:1002"}, BalancingPolicy::least_requests);
  const UpstreamGroup::Pick busy = relay->pick();  // stays in flight
  for (int i = 0; i < 5; ++i) EXPECT_NE(use(*relay, Outcome::success), busy.member->endpoint);
  relay->report(busy, Outcome::success);
}

TEST_F(UpstreamGroupTest, AnAffinityKeyKeepsItsEndpointAndOnlyAnEjectedEndpointsKeysMove) {
  auto relay = group("relay", {"127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003"}, BalancingPolicy::least_requests);
  const auto endpoint_of = [&](const std::string& key, Outcome outcome = Outcome::success) {
    const UpstreamGroup::Pick pick = relay->pick(key);
    relay->report(pick, outcome);
    return pick.member->endpoint;
  };
  std::map<std::string, std::string> home;
  std::map<std::string, int> keys_on;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "session-" + std::to_string(i);
    home[key] = endpoint_of(key);
    ++keys_on[home[key]];
    EXPECT_EQ(endpoint_of(key), home[key]) << key;
  }
  ASSERT_EQ(keys_on.size(), 3u);
  for (const auto& [endpoint, keys] : keys_on) EXPECT_GE(keys, 50) << endpoint << ": keys spread";

  // Three failures eject the second endpoint: its keys go elsewhere, no other key moves.
  const std::string& victim_key = std::find_if(home.begin(), home.end(), [](const auto& entry) {
                                    return entry.second == "127.0.0.1:1002";
                                  })->first;
  for (int i = 0; i < 3; ++i) endpoint_of(victim_key, Outcome::failure);
  ASSERT_TRUE(ejected(*relay, 1));
  for (const auto& [key, endpoint] : home) {
    if (endpoint == "127.0.0.1:1002") {
      EXPECT_NE(endpoint_of(key), endpoint) << key;
    } else {
      EXPECT_EQ(endpoint_of(key), endpoint) << key;
    }
  }
}

TEST_F(UpstreamGroupTest, ARetryAvoidsTheEndpointItsFirstAttemptFailedOnKeyedOrNot) {
  auto relay = group("relay", {"127.0.0.1:1001", "127.0.0.1:1002"}, BalancingPolicy::least_requests);
  for (const std::string key : {"", "session-1", "session-2", "session-3"}) {
    const UpstreamGroup::Pick first = relay->pick(key);
    relay->report(first, Outcome::success);  // no ejection: only `avoid` moves the retry
    const UpstreamGroup::Pick retry = relay->pick(key, first.member);
    ASSERT_TRUE(retry) << key;
    EXPECT_NE(retry.member, first.member) << key;
    relay->report(retry, Outcome::success);
  }
  // With no other endpoint (and no backup), nothing: not the one that failed.
  auto single = group("single", {"127.0.0.1:1003"}, BalancingPolicy::round_robin);
  const UpstreamGroup::Pick only = single->pick("session-1");
  EXPECT_FALSE(single->pick("session-1", only.member));
  single->report(only, Outcome::success);
}

TEST_F(UpstreamGroupTest, ConsecutiveFailuresEjectForAGrowingTimeAndAProbeReadmits) {
  auto relay = group("relay", {upstream.server.endpoint(), closed});
  // Failures on the closed endpoint only (round robin alternates: a, closed, a, closed, ...).
  for (int i = 0; i < 6; ++i) {
    const UpstreamGroup::Pick pick = relay->pick();
    relay->report(pick, pick.member->endpoint == closed ? Outcome::failure : Outcome::success);
  }
  ASSERT_TRUE(ejected(*relay, 1));
  EXPECT_FALSE(ejected(*relay, 0));
  EXPECT_EQ(relay->state().endpoints[1].ejections, 1u);
  EXPECT_EQ(relay->state().endpoints[1].ejected_for, 10s);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(use(*relay, Outcome::success), upstream.server.endpoint());

  // Ejection over: the next pick starts a probe, which fails (nothing listens): ejected again, longer.
  clock->advance(10s);
  use(*relay, Outcome::success);
  ASSERT_TRUE(sct::eventually([&] { return !relay->state().endpoints[1].probing; }));
  EXPECT_TRUE(ejected(*relay, 1));
  EXPECT_EQ(relay->state().endpoints[1].ejections, 2u);
  EXPECT_EQ(relay->state().endpoints[1].ejected_for, 20s);
  clock->advance(20s);
  use(*relay, Outcome::success);
  ASSERT_TRUE(sct::eventually([&] { return !relay->state().endpoints[1].probing; }));
  EXPECT_EQ(relay->state().endpoints[1].ejected_for, 25s) << "capped at max_ejection_time";
}

TEST_F(UpstreamGroupTest, ASuccessfulProbeReadmits) {
  auto relay = group("relay", {upstream.server.endpoint(), closed});
  for (int i = 0; i < 6; ++i) {  // failures reported on the echo server's turns only
    const UpstreamGroup::Pick pick = relay->pick();
    relay->report(pick, pick.member->endpoint == closed ? Outcome::success : Outcome::failure);
  }
  ASSERT_TRUE(ejected(*relay, 0));
  EXPECT_EQ(use(*relay, Outcome::success), closed) << "the other endpoint serves meanwhile";
  clock->advance(10s);
  EXPECT_EQ(use(*relay, Outcome::success), closed);  // starts the probe; still out meanwhile
  ASSERT_TRUE(sct::eventually([&] { return !ejected(*relay, 0); })) << "the echo server accepts: readmitted";
  std::map<std::string, int> used;
  for (int i = 0; i < 4; ++i) ++used[use(*relay, Outcome::success)];
  EXPECT_EQ(used[upstream.server.endpoint()], 2);
}

TEST_F(UpstreamGroupTest, AProbeReadmitsAnEndpointThatCameBackOnItsPort) {
  auto returning = std::make_unique<demo::TlsEchoServer>(
      demo::TlsEchoServerOptions{.certificate_file = upstream.leaf.certificate_file, .key_file = upstream.leaf.key_file});
  const std::uint16_t port = returning->port();
  auto relay = group("relay", {returning->endpoint(), upstream.server.endpoint()});
  returning.reset();
  // Real failures this time: the pool's own connect is refused.
  for (int i = 0; i < 6 && !ejected(*relay, 0); ++i) {
    const UpstreamGroup::Pick pick = relay->pick();
    auto failed = std::make_shared<std::promise<bool>>();
    pick.member->pool->async_acquire([failed](boost::system::error_code error, Lease) { failed->set_value(bool(error)); });
    relay->report(pick, failed->get_future().get() ? Outcome::failure : Outcome::success);
  }
  ASSERT_TRUE(ejected(*relay, 0));
  returning = std::make_unique<demo::TlsEchoServer>(demo::TlsEchoServerOptions{
      .certificate_file = upstream.leaf.certificate_file, .key_file = upstream.leaf.key_file, .port = port});
  clock->advance(10s);
  use(*relay, Outcome::success);  // starts the probe
  EXPECT_TRUE(sct::eventually([&] { return !ejected(*relay, 0); }, 3s)) << "the probe connects at once";
}

TEST_F(UpstreamGroupTest, OneEndpointWithoutABackupIsNeverEjected) {
  auto relay = group("relay", {closed});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(use(*relay, Outcome::failure), closed);
  EXPECT_FALSE(ejected(*relay, 0)) << "its breaker answers for it: callers see the real error";
  EXPECT_EQ(relay->state().no_endpoint, 0u);
}

TEST_F(UpstreamGroupTest, AtMostMaxEjectionPercentAreEjected) {
  detection.max_ejection_percent = 50;
  auto relay = group("relay", {"127.0.0.1:1001", "127.0.0.1:1002"});
  for (int i = 0; i < 12; ++i) use(*relay, Outcome::failure);
  const auto state = relay->state();
  EXPECT_EQ(state.endpoints[0].ejected + state.endpoints[1].ejected, 1) << "one of two at 50 %";
}

TEST_F(UpstreamGroupTest, TheBackupServesWhileEveryEndpointIsEjectedAndHandsBack) {
  auto relay = group("relay", {upstream.server.endpoint()});
  auto spare = group("spare", {"127.0.0.2:" + std::to_string(upstream.server.port())});
  relay->set_backup(spare);
  for (int i = 0; i < 3; ++i) use(*relay, Outcome::failure);
  ASSERT_TRUE(ejected(*relay, 0));
  const UpstreamGroup::Pick failover = relay->pick();
  ASSERT_TRUE(failover);
  EXPECT_TRUE(failover.from_backup);
  EXPECT_EQ(failover.member->endpoint, spare->members()[0].endpoint);
  relay->report(failover, Outcome::success);
  EXPECT_EQ(relay->state().failovers, 1u);
  EXPECT_EQ(spare->state().endpoints[0].in_flight, 0u) << "the report reached the backup";

  clock->advance(10s);
  relay->pick();  // probe starts; this pick is served by the backup
  ASSERT_TRUE(sct::eventually([&] { return !ejected(*relay, 0); }));
  const UpstreamGroup::Pick back = relay->pick();
  EXPECT_FALSE(back.from_backup);
  EXPECT_EQ(back.member->endpoint, upstream.server.endpoint());
  relay->report(back, Outcome::success);
}

}  // namespace
}  // namespace securechannel::daemon
