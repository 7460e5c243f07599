// Health scores against a real slow path: two connections to nginx through the fault proxy, one
// of them behind 200 ms of added latency (below the latency threshold, so only its score against
// the other tells it apart). Once a cleanup pass has scored it, checkout passes it over even
// though it is the warmest idle connection, and the next pass, its second low one in a row,
// recycles it. When every connection is equally slow, nothing is recycled and requests go on.
#include "proxied_fault_test.hpp"

#include <atomic>
#include <map>
#include <thread>
#include <vector>

namespace securechannel {
namespace {

using namespace std::chrono_literals;
using testing::Direction;
using testing::FaultProxy;

constexpr auto kSlowPath = 200ms;  // below the latency threshold (300 ms)

class HealthScoreTest : public testing::ProxiedFaultTest {
 protected:
  // `callers` at once, each sending `each` requests one after another; how many requests each
  // connection served.
  static std::map<std::uint64_t, int> send_from(HttpClient& client, int callers, int each) {
    std::mutex mutex;
    std::map<std::uint64_t, int> served;
    std::vector<std::thread> threads;
    for (int caller = 0; caller < callers; ++caller) {
      threads.emplace_back([&, caller] {
        for (int i = 0; i < each; ++i) {
          const testing::TimedOutcome outcome =
              testing::timed_request(client, testing::range_request(static_cast<std::size_t>(caller * 1000 + i), 64))
                  .get();
          EXPECT_FALSE(outcome.error) << outcome.error.message();
          EXPECT_EQ(outcome.response.result_int(), 206);
          std::lock_guard lock(mutex);
          ++served[outcome.response.exchange.connection_id];
        }
      });
    }
    for (auto& thread : threads) thread.join();
    return served;
  }

  static ConnectionSnapshot snapshot_of(SecureChannelPool& pool, std::uint64_t id) {
    for (const ConnectionSnapshot& connection : pool.connection_snapshots()) {
      if (connection.connection_id == id) return connection;
    }
    ADD_FAILURE() << "no connection " << id;
    return {};
  }
};

TEST_F(HealthScoreTest, ASlowConnectionIsPassedOverAtCheckoutThenRecycled) {
  start_nginx_behind_proxy();
  auto pool = builder_through_proxy("http/1.1").with_max_connections(2).build(io.executor());
  {
    HttpClient client(pool);
    // The first connection, made and then slowed; the second, made by the second caller, is not.
    ASSERT_EQ(send_from(client, 1, 1).size(), 1u);
    proxy->set_toxics(Direction::to_client, {.latency = kSlowPath}, FaultProxy::Reach::open_only);
    // 20 round trips on each: a connection is judged on 16 or more.
    const std::map<std::uint64_t, int> warming = send_from(client, 2, 20);
    ASSERT_EQ(warming.size(), 2u);
    std::uint64_t slow = 0;
    std::uint64_t fast = 0;
    for (const auto& [id, count] : warming) (snapshot_of(*pool, id).p95_latency_ms >= 150 ? slow : fast) = id;
    ASSERT_NE(slow, 0u) << "no connection behind the slow path";
    ASSERT_NE(fast, 0u);

    pool->run_cleanup_once();
    const ConnectionSnapshot scored = snapshot_of(*pool, slow);
    EXPECT_GT(scored.health.latency_ratio, 4) << "200 ms against a few milliseconds";
    EXPECT_GE(scored.health.stalls, 16u);
    EXPECT_LT(scored.health.score, 25);
    EXPECT_EQ(snapshot_of(*pool, fast).health.score, 100);
    EXPECT_EQ(pool->stats().closed_unhealthy, 0u) << "one low pass is not enough";

    // One request after another: plain LIFO would hand out the slow connection each time (it
    // came back last, and each request puts it back on top).
    const std::map<std::uint64_t, int> after = send_from(client, 1, 10);
    EXPECT_EQ(after.count(slow), 0u) << "the slow connection served " << after.at(slow) << " of 10";
    EXPECT_EQ(after.count(fast), 1u);

    pool->run_cleanup_once();
    EXPECT_EQ(pool->stats().closed_unhealthy, 1u) << "recycled at its second low pass";
    for (const ConnectionSnapshot& connection : pool->connection_snapshots()) {
      EXPECT_NE(connection.connection_id, slow) << "still in the pool";
    }
    EXPECT_EQ(send_from(client, 1, 1).size(), 1u) << "requests go on";
  }
  close_pool(pool);
  expect_everything_closed();
}

TEST_F(HealthScoreTest, APoolWhoseConnectionsAreAllSlowKeepsThemAndServes) {
  start_nginx_behind_proxy();
  proxy->set_toxics(Direction::to_client, {.latency = kSlowPath});
  auto pool = builder_through_proxy("http/1.1").with_max_connections(2).build(io.executor());
  {
    HttpClient client(pool);
    ASSERT_EQ(send_from(client, 2, 18).size(), 2u);  // 16 round trips or more on each: both judged
    for (int pass = 0; pass < 3; ++pass) pool->run_cleanup_once();
    EXPECT_EQ(pool->stats().closed_unhealthy, 0u);
    for (const ConnectionSnapshot& connection : pool->connection_snapshots()) {
      EXPECT_GE(connection.health.score, 90) << "connection " << connection.connection_id << ": its peers are as slow";
      EXPECT_LT(connection.health.latency_ratio, 1.5);
    }
    EXPECT_EQ(pool->stats().total_connections, 2u);
    EXPECT_FALSE(send_from(client, 2, 2).empty()) << "requests go on (send_from checks each)";
  }
  close_pool(pool);
  expect_everything_closed();
}

}  // namespace
}  // namespace securechannel
