#include "http/upstream_url.hpp"

#include <gtest/gtest.h>

namespace securechannel::detail {
namespace {

std::string problem_of(std::string_view url) {
  std::string problem;
  EXPECT_EQ(parse_upstream_url(url, problem), std::nullopt) << url;
  return problem;
}

TEST(UpstreamUrlTest, TakesAUrlApart) {
  std::string problem;
  auto url = parse_upstream_url("https://api.example.com:8443/v1/ticker?pair=BTC", problem);
  ASSERT_TRUE(url) << problem;
  EXPECT_EQ(url->host, "api.example.com");
  EXPECT_EQ(url->port, "8443");
  EXPECT_EQ(url->target, "/v1/ticker?pair=BTC");
  EXPECT_EQ(url->authority, "api.example.com:8443");

  url = parse_upstream_url("HTTPS://[::1]?x=1", problem);
  ASSERT_TRUE(url) << problem;
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, "443");
  EXPECT_EQ(url->target, "/?x=1");
  EXPECT_EQ(url->authority, "[::1]");
  EXPECT_TRUE(url->tls);
}

TEST(UpstreamUrlTest, AnHttpUrlAsksForAPlainConnectionOnPort80ByDefault) {
  std::string problem;
  auto url = parse_upstream_url("http://relay.internal/v1", problem);
  ASSERT_TRUE(url) << problem;
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->port, "80");
  EXPECT_EQ(url->authority, "relay.internal");
  url = parse_upstream_url("HTTP://[::1]:8080?x=1", problem);
  ASSERT_TRUE(url) << problem;
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->port, "8080");
  EXPECT_EQ(url->target, "/?x=1");
}

TEST(UpstreamUrlTest, TheFragmentStaysWithTheClient) {
  std::string problem;
  auto url = parse_upstream_url("https://h:1/page?q=1#section-2", problem);
  ASSERT_TRUE(url) << problem;
  EXPECT_EQ(url->target, "/page?q=1");
  url = parse_upstream_url("https://h#top", problem);
  ASSERT_TRUE(url) << problem;
  EXPECT_EQ(url->authority, "h");
  EXPECT_EQ(url->target, "/");
}

TEST(UpstreamUrlTest, RefusesWhatCannotBeSent) {
  EXPECT_EQ(problem_of("ftp://h/"), "only https:// and http:// URLs are supported");
  EXPECT_EQ(problem_of("httpx://h/"), "only https:// and http:// URLs are supported");
  EXPECT_EQ(problem_of("h/path"), "missing scheme (use https:// or http://)");
  EXPECT_EQ(problem_of("http://user@h/"), "user information (user@host) is not supported");
  EXPECT_EQ(problem_of("https:///path"), "missing host");
  EXPECT_EQ(problem_of("https://user:pw@h/"), "user information (user@host) is not supported");
  EXPECT_EQ(problem_of("https://h/a b"), "holds a space or control character (0x20) at byte 11");
  EXPECT_EQ(problem_of("https://h/a\r\nHost: x"), "holds a space or control character (0x0d) at byte 11");
  EXPECT_EQ(problem_of(std::string_view("https://h\0/", 11)), "holds a space or control character (0x00) at byte 9");
  EXPECT_EQ(problem_of("https://h:0/"), "port '0' is not a number from 1 to 65535");
  EXPECT_EQ(problem_of("https://h:70000/"), "port '70000' is not a number from 1 to 65535");
  EXPECT_EQ(problem_of("https://h:99999999999999999999/"), "port '99999999999999999999' is not a number from 1 to 65535");
  EXPECT_EQ(problem_of("https://h:/"), "port '' is not a number from 1 to 65535");
  EXPECT_EQ(problem_of("https://[::1/"), "unterminated IPv6 literal");
  EXPECT_EQ(problem_of("https://[evil]/"), "'evil' is not an IPv6 address");
  EXPECT_EQ(problem_of("https://[::1]x/"), "unexpected characters after the IPv6 literal");
  EXPECT_EQ(problem_of("https://ho\"st/"), "'ho\"st' is not a host name");
}

}  // namespace
}  // namespace securechannel::detail
