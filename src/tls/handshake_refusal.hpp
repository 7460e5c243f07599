// Which securechannel error a refused handshake gets. Most verification failures are
// certificate_verify_failed with OpenSSL's verify result beside it (TlsFailure); refusals by the
// security level and by version negotiation get codes of their own, because the fix is on the
// upstream's side (a new certificate, a newer TLS), not in the pool's trust settings.
// docs/TLS.md "Certificate checks" lists every case and which mechanism refuses it.
#pragma once

#include "securechannel/error.hpp"

#include <optional>

namespace securechannel::detail {

// For a failed X509 verification (verify_result != X509_V_OK).
errc verify_result_error(long verify_result) noexcept;

// For a handshake failure reported through OpenSSL's error queue (ERR_peek_error()): a code of
// its own, or nullopt for the generic tls_handshake_failed.
std::optional<errc> handshake_error_for(unsigned long openssl_error) noexcept;

// For an alert in answer to our ClientHello: what it means, to append to OpenSSL's reason
// ("sslv3 alert handshake failure" alone does not say that no suite was in common); "" for others.
const char* client_hello_refusal_note(unsigned long openssl_error) noexcept;

// True when the certificates the server sent explain the failure (issuer missing, self-signed,
// weak key or digest, validity): the reason then names them. Not for name mismatches, whose
// reason already says everything.
bool verify_result_concerns_chain(long verify_result) noexcept;

}  // namespace securechannel::detail
