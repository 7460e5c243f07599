// Why a TLS handshake failed, in OpenSSL's own words, kept next to our error code so that a user
// sees "certificate has expired" or "hostname mismatch", not only certificate_verify_failed.
//
//   if (ec == securechannel::errc::certificate_verify_failed)
//     std::cerr << pool->last_connect_failure().tls.describe() << "\n";
#pragma once

#include <string>

namespace securechannel {

struct TlsFailure {
  // X509_V_OK (0) unless certificate verification was the cause; then OpenSSL's verify result.
  long verify_result = 0;
  // X509_verify_cert_error_string(verify_result) or the OpenSSL error queue ("tlsv1 alert ...").
  std::string reason;
  // For verification failures that concern the chain (not name mismatches): the certificates
  // the server sent, subject and issuer each, e.g. "the server sent 1 certificate: [0]
  // CN=localhost, issued by CN=relay intermediate" (an intermediate the server should have sent).
  std::string peer_chain;

  bool empty() const noexcept { return verify_result == 0 && reason.empty(); }
  // "certificate verify failed (verify result 10: certificate has expired)" or the reason alone;
  // peer_chain, when known, follows after "; ".
  std::string describe() const;
};

}  // namespace securechannel
