// HttpRequestOptions::max_response_header_bytes against a real nginx, on both protocols: a
// response whose header fields exceed it fails with errc::response_headers_too_large (the
// limit is set below what nginx sends, about 200 bytes), the connection or stream is given up,
// and the next request with the default limit is served.
#include "nginx_http_test.hpp"
#include "securechannel/http_client.hpp"

#include <gtest/gtest.h>

namespace securechannel {
namespace {

namespace http = boost::beast::http;

class ResponseHeaderLimitTest : public testing::NginxHttpTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(ResponseHeaderLimitTest, HeadersBeyondTheLimitFailTheRequestWithTheirOwnError) {
  start();
  HttpClient client(builder({GetParam()}).build(io.executor()));
  HttpRequestOptions tight;
  tight.max_response_header_bytes = 64;
  const testing::HttpOutcome refused = send(client, request(http::verb::get, "/"), std::move(tight)).get();
  EXPECT_EQ(refused.error, make_error_code(errc::response_headers_too_large)) << refused.error.message();

  const testing::HttpOutcome served = send(client, request(http::verb::get, "/")).get();
  ASSERT_FALSE(served.error) << served.error.message();
  EXPECT_EQ(served.response.body(), "hello\n");
}

INSTANTIATE_TEST_SUITE_P(Protocols, ResponseHeaderLimitTest, ::testing::Values("http/1.1", "h2"),
                         testing::protocol_test_name);

}  // namespace
}  // namespace securechannel
