// A reset mid-response (iptables answers the client's next packet with a TCP RST, as a crashed
// peer's kernel would) fails the request in flight at once with a named error, never with the
// request's own timeout; the next request is served on a new connection.
#include "fault_test.hpp"
#include "http_client_exchange.hpp"
#include "nginx_http_test.hpp"
#include "securechannel/http_client.hpp"
#include "securechannel/securechannel.hpp"

#include <future>

namespace securechannel {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;
using testing::HttpOutcome;

class ConnectionResetTest : public testing::FaultTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(ConnectionResetTest, ResetMidResponseFailsTheRequestAtOnce) {
  auto nginx = start_nginx();
  HttpClient client(pool_for(*nginx, GetParam()).build(io.executor()));
  auto slow = testing::send_request(client, testing::make_request(http::verb::get, "/slow"), {.timeout = 30s});
  // Until the response is under way (its head and a first piece are in): from then on the
  // request is never sent again, so its outcome is the reset's.
  ASSERT_TRUE(testing::eventually([&] {
    std::uint64_t received = 0;
    for (const ConnectionSnapshot& connection : client.pool()->connection_snapshots()) received += connection.bytes_received;
    return received >= 2048;
  })) << "/slow never began";

  filter.reset(nginx->port());
  const auto cut = std::chrono::steady_clock::now();
  ASSERT_EQ(slow.wait_for(20s), std::future_status::ready);
  const HttpOutcome outcome = slow.get();
  EXPECT_TRUE(outcome.error) << "the whole body came through a reset";
  EXPECT_NE(outcome.error, make_error_code(errc::request_timeout)) << outcome.error.message();
  // /slow sends a piece every second; the client's acknowledgement of it meets the reset.
  EXPECT_LT(seconds_since(cut), 5.0) << outcome.error.message();

  filter.clear();
  const HttpOutcome after = testing::send_request(client, testing::make_request(http::verb::get, "/")).get();
  ASSERT_FALSE(after.error) << after.error.message();
  EXPECT_EQ(after.response.body(), "hello\n");
}

INSTANTIATE_TEST_SUITE_P(Protocols, ConnectionResetTest, ::testing::Values("http/1.1", "h2"),
                         testing::protocol_test_name);

}  // namespace
}  // namespace securechannel
