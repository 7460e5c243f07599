// Our HTTP/1.1 request head must be byte for byte what Beast's serializer writes: the same
// start line, the fields as they are and in their order, the blank line.
#include "http/http1_request_head.hpp"

#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace securechannel::detail {
namespace {

namespace http = boost::beast::http;

std::string beast_head(const HttpRequest& request) {
  std::ostringstream out;
  out << request.base();
  return out.str();
}

std::string our_head(const HttpRequest& request) {
  std::string out = "kept|";  // appends: what was there stays
  append_request_head(request, out);
  EXPECT_EQ(out.substr(0, 5), "kept|");
  return out.substr(5);
}

TEST(Http1RequestHeadTest, GetWithHostIsTheShortestRequest) {
  HttpRequest request{http::verb::get, "/", 11};
  request.set(http::field::host, "localhost");
  EXPECT_EQ(our_head(request), "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_EQ(our_head(request), beast_head(request));
}

TEST(Http1RequestHeadTest, PostAfterPreparePayloadMatchesBeast) {
  HttpRequest request{http::verb::post, "/v1/orders?symbol=BTC-USD", 11};
  request.set(http::field::host, "api.example.com:8443");
  request.set(http::field::content_type, "application/json");
  request.insert("X-Trace", "a");
  request.insert("x-trace", "b");  // repeated fields go out as given, in order
  request.body() = R"({"side":"buy"})";
  request.prepare_payload();
  EXPECT_EQ(our_head(request), beast_head(request));
  EXPECT_NE(our_head(request).find("Content-Length: 14\r\n"), std::string::npos);
}

TEST(Http1RequestHeadTest, CustomMethodAndHttp10MatchBeast) {
  HttpRequest request;
  request.method_string("PURGE");
  request.target("/cache/item");
  request.version(10);
  request.set("Custom-Field", "");  // an empty value keeps its colon and space, as Beast writes it
  EXPECT_EQ(our_head(request), beast_head(request));
  EXPECT_EQ(our_head(request).substr(0, 27), "PURGE /cache/item HTTP/1.0\r");
}

TEST(Http1RequestHeadTest, AsteriskTargetForOptions) {
  HttpRequest request{http::verb::options, "*", 11};
  request.set(http::field::host, "h");
  EXPECT_EQ(our_head(request), "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
}

}  // namespace
}  // namespace securechannel::detail
