// A response that stops mid-way with the connection still open (the proxy forwards 4 KiB of it
// and holds the rest: a wedged upstream whose kernel still acknowledges): the request fails with
// request_timeout at its timeout, not before and not later, and the next request is served on
// another connection.
#include "proxied_fault_test.hpp"

namespace securechannel {
namespace {

using namespace std::chrono_literals;
using testing::Direction;
using testing::FaultProxy;
using testing::TimedOutcome;

constexpr std::uint64_t kStallAfterBytes = 4096;  // the head and a piece of /big's body
constexpr auto kRequestTimeout = 1s;

class StallTest : public testing::ProxiedFaultTest, public ::testing::WithParamInterface<const char*> {
 protected:
  bool http2() const { return std::string(GetParam()) == "h2"; }
};

TEST_P(StallTest, AStalledResponseFailsAtItsTimeoutAndTheNextRequestGoesElsewhere) {
  start_nginx_behind_proxy();
  // HTTP/2: a PING unanswered for 500 ms ends a connection; the idle PING itself (15 s) is far off.
  auto pool = builder_through_proxy(GetParam()).with_http2_ping(15s, 500ms).build(io.executor());
  {
    HttpClient client(pool);
    ASSERT_FALSE(testing::timed_request(client, testing::range_request(0, 100)).get().error);
    // Only the connection open now stalls: a new one would be served.
    proxy->set_toxics(Direction::to_client, {.stall_after_bytes = kStallAfterBytes}, FaultProxy::Reach::open_only);

    const TimedOutcome stalled =
        testing::timed_request(client, testing::make_request(boost::beast::http::verb::get, "/big"),
                               {.timeout = kRequestTimeout})
            .get();
    EXPECT_EQ(stalled.error, make_error_code(errc::request_timeout)) << stalled.error.message();
    EXPECT_GE(stalled.seconds, 1.0) << "gave up before its timeout";
    EXPECT_LT(stalled.seconds, 1.5) << "its timeout did not bound it";

    const TimedOutcome next = testing::timed_request(client, testing::range_request(3000, 100), {.timeout = 5s}).get();
    ASSERT_FALSE(next.error) << next.error.message();
    EXPECT_EQ(next.response.body(), testing::range_body(3000, 100));
    // HTTP/2: the stream's timeout sent a PING, unanswered behind the stall: the connection is
    // given up within the PING timeout and the request (a GET, sent before any reply) goes again
    // on a new one.
    EXPECT_LT(next.seconds, 1.5);
    EXPECT_EQ(proxy->accepted_connections(), 2u) << "the next request was not served on another connection";
    EXPECT_EQ(pool->stats().connections_created, 2u);
    if (!http2()) {
      EXPECT_EQ(pool->stats().closed_broken, 1u) << "the stalled connection was not closed";
    }
    EXPECT_EQ(client.stats().failed_requests, 1u);
  }
  close_pool(pool);
  expect_everything_closed();
}

INSTANTIATE_TEST_SUITE_P(Protocols, StallTest, ::testing::Values("http/1.1", "h2"), testing::protocol_test_name);

// A raw lease has no timeout of its own: the caller gives up (here, after 500 ms) and gives the
// lease back with its read still pending; the pool closes that connection, which ends the read,
// and the next lease is a new connection.
class RawStallTest : public testing::ProxiedFaultTest {};

TEST_F(RawStallTest, ALeaseGivenUpOnAStalledEchoIsClosedAndTheNextOneIsNew) {
  start_echo_behind_proxy();
  auto pool = builder_through_proxy().build(io.executor());
  std::uint64_t stalled_id = 0;
  {
    Lease lease = testing::acquire(*pool);
    stalled_id = lease.connection_id();
    EXPECT_EQ(testing::echo_exchange(lease, "warm"), "warm");
    proxy->set_toxics(Direction::to_client, {.stall_after_bytes = 0}, FaultProxy::Reach::open_only);
    const std::string request(1000, 's');
    ASSERT_FALSE(testing::operation_error(
        [&](auto handler) { async_write_all(lease, boost::asio::buffer(request), handler); }));
    std::string reply(request.size(), '\0');
    auto reading = std::make_shared<std::promise<boost::system::error_code>>();
    auto read_done = reading->get_future();
    async_read_exact(lease, boost::asio::buffer(reply),
                     [reading](boost::system::error_code error, std::size_t) { reading->set_value(error); });
    EXPECT_EQ(read_done.wait_for(500ms), std::future_status::timeout) << "an echo came through a stall";
    lease = Lease();
    EXPECT_EQ(read_done.wait_for(2s), std::future_status::ready) << "giving the lease back did not end the read";
  }
  EXPECT_EQ(pool->stats().closed_broken + pool->stats().closed_abandoned, 1u);
  Lease next = testing::acquire(*pool);
  EXPECT_NE(next.connection_id(), stalled_id);
  EXPECT_EQ(testing::echo_exchange(next, "next"), "next");
  next = Lease();
  EXPECT_EQ(proxy->accepted_connections(), 2u);
  close_pool(pool);
  expect_everything_closed();
}

}  // namespace
}  // namespace securechannel
