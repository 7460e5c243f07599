#include "securechannel/lease.hpp"

#include "securechannel/secure_channel_pool.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/system_executor.hpp>

#include <utility>

namespace securechannel {

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::move(other.pool_);
    connection_ = std::exchange(other.connection_, nullptr);
    reused_ = other.reused_;
    affinity_ = other.affinity_;
  }
  return *this;
}

std::size_t Lease::write_some_now(boost::asio::const_buffer bytes, boost::system::error_code& error) noexcept {
  error = {};
  if (!connection_) {
    error = boost::asio::error::not_connected;
    return 0;
  }
  // The same bookkeeping as an operation that completed at once (TlsIoOp).
  connection_->on_io_start(detail::IoDirection::write);
  std::size_t written = 0;
  const detail::TlsStep step = detail::TlsSteps::write(connection_->channel(), bytes.data(), bytes.size(), written, error);
  if (step == detail::TlsStep::want_read || step == detail::TlsStep::want_write) written = 0;
  connection_->on_io_complete(detail::IoDirection::write, error, written);
  return written;
}

void Lease::start_wait_readable(WaitHandler handler) {
  namespace asio = boost::asio;
  if (!connection_) {
    return asio::post(asio::system_executor(),
                      asio::append(std::move(handler), boost::system::error_code(asio::error::not_connected)));
  }
  std::shared_ptr<detail::PooledConnection> connection = connection_->shared_from_this();
  SecureChannel& channel = connection->channel();
  // A plain connection holds no bytes of its own (must_receive_first() is false for it only
  // because its reads receive themselves): while it is usable, only the socket can tell.
  if (!channel.must_receive_first() && !(channel.plain() && channel.usable())) {
    // OpenSSL holds bytes a read will process without the socket: nothing to wait for.
    return asio::post(channel.get_executor(), asio::append(std::move(handler), boost::system::error_code()));
  }
  // The wait completes on the handler's executor (an HTTP/2 session's strand) directly.
  const auto executor = asio::get_associated_executor(handler, channel.get_executor());
  connection->on_io_start(detail::IoDirection::read);
  channel.socket().async_wait(
      asio::socket_base::wait_read,
      asio::bind_executor(executor, [connection, handler = std::move(handler)](boost::system::error_code error) mutable {
        detail::TlsSteps::note_socket_emptied(connection->channel(), false);  // bytes came, or an error
        connection->on_io_complete(detail::IoDirection::read, error, 0);
        std::move(handler)(error);
      }));
}

void Lease::mark_broken() noexcept {
  if (connection_) connection_->mark_broken();
}

void Lease::abort() noexcept {
  if (connection_) connection_->channel().abort();
}

void Lease::on_retire(std::function<void()> listener) {
  if (!connection_ || !listener) return;
  pool_->watch_retire(*connection_, [listener = std::move(listener)](detail::RetireReason) { listener(); });
}

void Lease::release() noexcept {
  if (!connection_) return;
  auto pool = std::move(pool_);
  pool->release(*std::exchange(connection_, nullptr));
}

}  // namespace securechannel
