// mTLS for ClientTlsContext: our certificate chain and private key, and noticing when a server
// asks for them. The key file goes from disk into a SecureBuffer, OpenSSL parses it from there
// (a read-only memory BIO over the locked bytes, the passphrase handed over by a callback that
// reads another SecureBuffer), and the key file's buffer is wiped as soon as the key is in the
// SSL_CTX, with the passphrase when it came from client_key_passphrase_file. A passphrase handed
// over in memory stays locked where the pool's config holds it, for reload_tls().
#pragma once

#include "securechannel/config_error.hpp"
#include "securechannel/tls_options.hpp"

#include <optional>

struct ssl_ctx_st;

namespace securechannel::detail {

// Loads tls.client_certificate_file and tls.client_key_file when given (both or neither) and
// checks that they belong together. False with `error` naming the field and the problem
// (tls.client_key_file: "wrong passphrase for '...'"; tls.client_certificate_file: "'...' does
// not match the private key in ...").
bool load_client_certificate(ssl_ctx_st* context, const TlsOptions& options, std::optional<ConfigError>& error);

// Makes every connection of `context` record in its TicketDestination that the server sent a
// CertificateRequest (OpenSSL's certificate callback runs for clients exactly then).
void note_certificate_requests(ssl_ctx_st* context);

}  // namespace securechannel::detail
