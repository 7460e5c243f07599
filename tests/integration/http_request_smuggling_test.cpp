// Requests that would smuggle a line onto the wire are refused before they reach a connection,
// on both protocols: nginx never sees them, the pool never leases for them, and the caller gets
// errc::invalid_request. The same client then sends a clean request as usual.
#include "nginx_http_test.hpp"
#include "securechannel/http_client.hpp"

#include <gtest/gtest.h>

namespace securechannel {
namespace {

namespace http = boost::beast::http;

class HttpRequestSmugglingTest : public testing::NginxHttpTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(HttpRequestSmugglingTest, ControlCharactersAndNonTokenNamesNeverReachTheWire) {
  start();
  HttpClient client(builder({GetParam()}).build(io.executor()));
  ASSERT_FALSE(send(client, request(http::verb::get, "/")).get().error) << "the protocol is learned first";
  const std::uint64_t acquires_before = client.pool()->stats().acquires;

  std::vector<HttpRequest> smuggling;
  smuggling.push_back(request(http::verb::get, "/"));
  smuggling.back().set("X-Id", "1\r\nX-Admin: yes");
  smuggling.push_back(request(http::verb::get, "/"));
  smuggling.back().set("X-Id", std::string("1\0", 2));
  smuggling.push_back(request(http::verb::get, "/ HTTP/1.1\r\nHost: x\r\n\r\nGET /admin"));
  smuggling.push_back(request(http::verb::get, "/"));
  smuggling.back().set("X-Evil\r\nInjected", "v");
  smuggling.push_back(request(http::verb::get, "/"));
  smuggling.back().method_string("GET /admin HTTP/1.1\r\n");
  for (HttpRequest& bad : smuggling) {
    const testing::HttpOutcome outcome = send(client, std::move(bad)).get();
    EXPECT_EQ(outcome.error, make_error_code(errc::invalid_request));
  }
  // The shared-request path checks too.
  auto shared = std::make_shared<HttpRequest>(request(http::verb::get, "/"));
  shared->set("X-Id", "a\nb");
  shared->prepare_payload();
  EXPECT_EQ(send(client, std::shared_ptr<const HttpRequest>(shared)).get().error, make_error_code(errc::invalid_request));

  EXPECT_EQ(client.pool()->stats().acquires, acquires_before) << "a refused request took a connection";
  EXPECT_EQ(client.stats().failed_requests, 6u);
  const testing::HttpOutcome clean = send(client, request(http::verb::get, "/")).get();
  ASSERT_FALSE(clean.error) << clean.error.message();
  EXPECT_EQ(clean.response.body(), "hello\n");
}

INSTANTIATE_TEST_SUITE_P(Protocols, HttpRequestSmugglingTest, ::testing::Values("http/1.1", "h2"),
                         testing::protocol_test_name);

}  // namespace
}  // namespace securechannel
