#include "securechannel/http_request_check.hpp"

#include <boost/beast/http/verb.hpp>
#include <gtest/gtest.h>

namespace securechannel {
namespace {

namespace http = boost::beast::http;

HttpRequest get(std::string target) { return HttpRequest{http::verb::get, target, 11}; }

TEST(HttpRequestCheckTest, AnOrdinaryRequestPasses) {
  HttpRequest request = get("/v1/ticker?pair=BTC%2FUSD&x=%C3%A9");
  request.set(http::field::host, "api.example.com:8443");
  request.set("X-Trace", "a\tb c \"quoted\" \xc3\xa9");  // tab, spaces and obs-text are field content
  request.set(http::field::accept, "*/*");
  EXPECT_EQ(find_request_problem(request), std::nullopt);
}

TEST(HttpRequestCheckTest, LineBreaksInAHeaderValueAreRefusedWithTheHeaderNamed) {
  HttpRequest request = get("/");
  request.set("X-Id", std::string("1\r\nX-Admin: yes"));
  EXPECT_EQ(find_request_problem(request), "header 'X-Id': value holds a CR (0x0d) at byte 1");
  request.set("X-Id", std::string("1\nGET /admin HTTP/1.1"));
  EXPECT_EQ(find_request_problem(request), "header 'X-Id': value holds a LF (0x0a) at byte 1");
  request.set("X-Id", std::string("1\0", 2));
  EXPECT_EQ(find_request_problem(request), "header 'X-Id': value holds a NUL (0x00) at byte 1");
  request.set("X-Id", std::string("\x7f"));
  EXPECT_EQ(find_request_problem(request), "header 'X-Id': value holds the byte 0x7f at byte 0");
}

TEST(HttpRequestCheckTest, HeaderNamesMustBeTokens) {
  HttpRequest request = get("/");
  request.set(std::string("X-Evil\r\nInjected"), "v");
  EXPECT_EQ(find_request_problem(request), "header name 'X-Evil\\x0d\\x0aInjected': holds a CR (0x0d) at byte 6");
  HttpRequest spaced = get("/");
  spaced.set("Bad Name", "v");
  EXPECT_EQ(find_request_problem(spaced), "header name 'Bad Name': holds a space (0x20) at byte 3");
  HttpRequest pseudo = get("/");
  pseudo.set(":path", "/admin");  // an HTTP/2 pseudo-header smuggled in as a field
  EXPECT_EQ(find_request_problem(pseudo), "header name ':path': holds the byte 0x3a at byte 0");
}

TEST(HttpRequestCheckTest, TargetsWithSpacesOrControlsAreRefused) {
  EXPECT_EQ(find_request_problem(get("/a b")), "target: holds a space (0x20) at byte 2");
  EXPECT_EQ(find_request_problem(get("/a\r\nHost: evil")), "target: holds a CR (0x0d) at byte 2");
  EXPECT_EQ(find_request_problem(get(std::string("/a\0b", 4))), "target: holds a NUL (0x00) at byte 2");
  EXPECT_EQ(find_request_problem(get("")), "target: is empty");
  EXPECT_EQ(find_request_problem(get("/caf\xc3\xa9")), "target: holds the byte 0xc3 at byte 4");
}

TEST(HttpRequestCheckTest, CustomMethodsMustBeTokens) {
  HttpRequest request = get("/");
  request.method_string("PURGE");
  EXPECT_EQ(find_request_problem(request), std::nullopt);
  request.method_string("GET /x HTTP/1.1\r\n");
  EXPECT_EQ(find_request_problem(request), "method: holds a space (0x20) at byte 3");
}

TEST(HttpRequestCheckTest, TokensAreRfc9110s) {
  EXPECT_TRUE(is_http_token("Content-Type"));
  EXPECT_TRUE(is_http_token("!#$%&'*+-.^_`|~09azAZ"));
  EXPECT_FALSE(is_http_token(""));
  EXPECT_FALSE(is_http_token("a:b"));
  EXPECT_FALSE(is_http_token("a\"b"));
  EXPECT_FALSE(is_http_token("\xc3\xa9"));
}

}  // namespace
}  // namespace securechannel
