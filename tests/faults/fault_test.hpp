// The fixture of the fault tests: a private network namespace (see fault_main.cpp), a packet
// filter in it, and the clock to check that a fault is noticed within its configured bound.
#pragma once

#include "demo/certificate_authority.hpp"
#include "demo/nginx_server.hpp"
#include "io_thread.hpp"
#include "securechannel/pool_builder.hpp"
#include "testing/network_namespace.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <cstdlib>
#include <string>

namespace securechannel::testing {

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why_not;
    if (!demo::NginxServer::available()) {
      why_not = "nginx is not installed (scripts/bootstrap installs it)";
    } else if (PrivateNetwork::enter(why_not)) {
      return;
    }
    // Where they must run (CI, as root, after scripts/bootstrap), a missing piece is a failure:
    // a skipped fault test is one that never ran.
    const char* required = std::getenv("SC_REQUIRE_FAULT_TESTS");
    if (required != nullptr && std::string(required) == "1") FAIL() << "fault tests cannot run: " << why_not;
    GTEST_SKIP() << why_not;
  }

  static double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  // nginx in this namespace, serving /slow (64 KiB at 1 KiB/s) among its fixed answers.
  std::unique_ptr<demo::NginxServer> start_nginx() {
    return std::make_unique<demo::NginxServer>(demo::NginxOptions{
        .certificate_file = leaf.certificate_file, .key_file = leaf.key_file, .generated_file_bytes = 64 * 1024});
  }

  // A pool for `nginx` that trusts only the test CA and offers `alpn`.
  PoolBuilder pool_for(const demo::NginxServer& nginx, std::string alpn) {
    PoolBuilder builder(nginx.endpoint());
    builder.with_system_trust_store(false).with_ca_file(authority.ca_certificate_file().string()).with_alpn({alpn});
    return builder;
  }

  PacketFilter filter;
  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate leaf = authority.issue("localhost");
  IoThread io;
};

}  // namespace securechannel::testing
