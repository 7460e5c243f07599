// The plain half of SecureChannel (a context with TLS off, http:// upstreams): the same steps as
// tls_stream.cpp's, over recv(2) and send(2) on the non-blocking socket, so that a plain
// connection goes through the same composed operations, pool and HTTP code as a TLS one.
#include "channel/channel_failure.hpp"
#include "channel/http2_server_preface.hpp"
#include "securechannel/secure_channel.hpp"

#include <boost/asio/error.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

namespace securechannel {

boost::system::error_code SecureChannel::plain_failure(int error_number) noexcept {
  fatal_ = true;
  const boost::system::error_code cause(error_number, boost::system::system_category());
  failure();
  if (!failure_->cause) {
    failure_->cause = cause;
    failure_->reason = cause.message();
  }
  return failure_->cause;
}

detail::TlsStep SecureChannel::step_plain_read(void* data, std::size_t size, std::size_t& transferred,
                                               boost::system::error_code& error) noexcept {
  for (;;) {
    const ssize_t received = ::recv(socket_.native_handle(), data, size, MSG_DONTWAIT);
    emptied_by_last_read_ = received > 0 && static_cast<std::size_t>(received) < size;
    if (received > 0) {
      transferred = static_cast<std::size_t>(received);
      return detail::TlsStep::done;
    }
    if (received == 0) {
      // A FIN is the only end a plain stream has: spelled as Asio's streams spell it.
      error = boost::asio::error::eof;
      return detail::TlsStep::failed;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return detail::TlsStep::want_read;
    error = plain_failure(errno);
    return detail::TlsStep::failed;
  }
}

detail::TlsStep SecureChannel::step_plain_write(const void* data, std::size_t size, std::size_t& transferred,
                                                boost::system::error_code& error) noexcept {
  for (;;) {
    // MSG_NOSIGNAL: a peer gone away is EPIPE here, not a SIGPIPE that ends the process.
    const ssize_t sent = ::send(socket_.native_handle(), data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent >= 0) {
      transferred = static_cast<std::size_t>(sent);
      return detail::TlsStep::done;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return detail::TlsStep::want_write;
    error = plain_failure(errno);
    return detail::TlsStep::failed;
  }
}

IdleHealth SecureChannel::probe_plain_idle(bool never_used) noexcept {
  for (;;) {
    unsigned char waiting[detail::http2_preface_peek_bytes];
    const ssize_t peeked = ::recv(socket_.native_handle(), waiting, sizeof waiting, MSG_PEEK | MSG_DONTWAIT);
    if (peeked > 0) {
      // No record layer: any byte is the peer's data, an h2c server's preface the only one expected
      // (a frame after it within the peek, a GOAWAY, fails the check). A peek cannot see a FIN
      // behind bytes left unread; the TCP state can.
      if (!never_used ||
          !detail::idle_bytes_expected(negotiated_alpn(), {waiting, static_cast<std::size_t>(peeked)})) {
        return IdleHealth::unexpected_data;
      }
      tcp_info info{};
      socklen_t length = sizeof info;
      if (::getsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &length) != 0) {
        return IdleHealth::closed_by_peer;
      }
      return info.tcpi_state == TCP_ESTABLISHED ? IdleHealth::healthy : IdleHealth::closed_by_peer;
    }
    if (peeked == 0) return IdleHealth::closed_by_peer;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? IdleHealth::healthy : IdleHealth::closed_by_peer;
  }
}

}  // namespace securechannel
