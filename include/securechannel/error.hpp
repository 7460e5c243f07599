// Runtime errors of securechannel: values of one error category, "securechannel", with stable
// names that also serve as the `kind` label of `<ns>_errors_total`.
//
//   pool->async_acquire([](boost::system::error_code ec, securechannel::Lease lease) {
//     if (ec == securechannel::errc::circuit_open) { /* upstream is down, fail fast */ }
//   });
//
// No exceptions are thrown on the I/O path; configuration errors are reported by
// PoolBuilder::build() with a message that names the field.
#pragma once

#include <boost/system/error_code.hpp>

#include <string_view>
#include <type_traits>

namespace securechannel {

enum class errc {
  // Zero is success, as for every error category.
  pool_exhausted = 1,         // more callers waiting than max_pending allows
  acquire_timeout,            // no connection became free within acquire_timeout
  circuit_open,               // the circuit breaker is open: the upstream failed repeatedly
  connect_timeout,            // TCP connect or TLS handshake did not finish within connect_timeout
  connect_refused,            // every resolved address refused or was unreachable
  dns_failed,                 // the host name did not resolve
  tls_handshake_failed,       // the handshake failed for a reason other than verification
  certificate_verify_failed,  // the peer's chain or host name did not verify (see TlsFailure)
  certificate_pin_mismatch,   // the chain verified but no SPKI pin matched
  protocol_error,             // the peer broke the protocol (TLS alert, garbage, bad record)
  shutting_down,              // the pool is shutting down and accepts no more acquires
  connection_closed,          // the peer closed the connection
  // HTTP and WebSocket over the pool.
  request_timeout,            // the request's own timeout elapsed before its response was complete
  stream_refused,             // HTTP/2: the server did not process the stream (REFUSED_STREAM, or
                              // beyond a GOAWAY's last stream id); safe to send again
  request_not_replayed,       // the connection failed before any response byte and the request is
                              // not idempotent, so it was not sent again (HttpRequestOptions)
  response_too_large,         // the response body exceeded max_response_body
  content_decoding_failed,    // a gzip, deflate or br body did not decode
  http_protocol_error,        // malformed HTTP/1.1 message or HTTP/2 frame from the peer
  websocket_closed,           // the WebSocket peer closed the connection (close frame)
  // TLS policy refusals with a cause of their own (docs/TLS.md, "Certificate checks"): the
  // upstream must change its certificate or configuration, not the pool its trust settings.
  certificate_key_too_weak,                  // a key in the peer's chain is below the security
                                             // level (RSA or DH under 2048 bits, EC under 224)
  certificate_signature_algorithm_insecure,  // a certificate in the chain is signed with a digest
                                             // below the security level (SHA-1, MD5)
  protocol_version_unsupported,              // the server offers no TLS version the pool accepts
                                             // (e.g. only TLS 1.1 or 1.0)
  // mTLS (docs/TLS.md, "Secrets and mTLS"): the server refused us, not we the server.
  client_certificate_required,  // the server demands a client certificate and none is configured
  client_certificate_rejected,  // the server did not accept our client certificate (e.g. its CA
                                // did not sign it): tls_failure() carries the server's alert
  // HTTP, added after the TLS codes to keep every earlier value stable.
  response_body_aborted,  // HttpRequestOptions::body_sink returned false: the rest was not read
  request_body_aborted,   // HttpRequestOptions::body_source failed, or gave more or fewer bytes
                          // than the request's Content-Length
  // Added after the body codes, for the same reason.
  invalid_request,  // the request cannot be written safely: a CR, LF or NUL in its method, target
                    // or a header, or a header name that is not a token (find_request_problem)
  response_headers_too_large,  // the response's header fields (all blocks: interim, final,
                               // trailers) exceeded HttpRequestOptions::max_response_header_bytes
  // Servers of ours (docs/MONITORING.md, "Exposure").
  insecure_bind,  // a server was asked to listen on a non-loopback address with neither an auth
                  // token nor TLS, and allow_insecure_bind is not set
  dns_timeout,    // the resolver gave no answer for the host name within connect_timeout
  certificate_revoked,  // the server's certificate is revoked: its stapled OCSP response or a CRL
                        // (TlsOptions::ocsp, crl_file) says so
  affinity_key_too_long,  // an affinity key (Affinity::key) longer than max_affinity_key_bytes
  // Keep last: the tests iterate up to it.
  last_error_code_ = affinity_key_too_long,
};

// The stable, lower_snake_case name of an error ("pool_exhausted"); "unknown" for others.
std::string_view error_name(errc code) noexcept;

// The name of any error code: ours by error_name(), others by a coarse class such as
// "io_error", "operation_aborted", "eof". Used for the `kind` label of error metrics.
std::string_view error_kind(const boost::system::error_code& ec) noexcept;

const boost::system::error_category& securechannel_category() noexcept;

inline boost::system::error_code make_error_code(errc code) noexcept {
  return {static_cast<int>(code), securechannel_category()};
}

}  // namespace securechannel

namespace boost::system {
template <>
struct is_error_code_enum<securechannel::errc> : std::true_type {};
}  // namespace boost::system
