// A connection cut by the proxy after N bytes of a response, with a RST (a crashed peer) or a FIN
// (a truncated stream: a peer or middlebox that gave up): the request fails at once with a named
// error, never its timeout; a POST whose connection is cut is not sent again (the upstream saw
// it once), a GET cut before its response began is; the next request is served.
#include "proxied_fault_test.hpp"

#include <tuple>

namespace securechannel {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;
using testing::Direction;
using testing::FaultProxy;
using testing::TimedOutcome;

enum class Cut { reset, fin };

testing::Toxics cut_after(Cut cut, std::uint64_t bytes) {
  testing::Toxics toxics;
  (cut == Cut::reset ? toxics.reset_after_bytes : toxics.close_after_bytes) = bytes;
  return toxics;
}

// Noticed by the read that meets the cut, not by a timer: well under the request's timeout.
constexpr double kAtOnceSeconds = 1.0;

class ConnectionCutTest : public testing::ProxiedFaultTest,
                          public ::testing::WithParamInterface<std::tuple<const char*, Cut>> {
 protected:
  const char* alpn() const { return std::get<0>(GetParam()); }
  bool http2() const { return std::string(alpn()) == "h2"; }
  Cut cut() const { return std::get<1>(GetParam()); }

  // Cuts the connection open now (only that one) once `bytes` of the response have gone through.
  void cut_open_connection_after(std::uint64_t bytes) {
    proxy->set_toxics(Direction::to_client, cut_after(cut(), bytes), FaultProxy::Reach::open_only);
  }

  static void expect_named_error_at_once(const TimedOutcome& outcome) {
    EXPECT_TRUE(outcome.error) << "a response came through the cut";
    EXPECT_NE(outcome.error, make_error_code(errc::request_timeout)) << "noticed only by the request's timeout";
    EXPECT_NE(error_kind(outcome.error), "unknown") << outcome.error.message();
    EXPECT_LT(outcome.seconds, kAtOnceSeconds) << outcome.error.message();
  }
};

TEST_P(ConnectionCutTest, MidResponseTheRequestFailsAtOnce) {
  start_nginx_behind_proxy();
  auto pool = builder_through_proxy(alpn()).build(io.executor());
  {
    HttpClient client(pool);
    ASSERT_FALSE(testing::timed_request(client, testing::range_request(0, 100)).get().error);
    cut_open_connection_after(20'000);  // the head and a part of /big's 64 KiB
    const TimedOutcome cut_short =
        testing::timed_request(client, testing::make_request(http::verb::get, "/big"), {.timeout = 10s}).get();
    expect_named_error_at_once(cut_short);
    // Not sent again: a response had begun (a second connection would have been accepted).
    EXPECT_EQ(proxy->accepted_connections(), 1u);
    EXPECT_EQ(client.stats().retries, 0u);

    const TimedOutcome next = testing::timed_request(client, testing::range_request(5000, 100)).get();
    ASSERT_FALSE(next.error) << next.error.message();
    EXPECT_EQ(next.response.body(), testing::range_body(5000, 100));
    EXPECT_EQ(proxy->accepted_connections(), 2u);
    EXPECT_EQ(pool->stats().connections_created, 2u);
    EXPECT_EQ(client.stats().failed_requests, 1u);
  }
  close_pool(pool);
  expect_everything_closed();
}

TEST_P(ConnectionCutTest, BeforeTheResponseAPostIsNotSentAgainAndAGetIs) {
  start_nginx_behind_proxy();
  auto pool = builder_through_proxy(alpn()).build(io.executor());
  {
    HttpClient client(pool);
    ASSERT_FALSE(testing::timed_request(client, testing::range_request(0, 100)).get().error);
    // nginx has the POST and answers; the first byte of its answer meets the cut.
    cut_open_connection_after(0);
    const TimedOutcome post =
        testing::timed_request(client, testing::make_request(http::verb::post, "/", "exactly once"), {.timeout = 10s})
            .get();
    expect_named_error_at_once(post);
    EXPECT_EQ(post.error, make_error_code(errc::request_not_replayed)) << post.error.message();
    // The upstream saw it once: the connection that carried it was the only one ever made.
    EXPECT_EQ(proxy->accepted_connections(), 1u) << "the POST was sent again";
    EXPECT_EQ(client.stats().retries, 0u);

    // A GET in the same place goes once more, on a new connection.
    ASSERT_FALSE(testing::timed_request(client, testing::range_request(0, 100)).get().error);
    EXPECT_EQ(proxy->accepted_connections(), 2u);
    cut_open_connection_after(0);
    const TimedOutcome get = testing::timed_request(client, testing::range_request(7000, 100), {.timeout = 10s}).get();
    ASSERT_FALSE(get.error) << get.error.message();
    EXPECT_EQ(get.response.body(), testing::range_body(7000, 100));
    EXPECT_LT(get.seconds, kAtOnceSeconds);
    EXPECT_EQ(client.stats().retries, 1u);
    EXPECT_EQ(proxy->accepted_connections(), 3u);
    EXPECT_EQ(pool->stats().connections_created, 3u);
  }
  close_pool(pool);
  expect_everything_closed();
}

std::string cut_test_name(const ::testing::TestParamInfo<std::tuple<const char*, Cut>>& info) {
  return testing::protocol_test_name({std::get<0>(info.param), info.index}) +
         (std::get<1>(info.param) == Cut::reset ? "Reset" : "Fin");
}

INSTANTIATE_TEST_SUITE_P(Protocols, ConnectionCutTest,
                         ::testing::Combine(::testing::Values("http/1.1", "h2"), ::testing::Values(Cut::reset, Cut::fin)),
                         cut_test_name);

// The same under a raw lease: the read that meets the cut fails at once, the pool closes the
// connection, and the next lease is a new one.
class RawConnectionCutTest : public testing::ProxiedFaultTest, public ::testing::WithParamInterface<Cut> {};

TEST_P(RawConnectionCutTest, AnEchoCutShortFailsTheReadAtOnce) {
  start_echo_behind_proxy();
  auto pool = builder_through_proxy().build(io.executor());
  std::uint64_t cut_id = 0;
  {
    Lease lease = testing::acquire(*pool);
    cut_id = lease.connection_id();
    EXPECT_EQ(testing::echo_exchange(lease, "warm"), "warm");
    proxy->set_toxics(Direction::to_client, cut_after(GetParam(), 5000), FaultProxy::Reach::open_only);
    const auto start = std::chrono::steady_clock::now();
    const boost::system::error_code error = testing::echo_error(lease, std::string(20'000, 'c'));
    EXPECT_TRUE(error) << "the whole echo came through the cut";
    EXPECT_LT(seconds_since(start), kAtOnceSeconds) << error.message();
    EXPECT_NE(error_kind(error), "unknown") << error.message();
  }
  EXPECT_EQ(pool->stats().closed_broken, 1u);
  Lease next = testing::acquire(*pool);
  EXPECT_NE(next.connection_id(), cut_id);
  EXPECT_EQ(testing::echo_exchange(next, "next"), "next");
  next = Lease();
  EXPECT_EQ(proxy->accepted_connections(), 2u);
  close_pool(pool);
  expect_everything_closed();
}

std::string raw_cut_test_name(const ::testing::TestParamInfo<Cut>& info) {
  return info.param == Cut::reset ? "Reset" : "Fin";
}

INSTANTIATE_TEST_SUITE_P(Cuts, RawConnectionCutTest, ::testing::Values(Cut::reset, Cut::fin), raw_cut_test_name);

}  // namespace
}  // namespace securechannel
