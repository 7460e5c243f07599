// What a pool trusts and offers when it opens TLS connections. Plain data; validated by
// ClientTlsContext::create(), which names the offending field when something is wrong.
//
//   securechannel::TlsOptions tls;
//   tls.ca_file = "/etc/relay/ca.pem";          // trusted in addition to the system store
//   tls.alpn = {"h2", "http/1.1"};
#pragma once

#include <string>
#include <vector>

namespace securechannel {

enum class TlsVersion {
  tls1_2,  // allowed only when asked for: ECDHE + AEAD suites only
  tls1_3,  // the default minimum
};

struct TlsOptions {
  // Trust the operating system's store (Debian: /etc/ssl/certs/ca-certificates.crt). Loading
  // tolerates bad entries: they are skipped, counted and logged.
  bool use_system_trust_store = true;
  // PEM file with extra trusted CA certificates (e.g. a private relay CA).
  std::string ca_file;
  // Directory of hashed CA certificates (`openssl rehash`), looked up lazily.
  std::string ca_directory;
  // Lowest protocol version accepted. Never below TLS 1.2.
  TlsVersion min_version = TlsVersion::tls1_3;
  // ALPN protocols offered, in preference order (e.g. "h2", "http/1.1"). Empty: no ALPN.
  std::vector<std::string> alpn;
  // Name sent as SNI and checked against the certificate; empty means the endpoint's host.
  std::string server_name;
};

}  // namespace securechannel
