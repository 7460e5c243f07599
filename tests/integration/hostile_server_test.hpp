// The fixture of the hostile-server tests: a HostileTlsServer whose script the test writes, a
// pool and HttpClient that trust it, and the checks every such test ends with: the attack got a
// named error, the client left the hostile connection, and the next request is served.
//
//   class MyTest : public testing::HostileServerTest {};
//   TEST_F(MyTest, EndlessHeaders) {
//     serve({"http/1.1"}, [](HostileConnection& c) { ... });
//     HttpClient client = http_client({"http/1.1"});
//     EXPECT_EQ(send(client, "/attack").get().error, make_error_code(errc::response_headers_too_large));
//   }
#pragma once

#include "demo/certificate_authority.hpp"
#include "http_client_exchange.hpp"
#include "io_thread.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/hostile_tls_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

namespace securechannel::testing {

class HostileServerTest : public ::testing::Test {
 protected:
  // Starts the server: every connection it accepts runs `script`.
  void serve(std::vector<std::string> alpn, HostileScript script) {
    server = std::make_unique<HostileTlsServer>(
        HostileTlsServerOptions{.certificate_file = leaf.certificate_file, .key_file = leaf.key_file, .alpn = std::move(alpn)},
        std::move(script));
  }

  PoolBuilder builder(std::vector<std::string> alpn) {
    PoolBuilder b(server->endpoint());
    b.with_system_trust_store(false).with_ca_file(authority.ca_certificate_file().string()).with_alpn(std::move(alpn));
    return b;
  }

  HttpClient http_client(std::vector<std::string> alpn) { return HttpClient(builder(std::move(alpn)).build(io.executor())); }

  static std::future<HttpOutcome> send(HttpClient& client, std::string target, HttpRequestOptions options = {}) {
    return send_request(client, make_request(boost::beast::http::verb::get, std::move(target)), std::move(options));
  }

  // Sends `target` and waits for its outcome, at most the request's timeout and some slack.
  static HttpOutcome outcome_of(HttpClient& client, std::string target, HttpRequestOptions options = {}) {
    const auto limit = options.timeout + std::chrono::seconds(5);
    std::future<HttpOutcome> sent = send(client, std::move(target), std::move(options));
    if (sent.wait_for(limit) != std::future_status::ready) {
      ADD_FAILURE() << "the request outlived its timeout";
      return {make_error_code(errc::request_timeout), {}};
    }
    return sent.get();
  }

  // The request that follows an attack, on the same client, is served ("/ok" answers "ok\n").
  static void expect_next_request_served(HttpClient& client) {
    const HttpOutcome served = outcome_of(client, "/ok");
    ASSERT_FALSE(served.error) << served.error.message();
    EXPECT_EQ(served.response.body(), "ok\n");
  }

  static double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate leaf = authority.issue("localhost");
  IoThread io;
  std::unique_ptr<HostileTlsServer> server;
  // Set by scripts: did the client close the hostile connection (rather than keep it)?
  std::atomic<int> attacks_left_by_client{0};
};

}  // namespace securechannel::testing
