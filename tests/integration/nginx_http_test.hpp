// The fixture of the HttpClient tests against a real nginx (TLS 1.3, HTTP/1.1 and HTTP/2 by
// ALPN): a test CA, nginx's options to adjust before start(), pools trusting that CA.
//
//   class MyTest : public testing::NginxHttpTest {};
//   TEST_F(MyTest, Downloads) {
//     options.generated_file_bytes = 1 << 20;
//     start();
//     HttpClient client(builder({"h2"}).build(io.executor()));
//     testing::HttpOutcome outcome = send(client, request(http::verb::get, "/big")).get();
//   }
#pragma once

#include "demo/certificate_authority.hpp"
#include "demo/nginx_server.hpp"
#include "http_client_exchange.hpp"
#include "io_thread.hpp"
#include "pool/lease_internals.hpp"
#include "pool_exchange.hpp"
#include "securechannel/securechannel.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace securechannel::testing {

class NginxHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!demo::NginxServer::available()) GTEST_SKIP() << "nginx is not installed (scripts/bootstrap installs it)";
    options.certificate_file = leaf.certificate_file;
    options.key_file = leaf.key_file;
  }

  void start() { nginx = std::make_unique<demo::NginxServer>(options); }

  PoolBuilder builder(std::vector<std::string> alpn) {
    PoolBuilder b(nginx->endpoint());
    b.with_system_trust_store(false).with_ca_file(authority.ca_certificate_file().string()).with_alpn(std::move(alpn));
    return b;
  }

  HttpRequest request(boost::beast::http::verb method, std::string target, std::string body = {}) {
    return make_request(method, std::move(target), std::move(body));
  }

  template <class Request>  // an HttpRequest or a shared one
  static std::future<HttpOutcome> send(HttpClient& client, Request r, HttpRequestOptions o = {}) {
    return send_request(client, std::move(r), std::move(o));
  }

  // Waits until nginx has closed the pool's idle connection, without letting the pool or OpenSSL
  // notice: a raw peek at the socket.
  void wait_until_server_closed_the_idle_connection(SecureChannelPool& pool) {
    ASSERT_TRUE(eventually([&] {
      std::optional<Lease> lease = pool.try_acquire();
      if (!lease) return false;
      char byte = 0;
      return ::recv(detail::LeaseInternals::channel(*lease).socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;
    }, std::chrono::seconds(20))) << "nginx did not close the idle connection";
  }

  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate leaf = authority.issue("localhost");
  demo::NginxOptions options;
  std::unique_ptr<demo::NginxServer> nginx;
  IoThread io;
};

// Names the instances of tests parameterised by an ALPN protocol ("http/1.1", "h2"): Http11, Http2.
inline std::string protocol_test_name(const ::testing::TestParamInfo<const char*>& info) {
  return std::string(info.param) == "h2" ? "Http2" : "Http11";
}

}  // namespace securechannel::testing
