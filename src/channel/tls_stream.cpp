// The OpenSSL half of SecureChannel: single non-blocking steps that the composed operations
// repeat after readiness waits, and the mapping of OpenSSL's failures onto our error codes.
#include "channel/channel_failure.hpp"
#include "channel/http2_server_preface.hpp"
#include "channel/received_bytes.hpp"
#include "securechannel/error.hpp"
#include "securechannel/secure_channel.hpp"
#include "tls/handshake_refusal.hpp"
#include "tls/ocsp_staple.hpp"
#include "tls/peer_certificate.hpp"
#include "tls/public_key_pins.hpp"

#include <boost/asio/error.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <cerrno>

namespace securechannel {

namespace asio = boost::asio;

namespace {

// Every queued OpenSSL error, oldest first, joined: the detail a user needs to see why.
std::string drain_openssl_errors() {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    const char* reason = ERR_reason_error_string(code);
    text += reason ? reason : buffer;
  }
  return text;
}

// SSL_get_error reads the thread's error queue, so it must be empty before each call into
// OpenSSL. ERR_clear_error costs as much as a small record's encryption (it rewrites all 16
// slots of the queue); looking first costs a thread-local lookup, and the queue is almost
// always empty already: every path here leaves it so.
void clear_stale_openssl_errors() noexcept {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

}  // namespace

boost::system::error_code SecureChannel::classify_failure(int ssl_error) noexcept {
  const boost::system::error_code cause = diagnose_failure(ssl_error);
  failure();  // allocated (diagnose_failure may not have needed it)
  if (!failure_->cause) failure_->cause = cause;
  return cause;
}

boost::system::error_code SecureChannel::unusable_error() const noexcept {
  if (failure_ && failure_->cause) return failure_->cause;
  return boost::asio::error::not_connected;
}

boost::system::error_code SecureChannel::diagnose_failure(int ssl_error) noexcept {
  const int saved_errno = errno;
  fatal_ = true;
  if (!established_) {
    const long verify_result = SSL_get_verify_result(ssl_);
    if (verify_result == X509_V_ERR_APPLICATION_VERIFICATION) {
      // Only the pin check (verify_chain_then_pins) fails verification this way; the chain itself
      // verified, so no verify result is reported.
      // The chain as sent: OpenSSL keeps the peer's certificate only once verification passed.
      const STACK_OF(X509)* sent = SSL_get_peer_cert_chain(ssl_);
      const X509* leaf = sent != nullptr && sk_X509_num(sent) > 0 ? sk_X509_value(sent, 0) : nullptr;
      failure().reason = detail::describe_pin_mismatch(context_->pins().size(), leaf);
      ERR_clear_error();
      return errc::certificate_pin_mismatch;
    }
    if (verify_result != X509_V_OK) {
      failure().verify_result = verify_result;
      failure().reason = X509_verify_cert_error_string(verify_result);
      if (detail::verify_result_concerns_chain(verify_result)) failure().peer_chain = detail::describe_sent_chain(ssl_);
      ERR_clear_error();
      return detail::verify_result_error(verify_result);
    }
  }
  if (ssl_error == SSL_ERROR_SYSCALL) {
    ERR_clear_error();
    if (saved_errno != 0) {
      failure().reason = std::system_category().message(saved_errno);
      return {saved_errno, boost::system::system_category()};
    }
    failure().reason = established_ ? "peer closed the connection without close_notify"
                                   : "peer closed the connection during the TLS handshake";
    return established_ ? errc::connection_closed : errc::tls_handshake_failed;
  }
  const unsigned long first = ERR_peek_error();
  if (const auto refusal = detail::staple_refusal(first)) {
    // Our status callback's own words (ocsp_staple.cpp), not OpenSSL's alert that followed them.
    const char* data = nullptr;
    int flags = 0;
    ERR_peek_error_data(&data, &flags);
    failure().reason = data != nullptr && (flags & ERR_TXT_STRING) != 0 ? data : "the stapled OCSP response was refused";
    ERR_clear_error();
    return *refusal == detail::staple_revoked ? errc::certificate_revoked : errc::certificate_verify_failed;
  }
  failure().reason = drain_openssl_errors();
  if (const boost::system::error_code refused = client_certificate_failure(first)) return refused;
  if (ERR_GET_LIB(first) == ERR_LIB_SSL && ERR_GET_REASON(first) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    return established_ ? errc::connection_closed : errc::tls_handshake_failed;
  }
  if (!established_) {
    if (const auto refusal = detail::handshake_error_for(first)) return *refusal;
    // Our ClientHello was the last handshake message: the alert answered it.
    if (SSL_get_state(ssl_) == TLS_ST_CW_CLNT_HELLO) failure().reason += detail::client_hello_refusal_note(first);
  }
  return established_ ? errc::protocol_error : errc::tls_handshake_failed;
}

detail::TlsStep SecureChannel::step_read(void* data, std::size_t size, std::size_t& transferred,
                                         boost::system::error_code& error) noexcept {
  if (!usable()) {
    error = unusable_error();
    return detail::TlsStep::failed;
  }
  if (size == 0) return detail::TlsStep::done;
  if (plain()) return step_plain_read(data, size, transferred, error);
  clear_stale_openssl_errors();
  errno = 0;
  reading_through_asio_ = true;
  const int result = SSL_read_ex(ssl_, data, size, &transferred);
  if (result == 1) {
    // One SSL_read yields at most one record. The records already received are decrypted now
    // too: a burst of small records (HTTP/2 responses, one per stream) reaches the caller in one
    // read instead of one completion each. A failure here is left for the next read to report.
    while (transferred < size && (SSL_has_pending(ssl_) == 1 || (received_ && received_->available() != 0))) {
      std::size_t more = 0;
      if (SSL_read_ex(ssl_, static_cast<char*>(data) + transferred, size - transferred, &more) != 1) {
        clear_stale_openssl_errors();  // the queue is per thread: leave it as clean as we found it
        break;
      }
      transferred += more;
    }
    reading_through_asio_ = false;
    return detail::TlsStep::done;
  }
  reading_through_asio_ = false;
  switch (const int ssl_error = SSL_get_error(ssl_, 0)) {
    case SSL_ERROR_WANT_READ: return detail::TlsStep::want_read;
    case SSL_ERROR_WANT_WRITE: return detail::TlsStep::want_write;
    case SSL_ERROR_ZERO_RETURN:
      // The peer sent close_notify: a clean end of stream, spelled the way Asio algorithms expect.
      error = boost::asio::error::eof;
      return detail::TlsStep::failed;
    default:
      error = classify_failure(ssl_error);
      return detail::TlsStep::failed;
  }
}

detail::TlsStep SecureChannel::step_write(const void* data, std::size_t size, std::size_t& transferred,
                                          boost::system::error_code& error) noexcept {
  if (!usable()) {
    error = unusable_error();
    return detail::TlsStep::failed;
  }
  if (size == 0) return detail::TlsStep::done;
  emptied_by_last_read_ = false;  // a reply may be on its way
  if (plain()) return step_plain_write(data, size, transferred, error);
  clear_stale_openssl_errors();
  errno = 0;
  if (SSL_write_ex(ssl_, data, size, &transferred) == 1) return detail::TlsStep::done;
  switch (const int ssl_error = SSL_get_error(ssl_, 0)) {
    case SSL_ERROR_WANT_READ: return detail::TlsStep::want_read;
    case SSL_ERROR_WANT_WRITE: return detail::TlsStep::want_write;
    default:
      error = classify_failure(ssl_error);
      return detail::TlsStep::failed;
  }
}

detail::TlsStep SecureChannel::step_handshake(boost::system::error_code& error) noexcept {
  ERR_clear_error();
  errno = 0;
  const int result = SSL_connect(ssl_);
  if (result == 1) {
    established_ = true;
    return detail::TlsStep::done;
  }
  switch (const int ssl_error = SSL_get_error(ssl_, result)) {
    case SSL_ERROR_WANT_READ: return detail::TlsStep::want_read;
    case SSL_ERROR_WANT_WRITE: return detail::TlsStep::want_write;
    default:
      error = classify_failure(ssl_error);
      return detail::TlsStep::failed;
  }
}

detail::TlsStep SecureChannel::step_shutdown(boost::system::error_code& error) noexcept {
  if (!ssl_ || !established_ || fatal_) return detail::TlsStep::done;
  ERR_clear_error();
  errno = 0;
  // We send our close_notify and do not wait for the peer's: the connection is being discarded
  // and nothing it could still send is wanted (RFC 8446 6.1 allows the half-close).
  const int result = SSL_shutdown(ssl_);
  if (result >= 0) return detail::TlsStep::done;
  switch (SSL_get_error(ssl_, result)) {
    case SSL_ERROR_WANT_WRITE: return detail::TlsStep::want_write;
    case SSL_ERROR_WANT_READ: return detail::TlsStep::done;  // our close_notify is out
    default:
      ERR_clear_error();
      fatal_ = true;
      error = boost::asio::error::shut_down;
      return detail::TlsStep::failed;
  }
}

IdleHealth SecureChannel::probe_idle(bool never_used) noexcept {
  if (!usable() || !socket_.is_open()) return IdleHealth::closed_by_peer;
  if (plain()) return probe_plain_idle(never_used);
  // Records may wait in our received block or OpenSSL's buffer rather than in the socket; once
  // OpenSSL has said it needs more, only the socket can tell whether more came.
  bool waiting_for_socket = !has_unprocessed_input();
  for (;;) {
    char byte = 0;
    if (waiting_for_socket) {
      const ssize_t peeked = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (peeked < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return IdleHealth::healthy;
        if (errno == EINTR) continue;
        return IdleHealth::closed_by_peer;
      }
      if (peeked == 0) return IdleHealth::closed_by_peer;
    }
    // Bytes are waiting. TLS 1.3 servers send session tickets after the handshake, so let
    // OpenSSL consume records: only application data or a closure makes the connection unusable.
    // Application data is peeked, not read: an HTTP/2 server's preface stays for the session
    // (OpenSSL keeps its record, and with it the record buffer, until the session reads it).
    std::size_t transferred = 0;
    ERR_clear_error();
    unsigned char waiting[detail::http2_preface_peek_bytes];
    if (SSL_peek_ex(ssl_, waiting, sizeof waiting, &transferred) == 1) {
      // The whole record must be seen, ending on a frame's end: a GOAWAY further in the same
      // record would otherwise pass unseen.
      const bool whole_record = static_cast<std::size_t>(SSL_pending(ssl_)) == transferred;
      if (!never_used || !whole_record ||
          !detail::idle_bytes_expected(negotiated_alpn(), {waiting, transferred}, /*complete=*/true)) {
        return IdleHealth::unexpected_data;
      }
      return health_behind_tls_preface();
    }
    const int ssl_error = SSL_get_error(ssl_, 0);
    if (ssl_error == SSL_ERROR_WANT_READ) {
      // Only non-application records were there. Give the record buffer back: an idle
      // connection should hold none (SSL_free_buffers refuses if anything is still pending).
      SSL_free_buffers(ssl_);
      waiting_for_socket = true;
      continue;
    }
    if (ssl_error != SSL_ERROR_ZERO_RETURN) fatal_ = true;
    ERR_clear_error();
    return IdleHealth::closed_by_peer;
  }
}

IdleHealth SecureChannel::health_behind_tls_preface() noexcept {
  // OpenSSL reads one record at a time, so whatever came after the preface's record is still in
  // the receive block or the socket: a GOAWAY, a close_notify (a server closing an idle
  // connection) or the FIN make the connection stale.
  if (received_ && received_->available() != 0) return IdleHealth::unexpected_data;
  for (;;) {
    char byte = 0;
    const ssize_t peeked = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (peeked > 0) return IdleHealth::unexpected_data;
    if (peeked == 0) return IdleHealth::closed_by_peer;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? IdleHealth::healthy : IdleHealth::closed_by_peer;
  }
}

bool SecureChannel::has_buffered_input() const noexcept { return ssl_ && SSL_pending(ssl_) > 0; }

bool SecureChannel::has_unprocessed_input() const noexcept {
  return (received_ && received_->available() != 0) || (ssl_ && SSL_has_pending(ssl_) == 1);
}

bool SecureChannel::emptied_by_last_read() const noexcept {
  // TLS: what must_receive_first() asks, a close_notify or an alert processed with the reply
  // included. A plain channel's FIN ends its receive with eof, which never sets the mark.
  return emptied_by_last_read_ && (plain() ? usable() : must_receive_first());
}

bool SecureChannel::must_receive_first() const noexcept {
  // A plain read receives into the caller's buffer itself (step_plain_read).
  return !plain() && usable() && !input_closed_ && !has_unprocessed_input() && SSL_get_shutdown(ssl_) == 0;
}

asio::mutable_buffer SecureChannel::prepare_receive() {
  if (!received_) received_ = std::make_unique_for_overwrite<detail::ReceivedBytes>();  // no 17 KB memset
  // OpenSSL asks for more only once it has taken every byte here, so the block is empty: start
  // at its beginning.
  if (received_->available() == 0) received_->begin = received_->end = 0;
  receive_pending_ = true;
  return asio::buffer(received_->bytes + received_->end, detail::ReceivedBytes::capacity - received_->end);
}

void SecureChannel::commit_receive(const boost::system::error_code& error, std::size_t bytes) noexcept {
  receive_pending_ = false;
  if (!received_) return;  // reconnected meanwhile (prepare_tls dropped the block)
  // Offered all the room after the old end: fewer bytes mean the socket had no more then.
  emptied_by_last_read_ = !error && received_->end + bytes < detail::ReceivedBytes::capacity;
  received_->end += bytes;
  if (error == asio::error::eof) input_closed_ = true;
  if (received_->available() == 0 && !warm_) received_.reset();
}

void SecureChannel::set_warm(bool warm) noexcept {
  if (warm && warm_) return;  // every lease asks; cooling is retried, as its free may have been refused
  warm_ = warm;
  if (!ssl_) return;
  if (warm) {
    SSL_clear_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
    return;
  }
  SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
  SSL_free_buffers(ssl_);  // refuses, and keeps them, while they still hold unprocessed bytes
  if (received_ && received_->available() == 0 && !receive_pending_) received_.reset();
}

TlsFailure& SecureChannel::failure() {
  if (!failure_) failure_ = std::make_unique<detail::ChannelFailure>();
  return *failure_;
}

const TlsFailure& SecureChannel::tls_failure() const noexcept {
  static const TlsFailure none;
  return failure_ ? *failure_ : none;
}

bool SecureChannel::resumed_session() const noexcept { return ssl_ && established_ && SSL_session_reused(ssl_) == 1; }

std::string_view SecureChannel::negotiated_alpn() const noexcept {
  if (plain()) return context_->options().http2_prior_knowledge ? "h2" : "";
  if (!ssl_) return {};
  const unsigned char* protocol = nullptr;
  unsigned length = 0;
  SSL_get0_alpn_selected(ssl_, &protocol, &length);
  return {reinterpret_cast<const char*>(protocol), length};
}

std::string_view SecureChannel::negotiated_protocol_version() const noexcept {
  return ssl_ && established_ ? SSL_get_version(ssl_) : "";
}

}  // namespace securechannel
