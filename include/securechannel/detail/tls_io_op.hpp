// The composed operation behind every read and write on a TLS (or plain) connection: it calls
// OpenSSL (recv/send on a plain one) and, when OpenSSL wants more input, receives it with Asio
// (reads; see ReceivedBytes), or waits for readiness (a full socket buffer), and tries again. OpenSSL owns no buffer while the connection
// is idle (SSL_MODE_RELEASE_BUFFERS), which is why this exists instead of asio::ssl::stream and
// its fixed 17 KB buffers. async_tls_io starts one (TlsIoHandler drives it).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/error_code.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
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

// The steps of OpenSSL work a SecureChannel takes for the composed operations, kept out of its
// public interface: they are only correct in the order these operations call them.
struct TlsSteps {
  template <class Channel>
  static TlsStep read(Channel& channel, void* data, std::size_t size, std::size_t& transferred,
                      boost::system::error_code& error) noexcept {
    return channel.step_read(data, size, transferred, error);
  }
  template <class Channel>
  static TlsStep write(Channel& channel, const void* data, std::size_t size, std::size_t& transferred,
                       boost::system::error_code& error) noexcept {
    return channel.step_write(data, size, transferred, error);
  }
  template <class Channel>
  static boost::asio::mutable_buffer prepare_receive(Channel& channel) {
    return channel.prepare_receive();
  }
  template <class Channel>
  static void commit_receive(Channel& channel, const boost::system::error_code& error, std::size_t bytes) noexcept {
    channel.commit_receive(error, bytes);
  }
  // What a receive outside commit_receive tells of the socket (emptied_by_last_read): a plain
  // receive that came back short emptied it; a completed readiness wait means bytes came.
  template <class Channel>
  static void note_socket_emptied(Channel& channel, bool emptied) noexcept {
    channel.note_socket_emptied(emptied);
  }
  // A plain connection's receive into the caller's buffer failed: the channel records it as
  // its recv(2) step would. A cancellation is reported as it is; after abort() (whose shutdown
  // reads as an end of stream) the channel's own error, never a clean eof; the peer's FIN is eof.
  template <class Channel>
  static boost::system::error_code plain_receive_failed(Channel& channel, const boost::system::error_code& error) noexcept {
    if (error == boost::asio::error::operation_aborted) return error;
    if (!channel.usable()) return channel.unusable_error();
    if (error == boost::asio::error::eof || error.category() != boost::system::system_category()) return error;
    return channel.plain_failure(error.value());
  }
  template <class Owner>
  static void on_io_start(Owner& owner, IoDirection direction) noexcept {
    owner.on_io_start(direction);
  }
  template <class Owner>
  static void on_io_complete(Owner& owner, IoDirection direction, const boost::system::error_code& error,
                             std::size_t bytes) noexcept {
    owner.on_io_complete(direction, error, bytes);
  }
};

// Owner is a pointer-like handle whose target has channel() (a SecureChannel) and
// on_io_complete(direction, ec, bytes). A Lease passes a shared_ptr so that the connection
// lives as long as the operation; a bare SecureChannel passes itself (Asio's usual rule: the
// stream must outlive its operations).
template <class Owner>
struct TlsIoOp {
  TlsIoOp(Owner owner_handle, IoDirection io_direction, void* buffer_data, std::size_t buffer_size,
          std::unique_ptr<char[]> gathered_bytes = nullptr)
      : owner(std::move(owner_handle)), direction(io_direction), data(buffer_data), size(buffer_size),
        gathered(std::move(gathered_bytes)) {}

  Owner owner;
  IoDirection direction;
  void* data;
  std::size_t size;
  std::unique_ptr<char[]> gathered;  // owns `data` when a write gathered several buffers
  bool started = false;
  bool completing = false;
  boost::system::error_code result_error;
  std::size_t result_size = 0;

  template <class Self>
  void operator()(Self& self, boost::system::error_code wait_error = {}) {
    if (completing) return finish(self);
    if (!started) TlsSteps::on_io_start(*owner, direction);
    if (wait_error) {
      // The wait was cancelled or the socket closed under us: report it as it is.
      result_error = wait_error;
      result_size = 0;
      return finish(self);
    }
    auto& channel = owner->channel();
    if (direction == IoDirection::read && !started && size != 0) {
      if (channel.plain() && channel.usable()) {
        // Straight into the caller's buffer: Asio tries recv(2) at once and otherwise waits on
        // the descriptor's standing epoll registration (waiting for readiness first, async_wait,
        // costs an epoll_ctl per read).
        started = true;
        channel.socket().async_receive(boost::asio::buffer(data, size), std::move(self));
        return;
      }
      if (channel.must_receive_first()) {
        started = true;
        channel.socket().async_receive(TlsSteps::prepare_receive(channel), std::move(self));
        return;
      }
    }
    std::size_t transferred = 0;
    boost::system::error_code error;
    const TlsStep step = direction == IoDirection::read ? TlsSteps::read(channel, data, size, transferred, error)
                                                        : TlsSteps::write(channel, data, size, transferred, error);
    switch (step) {
      case TlsStep::want_read:
        started = true;
        // (A plain read receives first, above; a write's step may still want readiness.)
        if (direction == IoDirection::read && !channel.plain()) {
          channel.socket().async_receive(TlsSteps::prepare_receive(channel), std::move(self));
        } else {
          channel.socket().async_wait(boost::asio::socket_base::wait_read, std::move(self));
        }
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

  // A receive for OpenSSL completed (reads): hand the bytes over and let OpenSSL try again.
  template <class Self>
  void operator()(Self& self, boost::system::error_code receive_error, std::size_t received) {
    if (owner->channel().plain()) {
      // The bytes are already in the caller's buffer (a FIN is Asio's eof, as a stream spells it).
      TlsSteps::note_socket_emptied(owner->channel(), !receive_error && received < size);
      result_error = receive_error ? TlsSteps::plain_receive_failed(owner->channel(), receive_error) : receive_error;
      result_size = received;
      return finish(self);
    }
    TlsSteps::commit_receive(owner->channel(), receive_error, received);
    // End of stream goes to OpenSSL, which tells a close_notify from a cut connection; other
    // errors (reset, cancelled) end the operation as they are.
    if (receive_error && receive_error != boost::asio::error::eof) return (*this)(self, receive_error);
    (*this)(self);
  }

 private:
  template <class Self>
  void finish(Self& self) {
    TlsSteps::on_io_complete(*owner, direction, result_error, result_size);
    self.complete(result_error, result_size);
  }
};

// The intermediate handler that carries a TlsIoOp from one socket operation to the next and
// calls the caller's handler at the end: what asio::async_compose's composed_op does, without its
// work guard. That guard tracks outstanding work on the socket's type-erased executor and is
// moved with the operation at every step (about 1.4k instructions per read, a twentieth of an
// HTTP/1.1 request); it is not needed, because a socket operation is in flight at every step
// (Asio counts it as work, and tracks the caller's executor for it) and a step that completes at
// once is posted, which counts too.
template <class Owner, class Handler>
class TlsIoHandler {
 public:
  using executor_type = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;
  using allocator_type = boost::asio::associated_allocator_t<Handler, std::allocator<void>>;

  TlsIoHandler(TlsIoOp<Owner> op, Handler handler) : handler_(std::move(handler)), op_(std::move(op)) {}

  void operator()(boost::system::error_code wait_error = {}) { op_(*this, wait_error); }
  void operator()(boost::system::error_code error, std::size_t received) { op_(*this, error, received); }

  // TlsIoOp's `self.complete`.
  void complete(const boost::system::error_code& error, std::size_t size) { std::move(handler_)(error, size); }

  // The caller's executor, else the socket's (where a handler without one runs, and where a
  // step that completed at once is posted).
  executor_type get_executor() const noexcept {
    return boost::asio::get_associated_executor(handler_, op_.owner->channel().socket().get_executor());
  }
  allocator_type get_allocator() const noexcept { return boost::asio::get_associated_allocator(handler_); }
  const Handler& handler() const noexcept { return handler_; }

 private:
  Handler handler_;
  TlsIoOp<Owner> op_;
};

// Starts `op`; the token's handler gets void(error_code, std::size_t).
template <class Owner, class Token>
auto async_tls_io(TlsIoOp<Owner> op, Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
      [](auto handler, TlsIoOp<Owner> started) {
        TlsIoHandler<Owner, std::decay_t<decltype(handler)>>(std::move(started), std::move(handler))();
      },
      token, std::move(op));
}

// The first non-empty buffer of a sequence: TLS records are read one buffer at a time, and the
// usual algorithms (async_read) loop over the rest.
template <class Buffer, class BufferSequence>
Buffer first_non_empty_buffer(const BufferSequence& buffers) {
  for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
    Buffer buffer(*it);
    if (buffer.size() != 0) return buffer;
  }
  return Buffer();
}

// What one write step hands to OpenSSL.
struct WriteSource {
  boost::asio::const_buffer bytes;
  std::unique_ptr<char[]> gathered;  // set when `bytes` is a copy
};

// Each SSL_write makes at least one TLS record and one send(2). Beast serialises a request as a
// sequence of small buffers (start line, each header field, the blank line, the body), which
// written one by one would cost a record and a system call each and reach the server in pieces.
// So up to one record's worth (16 KB) of a multi-buffer sequence is copied into one block; a
// single buffer, or a first buffer of a record's size or more, goes out as it is.
template <class ConstBufferSequence>
WriteSource gather_for_write(const ConstBufferSequence& buffers) {
  constexpr std::size_t max_record_bytes = 16 * 1024;
  const auto begin = boost::asio::buffer_sequence_begin(buffers);
  const auto end = boost::asio::buffer_sequence_end(buffers);
  std::size_t total = 0;
  std::size_t non_empty = 0;
  boost::asio::const_buffer first;
  for (auto it = begin; it != end && total < max_record_bytes; ++it) {
    const boost::asio::const_buffer buffer(*it);
    if (buffer.size() == 0) continue;
    if (non_empty++ == 0) first = buffer;
    total += buffer.size();
  }
  if (non_empty <= 1 || first.size() >= max_record_bytes) return {first, nullptr};
  total = std::min(total, max_record_bytes);
  auto gathered = std::make_unique_for_overwrite<char[]>(total);
  std::size_t copied = 0;
  for (auto it = begin; it != end && copied < total; ++it) {
    const boost::asio::const_buffer buffer(*it);
    const std::size_t part = std::min(buffer.size(), total - copied);
    if (part != 0) std::memcpy(gathered.get() + copied, buffer.data(), part);
    copied += part;
  }
  return {boost::asio::const_buffer(gathered.get(), total), std::move(gathered)};
}

}  // namespace securechannel::detail

// The caller's other associated characteristics (cancellation slot, ...) are the operation's,
// as they are composed_op's.
template <template <typename, typename> class Associator, class Owner, class Handler, class DefaultCandidate>
struct boost::asio::associator<Associator, securechannel::detail::TlsIoHandler<Owner, Handler>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
  static typename Associator<Handler, DefaultCandidate>::type get(
      const securechannel::detail::TlsIoHandler<Owner, Handler>& h) noexcept {
    return Associator<Handler, DefaultCandidate>::get(h.handler());
  }
  static auto get(const securechannel::detail::TlsIoHandler<Owner, Handler>& h, const DefaultCandidate& c) noexcept
      -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler(), c)) {
    return Associator<Handler, DefaultCandidate>::get(h.handler(), c);
  }
};
