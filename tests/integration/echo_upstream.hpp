// Our TLS echo server with a CA made for the test, and pools that trust only that CA: the
// upstream most integration tests of the pool and the monitoring endpoints start from.
#pragma once

#include "demo/certificate_authority.hpp"
#include "demo/tls_echo_server.hpp"
#include "securechannel/pool_builder.hpp"

#include <string>

namespace securechannel::testing {

struct EchoUpstream {
  // A pool builder for `endpoint` (possibly one where nothing listens) trusting only the CA.
  PoolBuilder builder_for(const std::string& endpoint) const {
    PoolBuilder builder(endpoint);
    builder.with_system_trust_store(false).with_ca_file(authority.ca_certificate_file().string());
    return builder;
  }

  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate leaf = authority.issue("upstream");
  demo::TlsEchoServer server{{.certificate_file = leaf.certificate_file, .key_file = leaf.key_file}};
};

}  // namespace securechannel::testing
