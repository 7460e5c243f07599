#include "tls/handshake_refusal.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

namespace securechannel::detail {

errc verify_result_error(long verify_result) noexcept {
  switch (verify_result) {
    // X509_verify_cert checks every certificate of the chain against the security level (the
    // SSL's, passed as the verification's auth_level): key sizes and signature digests.
    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_CA_KEY_TOO_SMALL:
      return errc::certificate_key_too_weak;
    case X509_V_ERR_CA_MD_TOO_WEAK:
      return errc::certificate_signature_algorithm_insecure;
    case X509_V_ERR_CERT_REVOKED:  // a CRL of TlsOptions::crl_file lists it
      return errc::certificate_revoked;
    default:
      return errc::certificate_verify_failed;
  }
}

std::optional<errc> handshake_error_for(unsigned long openssl_error) noexcept {
  if (ERR_GET_LIB(openssl_error) != ERR_LIB_SSL) return std::nullopt;
  switch (ERR_GET_REASON(openssl_error)) {
    // The server answered our ClientHello with a protocol_version alert (it has none of our
    // versions), or chose a version below our floor.
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_WRONG_SSL_VERSION:
      return errc::protocol_version_unsupported;
    // ssl_security_cert: the same security-level checks as verification, made on the leaf by
    // libssl itself (reached when verification passed, e.g. with a stricter level set later).
    case SSL_R_EE_KEY_TOO_SMALL:
    case SSL_R_CA_KEY_TOO_SMALL:
      return errc::certificate_key_too_weak;
    case SSL_R_CA_MD_TOO_WEAK:
      return errc::certificate_signature_algorithm_insecure;
    default:
      return std::nullopt;
  }
}

const char* client_hello_refusal_note(unsigned long openssl_error) noexcept {
  if (ERR_GET_LIB(openssl_error) != ERR_LIB_SSL) return "";
  switch (ERR_GET_REASON(openssl_error)) {
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
    case SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY:
      return " (in answer to our ClientHello: the server accepts none of the cipher suites, groups or signature "
             "algorithms the pool offers; TLS 1.2 only with ECDHE and AEAD suites, docs/TLS.md)";
    default:
      return "";
  }
}

bool verify_result_concerns_chain(long verify_result) noexcept {
  switch (verify_result) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return false;
    default:
      return true;
  }
}

}  // namespace securechannel::detail
