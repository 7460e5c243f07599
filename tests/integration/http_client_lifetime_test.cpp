// What an HttpClient leaves behind when it goes away mid-request: nothing. The case that matters
// is the io_context that never runs again (stopped, then destroyed, as a service does when it
// shuts down): Asio destroys the pending handlers without calling them, and everything they held
// (the client's state, its HTTP/2 sessions, their leases, the pool) must be freed with them.
#include "nginx_http_test.hpp"
#include "securechannel/http_client.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <memory>

namespace securechannel {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

class HttpClientLifetimeTest : public testing::NginxHttpTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(HttpClientLifetimeTest, ClientDestroyedMidRequestOnAnIoContextThatNeverRunsAgainFreesEverything) {
  options.generated_file_bytes = 64 * 1024;  // /slow sends it at 1 KiB/s: in flight for a minute
  start();
  std::weak_ptr<SecureChannelPool> weak_pool;
  const auto token = std::make_shared<int>(0);  // held by the request's handler only
  {
    asio::io_context own_io;
    auto pool = builder({GetParam()}).with_max_connections(1).build(own_io.get_executor());
    weak_pool = pool;
    auto client = std::make_unique<HttpClient>(pool);
    bool called = false;
    client->async_request(request(http::verb::get, "/slow"), {},
                          [token, &called](boost::system::error_code, HttpResponse) { called = true; });
    // Until the response has begun: the stream (or the exchange) is in flight on its connection.
    const auto received = [&] {
      std::uint64_t bytes = 0;
      for (const ConnectionSnapshot& connection : pool->connection_snapshots()) bytes += connection.bytes_received;
      return bytes;
    };
    const auto started = std::chrono::steady_clock::now();
    while (received() < 2048 && std::chrono::steady_clock::now() - started < 20s) own_io.run_for(10ms);
    ASSERT_GE(received(), 2048u) << "the response never began";
    ASSERT_FALSE(called) << "/slow answered within the test's window";
    ASSERT_EQ(client->stats().requests_in_flight, 1u);
    client.reset();
    pool.reset();
  }  // the io_context goes, never having run the client's shutdown
  EXPECT_EQ(token.use_count(), 1) << "the request's handler was neither called nor destroyed";
  EXPECT_TRUE(weak_pool.expired()) << "something still holds the pool: a reference cycle";
}

INSTANTIATE_TEST_SUITE_P(Protocols, HttpClientLifetimeTest, ::testing::Values("http/1.1", "h2"),
                         testing::protocol_test_name);

}  // namespace
}  // namespace securechannel
