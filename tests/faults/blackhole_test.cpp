// A peer that vanishes without a FIN or a RST (iptables DROP both ways: a blackhole) is found
// within the configured bound, not by the OS's retransmission timeout (~15 minutes):
// HTTP/2 by PING, anything that wrote by TCP_USER_TIMEOUT, an idle connection by TCP keep-alive.
// After the network heals, the next request is served on a new connection.
#include "echo_upstream.hpp"
#include "fault_test.hpp"
#include "http_client_exchange.hpp"
#include "pool_exchange.hpp"
#include "securechannel/http_client.hpp"
#include "securechannel/securechannel.hpp"

#include <atomic>
#include <future>

namespace securechannel {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;
using testing::HttpOutcome;

class BlackholeTest : public testing::FaultTest {
 protected:
  // Starts GET /slow (64 KiB at 1 KiB/s) and returns once its body has begun: from then on the
  // request is never sent again, so its outcome is the fault's.
  std::future<HttpOutcome> slow_request_under_way(HttpClient& client) {
    auto begun = std::make_shared<std::promise<void>>();
    auto begun_future = begun->get_future();
    HttpRequestOptions options{.timeout = 30s};
    options.body_sink = [begun, once = std::make_shared<std::once_flag>()](std::string_view) {
      std::call_once(*once, [&] { begun->set_value(); });
      return true;
    };
    auto outcome = testing::send_request(client, testing::make_request(http::verb::get, "/slow"), std::move(options));
    EXPECT_EQ(begun_future.wait_for(20s), std::future_status::ready) << "/slow never began";
    return outcome;
  }

};

TEST_F(BlackholeTest, Http2StreamInFlightFailsWithinThePingBound) {
  auto nginx = start_nginx();
  // TCP_USER_TIMEOUT well beyond the PING bound, so that it is PING that notices.
  HttpClient client(pool_for(*nginx, "h2").with_http2_ping(500ms, 500ms).with_tcp_user_timeout(60s).build(io.executor()));
  ASSERT_FALSE(testing::send_request(client, testing::make_request(http::verb::get, "/")).get().error);
  auto slow = slow_request_under_way(client);

  filter.blackhole(nginx->port());
  const auto cut = std::chrono::steady_clock::now();
  ASSERT_EQ(slow.wait_for(20s), std::future_status::ready) << "the stream outlived the blackhole";
  const HttpOutcome outcome = slow.get();
  EXPECT_EQ(outcome.error, make_error_code(errc::connection_closed)) << outcome.error.message();
  // Bound: 500 ms without a frame, then 500 ms without the PING's ACK (timer slack aside).
  EXPECT_LT(seconds_since(cut), 5.0);

  filter.clear();
  const HttpOutcome after = testing::send_request(client, testing::make_request(http::verb::get, "/")).get();
  ASSERT_FALSE(after.error) << after.error.message();
  EXPECT_EQ(after.response.body(), "hello\n");
  EXPECT_EQ(client.pool()->stats().connections_created, 2u) << "served on a new connection";
}

TEST_F(BlackholeTest, Http11RequestIntoABlackholeFailsWithinTheUserTimeout) {
  auto nginx = start_nginx();
  HttpClient client(pool_for(*nginx, "http/1.1")
                        .with_tcp_user_timeout(1s)
                        .with_connect_timeout(1s)
                        .build(io.executor()));
  ASSERT_FALSE(testing::send_request(client, testing::make_request(http::verb::get, "/")).get().error);

  filter.blackhole(nginx->port());
  const auto cut = std::chrono::steady_clock::now();
  auto lost = testing::send_request(client, testing::make_request(http::verb::get, "/"), {.timeout = 30s});
  ASSERT_EQ(lost.wait_for(20s), std::future_status::ready);
  const HttpOutcome outcome = lost.get();
  // The written request is never acknowledged: TCP_USER_TIMEOUT fails the socket after 1 s, the
  // GET is sent once more on a fresh connection, whose connect the blackhole times out (1 s).
  EXPECT_TRUE(outcome.error) << "a response came through a blackhole";
  EXPECT_NE(outcome.error, make_error_code(errc::request_timeout)) << "noticed only by the request's own timeout";
  EXPECT_LT(seconds_since(cut), 10.0);

  filter.clear();
  const HttpOutcome after = testing::send_request(client, testing::make_request(http::verb::get, "/")).get();
  ASSERT_FALSE(after.error) << after.error.message();
}

class RawBlackholeTest : public testing::FaultTest {
 protected:
  testing::EchoUpstream echo;
};

TEST_F(RawBlackholeTest, AWriteIntoABlackholeFailsTheLeaseWithinTheUserTimeout) {
  auto pool = echo.builder_for(echo.server.endpoint()).with_tcp_user_timeout(1s).build(io.executor());
  std::uint64_t first_id = 0;
  {
    Lease lease = testing::acquire(*pool);
    first_id = lease.connection_id();
    EXPECT_EQ(testing::echo_exchange(lease, "before"), "before");
    filter.blackhole(echo.server.port());
    const auto cut = std::chrono::steady_clock::now();
    const boost::system::error_code error = testing::echo_error(lease, "into the void");
    EXPECT_TRUE(error) << "an echo came back through a blackhole";
    EXPECT_LT(seconds_since(cut), 10.0) << error.message();
  }
  EXPECT_EQ(pool->stats().closed_broken, 1u);
  filter.clear();
  Lease fresh = testing::acquire(*pool);
  EXPECT_NE(fresh.connection_id(), first_id);
  EXPECT_EQ(testing::echo_exchange(fresh, "healed"), "healed");
}

TEST_F(RawBlackholeTest, AnIdleConnectionWhosePeerVanishedIsFoundByKeepAlive) {
  // Two pools on one upstream: keep-alive on (1 s idle, 1 s apart, 2 probes) and off.
  auto watched = echo.builder_for(echo.server.endpoint())
                     .with_tcp_user_timeout(0ms)
                     .with_tcp_keepalive(1s, 1s, 2)
                     .build(io.executor());
  auto unwatched = echo.builder_for(echo.server.endpoint())
                       .with_tcp_user_timeout(0ms)
                       .with_tcp_keepalive(0ms, 1s, 1)
                       .build(io.executor());
  for (auto* pool : {&watched, &unwatched}) {
    Lease lease = testing::acquire(**pool);
    EXPECT_EQ(testing::echo_exchange(lease, "warm"), "warm");
  }
  filter.blackhole(echo.server.port());
  const auto cut = std::chrono::steady_clock::now();
  // The cleanup pass probes idle connections; keep-alive makes the dead one fail its probe.
  ASSERT_TRUE(testing::eventually([&] { return watched->run_cleanup_once() == 1; }, 20s))
      << "keep-alive never failed the idle connection";
  EXPECT_LT(seconds_since(cut), 10.0);
  EXPECT_EQ(watched->stats().stale_discarded, 1u);
  // The control: without keep-alive the same dead connection still looks idle and healthy.
  EXPECT_EQ(unwatched->run_cleanup_once(), 0u);
  EXPECT_EQ(unwatched->stats().idle_connections, 1u);
}

}  // namespace
}  // namespace securechannel
