// Our HTTP/1.1 message heads must be byte for byte what Beast's serializer writes: the same
// start line, the fields as they are and in their order, the blank line. One exception: a status
// code without a registered reason gets an empty one, not Beast's "<unknown-status>".
#include "http/http1_message_head.hpp"

#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace securechannel::detail {
namespace {

namespace http = boost::beast::http;

template <bool isRequest>
std::string beast_head(const http::message<isRequest, http::string_body>& message) {
  std::ostringstream out;
  out << message.base();
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

std::string our_response_head(const HttpResponse& response) {
  std::string out = "kept|";
  append_response_head(response, out);
  EXPECT_EQ(out.substr(0, 5), "kept|");
  return out.substr(5);
}

TEST(Http1ResponseHeadTest, RegisteredStatusGetsItsReasonAsBeastWritesIt) {
  HttpResponse response{http::status::ok, 11};
  response.set(http::field::content_type, "text/plain");
  response.insert("Set-Cookie", "a=1");
  response.insert("set-cookie", "b=2");  // repeated fields go out as given, in order
  response.content_length(6);
  EXPECT_EQ(our_response_head(response), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\n"
                                         "set-cookie: b=2\r\nContent-Length: 6\r\n\r\n");
  EXPECT_EQ(our_response_head(response), beast_head(response));
}

TEST(Http1ResponseHeadTest, OwnReasonAndOtherCodesMatchBeast) {
  HttpResponse teapot{http::status::service_unavailable, 11};
  EXPECT_EQ(our_response_head(teapot), beast_head(teapot));
  teapot.reason("Busy Right Now");
  EXPECT_EQ(our_response_head(teapot), "HTTP/1.1 503 Busy Right Now\r\n\r\n");
  EXPECT_EQ(our_response_head(teapot), beast_head(teapot));
  HttpResponse old{http::status::not_modified, 10};
  EXPECT_EQ(our_response_head(old), beast_head(old));
}

TEST(Http1ResponseHeadTest, UnregisteredStatusHasAnEmptyReason) {
  HttpResponse response;
  response.result(477);
  response.version(11);
  EXPECT_EQ(our_response_head(response), "HTTP/1.1 477 \r\n\r\n");
}

}  // namespace
}  // namespace securechannel::detail
