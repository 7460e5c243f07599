// Replies delayed on their way back (350 ± 50 ms per piece, by the proxy: a slow path or a
// congested upstream): every request still succeeds after the delay with its own reply, and one
// whose timeout is shorter than the delay fails with request_timeout, once; its late reply
// reaches no one (HTTP/1.1 and raw leases: its connection is closed, never reused). A busy
// HTTP/2 session behind a slow path is replaced (latency eviction).
#include "proxied_fault_test.hpp"

#include <atomic>
#include <thread>
#include <vector>

namespace securechannel {
namespace {

using namespace std::chrono_literals;
using testing::Direction;
using testing::TimedOutcome;

constexpr auto kLatency = 350ms;
constexpr auto kJitter = 50ms;
constexpr double kLeastDelaySeconds = 0.3;  // latency - jitter

class LatencyTest : public testing::ProxiedFaultTest, public ::testing::WithParamInterface<const char*> {
 protected:
  bool http2() const { return std::string(GetParam()) == "h2"; }
};

TEST_P(LatencyTest, EveryCallerGetsItsOwnReplyAfterTheDelay) {
  start_nginx_behind_proxy();
  auto pool = builder_through_proxy(GetParam()).build(io.executor());
  {
    HttpClient client(pool);
    proxy->set_toxics(Direction::to_client, {.latency = kLatency, .jitter = kJitter});
    constexpr std::size_t kCallers = 8;
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::future<TimedOutcome>> sent;
    for (std::size_t i = 0; i < kCallers; ++i) {
      sent.push_back(testing::timed_request(client, testing::range_request(i * 4096 + i, 1000), {.timeout = 10s}));
    }
    for (std::size_t i = 0; i < kCallers; ++i) {
      ASSERT_EQ(sent[i].wait_for(15s), std::future_status::ready);
      const TimedOutcome outcome = sent[i].get();
      ASSERT_FALSE(outcome.error) << i << ": " << outcome.error.message();
      EXPECT_EQ(outcome.response.result_int(), 206);
      EXPECT_EQ(outcome.response.body(), testing::range_body(i * 4096 + i, 1000)) << "caller " << i << " got another's reply";
      EXPECT_GE(outcome.seconds, kLeastDelaySeconds) << "caller " << i;
    }
    // Concurrent, not one after another: the delays overlap.
    EXPECT_LT(seconds_since(start), 3.0);
    EXPECT_EQ(client.stats().requests, kCallers);
    EXPECT_EQ(client.stats().failed_requests, 0u);
    // Every connection the pool made went through the proxy once.
    EXPECT_EQ(pool->stats().connections_created, proxy->accepted_connections());
    if (http2()) {
      EXPECT_EQ(proxy->accepted_connections(), 1u) << "HTTP/2 multiplexes the callers";
    }
  }
  close_pool(pool);
  expect_everything_closed();
}

TEST_P(LatencyTest, ATimeoutShorterThanTheDelayFailsOnceAndTheLateReplyReachesNoOne) {
  start_nginx_behind_proxy();
  auto pool = builder_through_proxy(GetParam()).build(io.executor());
  {
    HttpClient client(pool);
    const TimedOutcome warm = testing::timed_request(client, testing::range_request(0, 100)).get();
    ASSERT_FALSE(warm.error) << warm.error.message();
    proxy->set_toxics(Direction::to_client, {.latency = kLatency, .jitter = kJitter});

    std::atomic<int> handler_calls{0};
    std::promise<TimedOutcome> late_promise;
    auto late_future = late_promise.get_future();
    const auto start = std::chrono::steady_clock::now();
    client.async_request(testing::range_request(1000, 100), {.timeout = 150ms},
                         [&](boost::system::error_code error, HttpResponse response) {
                           if (handler_calls.fetch_add(1) == 0) {
                             late_promise.set_value({error, std::move(response), seconds_since(start)});
                           }
                         });
    ASSERT_EQ(late_future.wait_for(5s), std::future_status::ready);
    const TimedOutcome late = late_future.get();
    EXPECT_EQ(late.error, make_error_code(errc::request_timeout)) << late.error.message();
    EXPECT_GE(late.seconds, 0.15);
    EXPECT_LT(late.seconds, kLeastDelaySeconds) << "the timeout waited for the reply";

    // Sent at once: on a connection that carried the request above, the late reply would come first.
    const TimedOutcome next = testing::timed_request(client, testing::range_request(2000, 100), {.timeout = 5s}).get();
    ASSERT_FALSE(next.error) << next.error.message();
    EXPECT_EQ(next.response.body(), testing::range_body(2000, 100)) << "the late reply went to the next caller";
    // By now the late reply has come (it was due before the next one's); no second call.
    EXPECT_EQ(handler_calls.load(), 1);
    EXPECT_EQ(client.stats().failed_requests, 1u);
    EXPECT_EQ(client.stats().requests, 2u);
    EXPECT_EQ(client.stats().retries, 0u);
    if (http2()) {
      // The stream was reset; the connection serves on (nghttp2 drops frames of a closed stream).
      EXPECT_EQ(proxy->accepted_connections(), 1u);
    } else {
      // The connection that timed out was closed; the next request took a new one.
      EXPECT_EQ(proxy->accepted_connections(), 2u);
      EXPECT_EQ(pool->stats().closed_broken + pool->stats().closed_abandoned, 1u);
    }
    EXPECT_EQ(pool->stats().connections_created, proxy->accepted_connections());
  }
  close_pool(pool);
  expect_everything_closed();
}

INSTANTIATE_TEST_SUITE_P(Protocols, LatencyTest, ::testing::Values("http/1.1", "h2"), testing::protocol_test_name);

// An HTTP/2 session is never idle while it serves, so idle latency eviction never reaches it:
// the pool asks it back when its p95 passes the threshold. Its path turns slow (only the open
// connection: new ones are fast), it drains once a replacement is open, the requests go on
// without a failure, and the replacement keeps the fast path.
class Http2LatencyEvictionTest : public testing::ProxiedFaultTest {};

TEST_F(Http2LatencyEvictionTest, ASessionBehindASlowPathIsReplaced) {
  start_nginx_behind_proxy();
  auto pool = builder_through_proxy("h2")
                  .with_latency_threshold(150ms)
                  .with_cleanup_interval(100ms)
                  .build(io.executor());
  pool->run_cleanup_task();
  {
    HttpClient client(pool);
    const auto get = [&] {
      return testing::timed_request(client, testing::range_request(0, 100), {.timeout = 10s}).get();
    };
    const TimedOutcome first = get();
    ASSERT_FALSE(first.error) << first.error.message();
    const std::uint64_t slow_id = first.response.exchange.connection_id;
    proxy->set_toxics(Direction::to_client, {.latency = kLatency, .jitter = kJitter},
                      testing::FaultProxy::Reach::open_only);
    int sent = 1;
    for (; sent < 40 && pool->stats().closed_latency == 0; ++sent) {
      const TimedOutcome outcome = get();
      ASSERT_FALSE(outcome.error) << "request " << sent << ": " << outcome.error.message();
    }
    ASSERT_TRUE(testing::eventually([&] { return pool->stats().closed_latency == 1; }))
        << "not evicted after " << sent << " requests";
    const TimedOutcome after = get();
    ASSERT_FALSE(after.error) << after.error.message();
    EXPECT_NE(after.response.exchange.connection_id, slow_id);
    EXPECT_LT(after.seconds, kLeastDelaySeconds) << "the replacement is on the fast path";
    EXPECT_EQ(client.stats().failed_requests, 0u);
    EXPECT_EQ(pool->stats().closed_broken, 0u);
  }
  close_pool(pool);
  expect_everything_closed();
}

// The same over raw leases of our TLS echo server.
class RawLatencyTest : public testing::ProxiedFaultTest {};

TEST_F(RawLatencyTest, EveryLeaseReadsItsOwnEchoAfterTheDelay) {
  start_echo_behind_proxy();
  auto pool = builder_through_proxy().build(io.executor());
  proxy->set_toxics(Direction::to_client, {.latency = kLatency, .jitter = kJitter});
  constexpr int kThreads = 4;
  std::vector<std::string> replies(kThreads);
  std::vector<double> seconds(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      Lease lease = testing::acquire(*pool);  // the handshake is delayed too
      const auto start = std::chrono::steady_clock::now();
      replies[i] = testing::echo_exchange(lease, "caller " + std::to_string(i));
      seconds[i] = seconds_since(start);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(replies[i], "caller " + std::to_string(i));
    EXPECT_GE(seconds[i], kLeastDelaySeconds);
  }
  EXPECT_EQ(pool->stats().connections_created, proxy->accepted_connections());
  close_pool(pool);
  expect_everything_closed();
}

TEST_F(RawLatencyTest, ALeaseGivenUpBeforeItsEchoCameIsNeverReused) {
  start_echo_behind_proxy();
  auto pool = builder_through_proxy().build(io.executor());
  proxy->set_toxics(Direction::to_client, {.latency = kLatency, .jitter = kJitter});
  std::uint64_t first_id = 0;
  {
    Lease lease = testing::acquire(*pool);
    first_id = lease.connection_id();
    const std::string request = "first";
    ASSERT_FALSE(testing::operation_error(
        [&](auto handler) { async_write_all(lease, boost::asio::buffer(request), handler); }));
  }  // given back with its echo on the way
  EXPECT_EQ(pool->stats().closed_abandoned, 1u);
  Lease next = testing::acquire(*pool);
  EXPECT_NE(next.connection_id(), first_id);
  EXPECT_EQ(testing::echo_exchange(next, "fresh"), "fresh") << "read the echo meant for the first lease";
  next = Lease();
  EXPECT_EQ(pool->stats().connections_created, 2u);
  EXPECT_EQ(proxy->accepted_connections(), 2u);
  close_pool(pool);
  expect_everything_closed();
}

}  // namespace
}  // namespace securechannel
