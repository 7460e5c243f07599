#include "securechannel/error.hpp"

#include <boost/asio/error.hpp>

#include <string>

namespace securechannel {
namespace {

class SecureChannelCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "securechannel"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::pool_exhausted: return "pool exhausted: too many callers waiting (max_pending)";
      case errc::acquire_timeout: return "no connection became available within acquire_timeout";
      case errc::circuit_open: return "circuit breaker open: upstream failed repeatedly, failing fast";
      case errc::connect_timeout: return "connect or TLS handshake timed out (connect_timeout)";
      case errc::connect_refused: return "connection refused or unreachable at every resolved address";
      case errc::dns_failed: return "host name did not resolve";
      case errc::tls_handshake_failed: return "TLS handshake failed";
      case errc::certificate_verify_failed: return "certificate verification failed";
      case errc::certificate_pin_mismatch: return "certificate public key matches no configured pin";
      case errc::protocol_error: return "protocol error";
      case errc::shutting_down: return "pool is shutting down";
      case errc::connection_closed: return "connection closed by peer";
      case errc::request_timeout: return "request timed out before its response was complete";
      case errc::stream_refused: return "HTTP/2 stream refused by the server (not processed; safe to retry)";
      case errc::request_not_replayed:
        return "connection failed before any response; the request is not idempotent and was not sent again";
      case errc::response_too_large: return "response body larger than max_response_body";
      case errc::content_decoding_failed: return "response body could not be decoded (Content-Encoding)";
      case errc::http_protocol_error: return "HTTP protocol error from the peer";
      case errc::websocket_closed: return "WebSocket closed by the peer";
      case errc::certificate_key_too_weak:
        return "certificate key too weak: a key in the server's chain is below the TLS security level (e.g. RSA-1024)";
      case errc::certificate_signature_algorithm_insecure:
        return "insecure certificate signature: a certificate in the server's chain is signed with SHA-1 or weaker";
      case errc::protocol_version_unsupported:
        return "the server offers no TLS version the pool accepts (TLS 1.2 at the lowest, TLS 1.3 by default)";
      case errc::client_certificate_required:
        return "the server requires a client certificate and none is configured (tls.client_certificate_file)";
      case errc::client_certificate_rejected: return "the server rejected our client certificate";
      case errc::response_body_aborted: return "the response body sink stopped the transfer";
      case errc::request_body_aborted: return "the request body source failed or gave the wrong length";
      case errc::invalid_request: return "the request holds a CR, LF, NUL or non-token name (request smuggling)";
      case errc::response_headers_too_large: return "the response's header fields exceeded max_response_header_bytes";
      case errc::certificate_revoked: return "the server's certificate is revoked (stapled OCSP response or CRL)";
      case errc::affinity_key_too_long: return "the affinity key is longer than 256 bytes";
      case errc::dns_timeout: return "the resolver gave no answer for the host name within the connect timeout";
      case errc::insecure_bind:
        return "refused to listen on a non-loopback address without an auth token or TLS (allow_insecure_bind)";
    }
    return "unknown securechannel error " + std::to_string(value);
  }
};

}  // namespace

const boost::system::error_category& securechannel_category() noexcept {
  static const SecureChannelCategory category;
  return category;
}

std::string_view error_name(errc code) noexcept {
  switch (code) {
    case errc::pool_exhausted: return "pool_exhausted";
    case errc::acquire_timeout: return "acquire_timeout";
    case errc::circuit_open: return "circuit_open";
    case errc::connect_timeout: return "connect_timeout";
    case errc::connect_refused: return "connect_refused";
    case errc::dns_failed: return "dns_failed";
    case errc::tls_handshake_failed: return "tls_handshake_failed";
    case errc::certificate_verify_failed: return "certificate_verify_failed";
    case errc::certificate_pin_mismatch: return "certificate_pin_mismatch";
    case errc::protocol_error: return "protocol_error";
    case errc::shutting_down: return "shutting_down";
    case errc::connection_closed: return "connection_closed";
    case errc::request_timeout: return "request_timeout";
    case errc::stream_refused: return "stream_refused";
    case errc::request_not_replayed: return "request_not_replayed";
    case errc::response_too_large: return "response_too_large";
    case errc::content_decoding_failed: return "content_decoding_failed";
    case errc::http_protocol_error: return "http_protocol_error";
    case errc::websocket_closed: return "websocket_closed";
    case errc::certificate_key_too_weak: return "certificate_key_too_weak";
    case errc::certificate_signature_algorithm_insecure: return "certificate_signature_algorithm_insecure";
    case errc::protocol_version_unsupported: return "protocol_version_unsupported";
    case errc::client_certificate_required: return "client_certificate_required";
    case errc::client_certificate_rejected: return "client_certificate_rejected";
    case errc::response_body_aborted: return "response_body_aborted";
    case errc::request_body_aborted: return "request_body_aborted";
    case errc::invalid_request: return "invalid_request";
    case errc::response_headers_too_large: return "response_headers_too_large";
    case errc::insecure_bind: return "insecure_bind";
    case errc::dns_timeout: return "dns_timeout";
    case errc::certificate_revoked: return "certificate_revoked";
    case errc::affinity_key_too_long: return "affinity_key_too_long";
  }
  return "unknown";
}

std::string_view error_kind(const boost::system::error_code& ec) noexcept {
  if (!ec) return "none";
  if (ec.category() == securechannel_category()) return error_name(static_cast<errc>(ec.value()));
  if (ec == boost::asio::error::operation_aborted) return "operation_aborted";
  if (ec == boost::asio::error::eof) return "eof";
  if (ec == boost::asio::error::timed_out) return "timed_out";
  if (ec == boost::asio::error::connection_reset) return "connection_reset";
  if (ec == boost::asio::error::broken_pipe) return "broken_pipe";
  return "io_error";
}

}  // namespace securechannel
