// HTTP/1.1 responses made by our TLS echo server out of our own requests: a request whose
// method is "RESPOND" and whose target is a status code is echoed with that method rewritten
// (TlsEchoServerOptions::rewrite_prefix) as "HTTP/1.1 200 HTTP/1.1", a valid status line, and
// its fields and body come back as the response's. That lets a test
// script what the response parser sees: an interim response, a body larger than one read, a
// body that ends with the connection, or no response at all.
#include "demo/certificate_authority.hpp"
#include "demo/tls_echo_server.hpp"
#include "http_client_exchange.hpp"
#include "io_thread.hpp"
#include "securechannel/error.hpp"
#include "securechannel/http_client.hpp"
#include "securechannel/pool_builder.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

#include <future>

#include <memory>
#include <string>

namespace securechannel {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;

class Http1ExchangeTest : public ::testing::Test {
 protected:
  void start_server(std::chrono::milliseconds idle_close_after = 0ms) {
    server = std::make_unique<demo::TlsEchoServer>(demo::TlsEchoServerOptions{
        .certificate_file = leaf.certificate_file,
        .key_file = leaf.key_file,
        .idle_close_after = idle_close_after,
        .rewrite_prefix = {"RESPOND ", "HTTP/1.1 "},
        .alpn = {"http/1.1"}});
    client = std::make_unique<HttpClient>(PoolBuilder(server->endpoint())
                                              .with_system_trust_store(false)
                                              .with_ca_file(authority.ca_certificate_file().string())
                                              .with_alpn({"http/1.1"})
                                              .build(io.executor()));
  }

  // A request that the echo server turns into a response with `status` and `body`.
  static HttpRequest echoed_as_response(const std::string& status, std::string body) {
    HttpRequest request;
    request.method_string("RESPOND");  // echoed as "HTTP/1.1 <status> HTTP/1.1": a status line
    request.target(status);
    request.version(11);
    request.set(http::field::host, "localhost");
    request.body() = std::move(body);
    return request;
  }

  testing::HttpOutcome send(HttpRequest request) {
    HttpRequestOptions options;
    options.timeout = 10s;
    return testing::send_request(*client, std::move(request), std::move(options)).get();
  }

  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate leaf = authority.issue("upstream");
  testing::IoThread io;
  std::unique_ptr<demo::TlsEchoServer> server;
  std::unique_ptr<HttpClient> client;
};

TEST_F(Http1ExchangeTest, EchoedRequestReadsAsAResponseAndKeepsTheConnection) {
  start_server();
  for (int i = 0; i < 3; ++i) {
    const testing::HttpOutcome outcome = send(echoed_as_response("200", "pong " + std::to_string(i)));
    ASSERT_FALSE(outcome.error) << outcome.error.message();
    EXPECT_EQ(outcome.response.result_int(), 200u);
    EXPECT_EQ(outcome.response.body(), "pong " + std::to_string(i));
  }
  EXPECT_EQ(server->accepted_connections(), 1u);
  EXPECT_EQ(client->stats().requests_on_reused_connections, 2u);
}

TEST_F(Http1ExchangeTest, BodyLargerThanOneRecordGoesOutAfterTheHeadAndComesBackWhole) {
  start_server();
  std::string body(300 * 1024, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
  const testing::HttpOutcome outcome = send(echoed_as_response("200", body));
  ASSERT_FALSE(outcome.error) << outcome.error.message();
  EXPECT_EQ(outcome.response.body().size(), body.size());
  EXPECT_TRUE(outcome.response.body() == body);
}

TEST_F(Http1ExchangeTest, InterimResponseIsSkippedForTheFinalOne) {
  start_server();
  // A 100 response has no body, whatever its fields say: what follows is the next response.
  const testing::HttpOutcome outcome =
      send(echoed_as_response("100", "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"));
  ASSERT_FALSE(outcome.error) << outcome.error.message();
  EXPECT_EQ(outcome.response.result_int(), 201u);
  EXPECT_EQ(outcome.response.body(), "ok");
}

TEST_F(Http1ExchangeTest, BodyWithoutALengthEndsWithTheConnection) {
  start_server(200ms);  // the server closes (with close_notify) after 200 ms of quiet
  // No body: no Content-Length and not chunked, so the echoed response's body runs to the close.
  const testing::HttpOutcome outcome = send(echoed_as_response("200", ""));
  ASSERT_FALSE(outcome.error) << outcome.error.message();
  EXPECT_EQ(outcome.response.result_int(), 200u);
  EXPECT_EQ(outcome.response.body(), "");
  // That connection is over; the next request gets a new one.
  ASSERT_FALSE(send(echoed_as_response("200", "again")).error);
  EXPECT_EQ(server->accepted_connections(), 2u);
}

TEST_F(Http1ExchangeTest, SomethingElseThanAResponseIsAProtocolError) {
  start_server();
  HttpRequest get{http::verb::get, "/", 11};  // echoed: "GET / HTTP/1.1" is no status line
  get.set(http::field::host, "localhost");
  const testing::HttpOutcome outcome = send(get);
  EXPECT_EQ(outcome.error, make_error_code(errc::http_protocol_error)) << outcome.error.message();
  // The connection in an unknown state was closed, not reused.
  ASSERT_FALSE(send(echoed_as_response("200", "fresh")).error);
  EXPECT_EQ(server->accepted_connections(), 2u);
}

TEST_F(Http1ExchangeTest, HandlersRunOnTheirOwnExecutorOrThePools) {
  start_server();
  // No executor of its own: called directly on the pool's (the io thread), not dispatched.
  std::promise<bool> on_pool_thread;
  client->async_request(echoed_as_response("200", "a"), {}, [&](boost::system::error_code, HttpResponse) {
    on_pool_thread.set_value(io.executor().running_in_this_thread());
  });
  EXPECT_TRUE(on_pool_thread.get_future().get());
  // Bound to a strand: dispatched there.
  auto strand = boost::asio::make_strand(io.executor());
  std::promise<bool> on_strand;
  client->async_request(echoed_as_response("200", "b"), {},
                        boost::asio::bind_executor(strand, [&](boost::system::error_code, HttpResponse) {
                          on_strand.set_value(strand.running_in_this_thread());
                        }));
  EXPECT_TRUE(on_strand.get_future().get());
}

TEST_F(Http1ExchangeTest, EndlessHeaderLinesStopAtTheLimitAndTheConnectionIsNotReused) {
  start_server();
  HttpRequest request = echoed_as_response("200", "");
  for (int i = 0; i < 2000; ++i) request.insert("X-Filler-" + std::to_string(i), std::string(40, 'f'));  // ~100 KB
  const testing::HttpOutcome outcome = send(std::move(request));
  EXPECT_EQ(outcome.error, make_error_code(errc::response_headers_too_large)) << outcome.error.message();
  EXPECT_EQ(client->pool()->stats().idle_connections, 0u) << "a connection left mid-header went back idle";
  const testing::HttpOutcome next = send(echoed_as_response("200", "fine"));
  ASSERT_FALSE(next.error) << next.error.message();
  EXPECT_EQ(next.response.body(), "fine");
}

}  // namespace
}  // namespace securechannel
