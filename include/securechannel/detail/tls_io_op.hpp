// The composed operation behind every read and write on a TLS connection: it calls OpenSSL on the
// non-blocking socket and, when OpenSSL wants to read or write, waits for readiness with Asio and
// tries again. OpenSSL owns no buffer while the connection is idle (SSL_MODE_RELEASE_BUFFERS),
// which is why this exists instead of asio::ssl::stream and its fixed 17 KB buffers.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <utility>

namespace securechannel::detail {

// What one call into OpenSSL achieved.
enum class TlsStep {
  done,        // the call finished: bytes moved, or the handshake/shutdown completed
  want_read,   // OpenSSL needs the socket to become readable first
  want_write,  // OpenSSL needs the socket to become writable first
  failed,      // a final error; see the error_code
};

enum class IoDirection { read, write };

// Owner is a pointer-like handle whose target has channel() (a SecureChannel) and
// on_io_complete(direction, ec, bytes). A Lease passes a shared_ptr so that the connection
// lives as long as the operation; a bare SecureChannel passes itself (Asio's usual rule: the
// stream must outlive its operations).
template <class Owner>
struct TlsIoOp {
  TlsIoOp(Owner owner_handle, IoDirection io_direction, void* buffer_data, std::size_t buffer_size)
      : owner(std::move(owner_handle)), direction(io_direction), data(buffer_data), size(buffer_size) {}

  Owner owner;
  IoDirection direction;
  void* data;
  std::size_t size;
  bool started = false;
  bool completing = false;
  boost::system::error_code result_error;
  std::size_t result_size = 0;

  template <class Self>
  void operator()(Self& self, boost::system::error_code wait_error = {}) {
    if (completing) return finish(self);
    if (!started) owner->on_io_start(direction);
    if (wait_error) {
      // The wait was cancelled or the socket closed under us: report it as it is.
      result_error = wait_error;
      result_size = 0;
      return finish(self);
    }
    auto& channel = owner->channel();
    std::size_t transferred = 0;
    boost::system::error_code error;
    const TlsStep step = direction == IoDirection::read ? channel.step_read(data, size, transferred, error)
                                                        : channel.step_write(data, size, transferred, error);
    switch (step) {
      case TlsStep::want_read:
        started = true;
        channel.socket().async_wait(boost::asio::socket_base::wait_read, std::move(self));
        return;
      case TlsStep::want_write:
        started = true;
        channel.socket().async_wait(boost::asio::socket_base::wait_write, std::move(self));
        return;
      case TlsStep::done:
      case TlsStep::failed:
        result_error = error;
        result_size = transferred;
        if (!started) {
          // Completed inside the initiating function: post, so the handler is never invoked inline.
          started = true;
          completing = true;
          boost::asio::post(std::move(self));
          return;
        }
        return finish(self);
    }
  }

 private:
  template <class Self>
  void finish(Self& self) {
    owner->on_io_complete(direction, result_error, result_size);
    self.complete(result_error, result_size);
  }
};

// The first non-empty buffer of a sequence: TLS records are written and read one buffer at a
// time, and the usual algorithms (async_write, async_read) loop over the rest.
template <class Buffer, class BufferSequence>
Buffer first_non_empty_buffer(const BufferSequence& buffers) {
  for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
    Buffer buffer(*it);
    if (buffer.size() != 0) return buffer;
  }
  return Buffer();
}

}  // namespace securechannel::detail
