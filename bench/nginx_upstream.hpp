// The upstream of the end-to-end benchmarks: a real nginx on 127.0.0.1 (port picked at run
// time) with a certificate from a CA made at start, so every client in a comparison verifies
// the same chain against the same server in the same run.
//
//   securechannel::bench::NginxUpstream upstream({.worker_connections = 4096});
//   auto pool = SecureChannelPool::builder(upstream.nginx.endpoint())
//                   .with_system_trust_store(false)
//                   .with_ca_file(upstream.ca_file())
//                   .build(io.get_executor());
#pragma once

#include "demo/certificate_authority.hpp"
#include "demo/nginx_server.hpp"

#include <string>

namespace securechannel::bench {

struct NginxTuning {
  int worker_connections = 4096;
  // TLS 1.3 only: every client in a comparison then negotiates the same protocol.
  std::string ssl_protocols = "TLSv1.3";
  bool http2 = false;  // offer h2 by ALPN (the HTTP benchmarks); with plain, h2c only
  bool plain = false;  // no TLS (http:// upstreams)
};

class NginxUpstream {
 public:
  explicit NginxUpstream(const NginxTuning& tuning)
      : authority(demo::CertificateAuthority::create("securechannel bench CA")),
        certificate(authority.issue("nginx")),
        nginx(demo::NginxOptions{.certificate_file = certificate.certificate_file,
                                    .key_file = certificate.key_file,
                                    .worker_connections = tuning.worker_connections,
                                    .http2 = tuning.http2,
                                    .plain = tuning.plain,
                                    .ssl_protocols = tuning.ssl_protocols}) {}

  std::string ca_file() const { return authority.ca_certificate_file().string(); }
  bool plain() const { return nginx.plain(); }

  // Declared in this order on purpose: nginx stops before the certificate files disappear.
  demo::CertificateAuthority authority;
  demo::IssuedCertificate certificate;
  demo::NginxServer nginx;
};

}  // namespace securechannel::bench
