// The fixture of the fault tests that put a FaultProxy between the pool and its upstream (nginx,
// or our TLS echo server): requests whose replies tell their callers apart, requests timed from
// call to handler, and the checks every such test ends with.
//
//   class MyTest : public testing::ProxiedFaultTest {};
//   TEST_F(MyTest, Something) {
//     start_nginx_behind_proxy();
//     auto pool = builder_through_proxy("h2").build(io.executor());
//     { HttpClient client(pool); ... proxy->set_toxics(...); ... }
//     close_pool(pool);
//     expect_everything_closed();  // descriptors back to where they were, no proxied connection
//   }
#pragma once

#include "demo/nginx_server.hpp"
#include "demo/tls_echo_server.hpp"
#include "fault_proxy.hpp"
#include "fault_test.hpp"
#include "http_client_exchange.hpp"
#include "nginx_http_test.hpp"  // protocol_test_name
#include "pool_exchange.hpp"
#include "securechannel/http_client.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/field.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <string>

namespace securechannel::testing {

// GET /big bytes [first, first + length): nginx answers 206 with exactly those bytes of its
// generated file (a pattern of period 251), so each caller can tell its reply from another's.
inline HttpRequest range_request(std::size_t first, std::size_t length) {
  HttpRequest request = make_request(boost::beast::http::verb::get, "/big");
  request.set(boost::beast::http::field::range,
              "bytes=" + std::to_string(first) + "-" + std::to_string(first + length - 1));
  return request;
}

inline std::string range_body(std::size_t first, std::size_t length) {
  std::string body(length, '\0');
  for (std::size_t i = 0; i < length; ++i) body[i] = demo::generated_file_byte(first + i);
  return body;
}

struct TimedOutcome {
  boost::system::error_code error;
  HttpResponse response;
  double seconds = 0;  // from the call to the handler
};

inline std::future<TimedOutcome> timed_request(HttpClient& client, HttpRequest request, HttpRequestOptions options = {}) {
  auto promise = std::make_shared<std::promise<TimedOutcome>>();
  auto result = promise->get_future();
  const auto start = std::chrono::steady_clock::now();
  client.async_request(std::move(request), std::move(options),
                       [promise, start](boost::system::error_code error, HttpResponse response) {
                         const double seconds =
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                         promise->set_value({error, std::move(response), seconds});
                       });
  return result;
}

class ProxiedFaultTest : public FaultTest {
 protected:
  static constexpr std::size_t kBigFileBytes = 64 * 1024;

  // nginx (serving /big, kBigFileBytes) with a proxy in front; then the descriptor baseline.
  void start_nginx_behind_proxy(int keepalive_timeout_seconds = 75) {
    nginx = make_nginx(keepalive_timeout_seconds);
    proxy = std::make_unique<FaultProxy>(nginx->port());
    record_descriptor_baseline();
  }

  std::unique_ptr<demo::NginxServer> make_nginx(int keepalive_timeout_seconds = 75) const {
    return std::make_unique<demo::NginxServer>(demo::NginxOptions{.certificate_file = leaf.certificate_file,
                                                      .key_file = leaf.key_file,
                                                      .keepalive_timeout_seconds = keepalive_timeout_seconds,
                                                      .generated_file_bytes = kBigFileBytes});
  }

  // Our TLS echo server with a proxy in front; then the descriptor baseline.
  void start_echo_behind_proxy(demo::TlsEchoServerOptions options = {}) {
    options.certificate_file = leaf.certificate_file;
    options.key_file = leaf.key_file;
    echo = std::make_unique<demo::TlsEchoServer>(std::move(options));
    proxy = std::make_unique<FaultProxy>(echo->port());
    record_descriptor_baseline();
  }

  // A pool for the proxy's endpoint that trusts only the test CA and offers `alpn` (none if empty).
  PoolBuilder builder_through_proxy(const std::string& alpn = {}) const {
    PoolBuilder builder(proxy->endpoint());
    builder.with_system_trust_store(false).with_ca_file(authority.ca_certificate_file().string());
    if (!alpn.empty()) builder.with_alpn({alpn});
    return builder;
  }

  void record_descriptor_baseline() {
    // The io_context opens its reactor's descriptors with its first I/O object: before counting.
    boost::asio::ip::tcp::socket warm_up(io.io());
    descriptors_before = count_open_file_descriptors();
  }

  // Shuts the pool down and lets go of it (HttpClients on it must be gone already).
  static void close_pool(std::shared_ptr<SecureChannelPool>& pool) {
    shutdown(*pool, std::chrono::seconds(1));
    pool.reset();
  }

  // Once the pools are closed: every connection through the proxy (if any) has ended (the pool
  // closed its side of each) and this process holds no more descriptors than before the pools
  // existed.
  void expect_everything_closed() {
    if (proxy) {
      proxy->clear_toxics();  // a stalled connection lets its bytes go and sees its peer has gone
      EXPECT_TRUE(eventually([&] { return proxy->open_connections() == 0; }))
          << proxy->open_connections() << " connections still open through the proxy";
    }
    EXPECT_TRUE(eventually([&] { return count_open_file_descriptors() <= descriptors_before; }))
        << "descriptors leaked: " << count_open_file_descriptors() << " > " << descriptors_before;
  }

  std::unique_ptr<demo::NginxServer> nginx;
  std::unique_ptr<demo::TlsEchoServer> echo;
  std::unique_ptr<FaultProxy> proxy;  // after the upstreams: destroyed before them
  std::size_t descriptors_before = 0;
};

}  // namespace securechannel::testing
