// SecureChannel and mTLS: telling "the server refused our client certificate" apart from other
// handshake failures, and, on TLS 1.3, learning the server's verdict before the connection is
// handed out (RFC 8446 4.4.2.4: the server checks the client's Certificate after the client has
// finished its side of the handshake, so a refusal arrives as an alert one round trip later).
#include "securechannel/error.hpp"
#include "securechannel/secure_channel.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>

namespace securechannel {

bool SecureChannel::awaits_certificate_verdict() const noexcept {
  // A resumed TLS 1.3 handshake carries no CertificateRequest (RFC 8446 4.3.2), and TLS 1.2
  // refuses inside the handshake itself.
  return ssl_ != nullptr && ticket_destination_.certificate_requested() && SSL_version(ssl_) == TLS1_3_VERSION &&
         SSL_session_reused(ssl_) == 0;
}

detail::TlsStep SecureChannel::read_certificate_verdict(boost::system::error_code& error) noexcept {
  char byte = 0;
  std::size_t peeked = 0;
  ERR_clear_error();
  errno = 0;
  // SSL_peek processes every complete record (tickets, alerts) and leaves application data for
  // the connection's user: a server that speaks first has accepted us and loses nothing.
  if (SSL_peek_ex(ssl_, &byte, 1, &peeked) == 1) return detail::TlsStep::done;
  const int ssl_error = SSL_get_error(ssl_, 0);
  if (ssl_error == SSL_ERROR_WANT_READ) {
    // A server issues tickets only after it has processed our Certificate, CertificateVerify and
    // Finished: a ticket is its acceptance.
    const bool ticket_received = SSL_SESSION_has_ticket(SSL_get0_session(ssl_)) == 1;
    if (SSL_has_pending(ssl_) == 0) SSL_free_buffers(ssl_);  // an idle connection holds no buffer
    ERR_clear_error();
    return ticket_received ? detail::TlsStep::done : detail::TlsStep::want_read;
  }
  if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    ERR_clear_error();
    fatal_ = true;
    failure().reason = "the server closed the connection (close_notify) right after asking for our client certificate";
    error = errc::connection_closed;
    return detail::TlsStep::failed;
  }
  error = classify_failure(ssl_error);
  return detail::TlsStep::failed;
}

boost::system::error_code SecureChannel::client_certificate_failure(unsigned long first_error) noexcept {
  if (!ticket_destination_.certificate_requested() || ERR_GET_LIB(first_error) != ERR_LIB_SSL) return {};
  // OpenSSL reports a received alert as the reason SSL_AD_REASON_OFFSET + its number.
  const int reason = ERR_GET_REASON(first_error);
  if (reason <= SSL_AD_REASON_OFFSET || reason >= SSL_AD_REASON_OFFSET + 256) return {};
  const int alert = reason - SSL_AD_REASON_OFFSET;
  switch (alert) {
    case SSL3_AD_HANDSHAKE_FAILURE:  // OpenSSL servers on TLS 1.2 when no certificate came
    case SSL3_AD_BAD_CERTIFICATE:
    case SSL3_AD_UNSUPPORTED_CERTIFICATE:
    case SSL3_AD_CERTIFICATE_REVOKED:
    case SSL3_AD_CERTIFICATE_EXPIRED:
    case SSL3_AD_CERTIFICATE_UNKNOWN:
    case TLS1_AD_UNKNOWN_CA:         // the usual answer to a certificate from a CA it does not trust
    case TLS1_AD_ACCESS_DENIED:
    case TLS1_AD_DECRYPT_ERROR:      // our CertificateVerify did not verify
    case TLS13_AD_CERTIFICATE_REQUIRED:
      break;
    default:
      return {};
  }
  const std::string alert_text = failure().reason;  // OpenSSL's words, e.g. "tlsv1 alert unknown ca"
  const std::string& certificate = context_->options().client_certificate_file;
  if (alert == TLS13_AD_CERTIFICATE_REQUIRED || certificate.empty()) {
    failure().reason = "the server requires a client certificate and none is configured "
                       "(tls.client_certificate_file); its alert: " + alert_text;
    return errc::client_certificate_required;
  }
  failure().reason = "the server refused our client certificate '" + certificate + "'; its alert: " + alert_text;
  return errc::client_certificate_rejected;
}

}  // namespace securechannel
