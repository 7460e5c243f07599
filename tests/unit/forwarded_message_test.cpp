// The http listener's message rewrites (daemon/forwarded_message.hpp): what stays on the local hop,
// what the upstream and the local client get.
#include "daemon/forwarded_message.hpp"

#include <gtest/gtest.h>

namespace securechannel::daemon {
namespace {

namespace http = boost::beast::http;

std::vector<std::string> field_names(const http::fields& fields) {
  std::vector<std::string> names;
  for (const auto& field : fields) names.emplace_back(field.name_string());
  return names;
}

TEST(StripHopByHopTest, RemovesHopByHopFieldsInAnyCaseAndKeepsTheRestInOrder) {
  http::fields fields;
  fields.insert("Accept", "*/*");
  fields.insert("connection", "keep-alive");
  fields.insert("KEEP-ALIVE", "timeout=5");
  fields.insert("Proxy-Connection", "keep-alive");
  fields.insert("X-Relay", "1");
  fields.insert("te", "trailers");
  fields.insert("Trailer", "Expires");
  fields.insert("Transfer-Encoding", "chunked");
  fields.insert("Upgrade", "websocket");
  fields.insert("X-Relay", "2");
  strip_hop_by_hop(fields);
  EXPECT_EQ(field_names(fields), (std::vector<std::string>{"Accept", "X-Relay", "X-Relay"}));
  EXPECT_EQ(fields.count("X-Relay"), 2u);
}

TEST(StripHopByHopTest, RemovesTheFieldsConnectionNamesAcrossSeveralConnectionLines) {
  http::fields fields;
  fields.insert(http::field::connection, " X-Session ,, x-trace-ID");
  fields.insert("X-Session", "abc");
  fields.insert("Connection", "Accept-Language");
  fields.insert("Accept-Language", "en");
  fields.insert("X-Trace-Id", "7");
  fields.insert("X-Kept", "yes");
  strip_hop_by_hop(fields);
  EXPECT_EQ(field_names(fields), (std::vector<std::string>{"X-Kept"}));
}

TEST(MakeUpstreamRequestTest, ReplacesHostSetsTheLengthAndForwardsOnlyWhenAsked) {
  HttpRequest local{http::verb::post, "http://localhost:7080/submit?x=1", 11};
  local.set(http::field::host, "localhost:7080");
  local.set(http::field::connection, "keep-alive");
  local.set(http::field::expect, "100-continue");
  local.body() = "payload";
  HttpRequest plain = make_upstream_request(HttpRequest(local), {.authority = "relay.example"});
  EXPECT_EQ(plain.target(), "/submit?x=1");
  EXPECT_EQ(plain[http::field::host], "relay.example");
  EXPECT_EQ(plain[http::field::content_length], "7");
  EXPECT_EQ(plain.count(http::field::connection), 0u);
  EXPECT_EQ(plain.count(http::field::expect), 0u);
  EXPECT_EQ(plain.count("X-Forwarded-Host"), 0u);

  local.set("X-Forwarded-For", "10.0.0.1");
  HttpRequest forwarded = make_upstream_request(
      std::move(local), {.authority = "relay.example", .add_forwarded_headers = true, .client_address = "127.0.0.1"});
  EXPECT_EQ(forwarded["X-Forwarded-For"], "10.0.0.1, 127.0.0.1");
  EXPECT_EQ(forwarded["X-Forwarded-Host"], "localhost:7080");
  EXPECT_EQ(forwarded["X-Forwarded-Proto"], "http");
}

TEST(MakeLocalResponseTest, FramesTheBodyForTheLocalConnection) {
  HttpResponse upstream{http::status::ok, 11};
  upstream.set(http::field::transfer_encoding, "chunked");
  upstream.set(http::field::keep_alive, "timeout=5");
  upstream.body() = "hello";
  HttpResponse local = make_local_response(std::move(upstream), false, true);
  EXPECT_EQ(local[http::field::content_length], "5");
  EXPECT_EQ(local.count(http::field::transfer_encoding), 0u);
  EXPECT_EQ(local.count(http::field::keep_alive), 0u);
  EXPECT_TRUE(local.keep_alive());

  HttpResponse head_answer{http::status::ok, 11};
  head_answer.set(http::field::content_length, "1234");
  HttpResponse to_head = make_local_response(std::move(head_answer), true, false);
  EXPECT_EQ(to_head[http::field::content_length], "1234");
  EXPECT_TRUE(to_head.body().empty());
  EXPECT_FALSE(to_head.keep_alive());
}

}  // namespace
}  // namespace securechannel::daemon
