// OCSP stapling (RFC 6066 status_request): the pool asks every server for a stapled OCSP
// response and, when one arrives, checks it during the handshake: signed by the certificate's
// issuer (or a responder it delegated to), about this certificate, current (thisUpdate not in the
// future, nextUpdate not past, 5 minutes of clock skew allowed), and "good". TlsOptions::ocsp
// says what a missing staple means: nothing (if_stapled, the default) or a refusal (require).
//
// A refusal ends the handshake (OpenSSL sends bad_certificate_status_response) with an error of
// ours on OpenSSL's error queue, which the channel maps: staple_revoked to certificate_revoked,
// the others to certificate_verify_failed, each with its reason ("the server's certificate is
// revoked (keyCompromise) since 2026-12-06T02:57:15Z, says its OCSP response").
#pragma once

#include "securechannel/tls_options.hpp"

#include <optional>

struct ssl_st;
struct ssl_ctx_st;

namespace securechannel::detail {

// Reasons put on OpenSSL's error queue (library ERR_LIB_USER) when a staple is refused.
enum StapleRefusal : int {
  staple_revoked = 1,  // the response says revoked
  staple_unusable,     // unparsable, unsigned by the issuer, not about this certificate, stale, unknown
  staple_missing,      // TlsOptions::ocsp is require and the server stapled nothing
};

// Asks for stapling and installs the check on `context`, for `policy` (nothing when off).
// `policy` must outlive the context (it lives in the ClientTlsContext's options).
void require_stapled_status(ssl_ctx_st* context, const OcspPolicy* policy);

// The refusal at the front of this thread's OpenSSL error queue, if it is one of ours.
std::optional<StapleRefusal> staple_refusal(unsigned long openssl_error) noexcept;

}  // namespace securechannel::detail
