// Our TLS echo server with a CA made for the test, and pools that trust only that CA: the
// upstream most integration tests of the pool and the monitoring endpoints start from.
#pragma once

#include "securechannel/pool_builder.hpp"
#include "testing/certificate_authority.hpp"
#include "testing/tls_echo_server.hpp"

#include <string>

namespace securechannel::testing {

struct EchoUpstream {
  // A pool builder for `endpoint` (possibly one where nothing listens) trusting only the CA.
  PoolBuilder builder_for(const std::string& endpoint) const {
    PoolBuilder builder(endpoint);
    builder.with_system_trust_store(false).with_ca_file(authority.ca_certificate_file().string());
    return builder;
  }

  CertificateAuthority authority = CertificateAuthority::create();
  IssuedCertificate leaf = authority.issue("upstream");
  TlsEchoServer server{{.certificate_file = leaf.certificate_file, .key_file = leaf.key_file}};
};

}  // namespace securechannel::testing
