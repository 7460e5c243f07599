// A pooled connection on loan: move-only, and itself an Asio AsyncReadStream/AsyncWriteStream,
// so any Asio or Beast algorithm runs over it. Destroying it returns the connection to the pool;
// a lease that saw an I/O error, was marked broken, or still has unread bytes or a pending
// operation returns its connection as broken, and the pool closes it.
//
//   pool->async_acquire([](boost::system::error_code ec, securechannel::Lease lease) {
//     if (ec) return;
//     auto& stream = lease;  // use like a socket
//     boost::asio::async_write(stream, boost::asio::buffer(request), ...);
//   });
#pragma once

#include "securechannel/affinity.hpp"
#include "securechannel/detail/pooled_connection.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/compose.hpp>

#include <functional>
#include <memory>
#include <utility>

namespace securechannel {

class SecureChannelPool;
namespace detail {
struct LeaseInternals;
}

class Lease {
 public:
  using executor_type = boost::asio::any_io_executor;

  Lease() noexcept = default;
  Lease(Lease&& other) noexcept
      : pool_(std::move(other.pool_)),
        connection_(std::exchange(other.connection_, nullptr)),
        reused_(other.reused_),
        affinity_(other.affinity_) {}
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { release(); }

  explicit operator bool() const noexcept { return connection_ != nullptr; }

  executor_type get_executor() noexcept { return connection_->channel().get_executor(); }

  // Handler: void(boost::system::error_code, std::size_t). Errors mark the connection broken.
  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    const auto buffer = detail::first_non_empty_buffer<boost::asio::mutable_buffer>(buffers);
    return detail::async_tls_io(
        detail::TlsIoOp<std::shared_ptr<detail::PooledConnection>>{connection_->shared_from_this(),
                                                                   detail::IoDirection::read, buffer.data(),
                                                                   buffer.size()},
        std::forward<Token>(token));
  }

  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    auto source = detail::gather_for_write(buffers);
    return detail::async_tls_io(
        detail::TlsIoOp<std::shared_ptr<detail::PooledConnection>>{
            connection_->shared_from_this(), detail::IoDirection::write, const_cast<void*>(source.bytes.data()),
            source.bytes.size(), std::move(source.gathered)},
        std::forward<Token>(token));
  }

  // Completes when the connection has something for a read to process (bytes from the peer, its
  // end of stream, an error), without holding a buffer meanwhile: how a holder that listens on
  // an idle connection (an HTTP/2 session between streams) keeps no read buffer and no receive
  // block while it waits. At once when TLS already holds unprocessed input. Handler:
  // void(boost::system::error_code); an error marks the connection broken, as a read's would.
  // Counts as an operation in flight: the connection is not reused while it is pending.
  template <class Token>
  auto async_wait_readable(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) { start_wait_readable(WaitHandler(std::move(handler))); }, token);
  }

  // Writes what the connection takes at once, without waiting, and returns how many bytes that
  // was: 0 (and no error) when it would have to wait (a full socket buffer), which is the cue for
  // async_write_some with the same bytes. Errors as async_write_some's, and they mark the
  // connection broken. For protocols that want to send from inside a handler without paying for
  // a completion of their own; not thread-safe with other operations, like any write.
  std::size_t write_some_now(boost::asio::const_buffer bytes, boost::system::error_code& error) noexcept;

  // The protocol on top found the connection unusable (e.g. a malformed response): close it on
  // release instead of reusing it.
  void mark_broken() noexcept;
  // Cuts the connection now, from any thread, even while an operation is pending on another:
  // pending and later operations fail, and the lease returns it broken. For deadlines and
  // cancellation; the descriptor stays open until the pool closes it, so its number is never
  // reused under a pending operation.
  void abort() noexcept;
  // Returns the connection now; the lease is empty afterwards.
  void release() noexcept;
  // `listener` is called once, on any thread, when the pool wants this connection back: it has
  // passed max_lifetime or the latency threshold, its health score stayed below
  // health_recycle_below, reload_tls() replaced the material it was made with, or the pool is
  // shutting down. A holder that
  // keeps its lease for long (an HTTP/2 session) should then take nothing new, finish what it
  // has in flight and release the lease, which closes the connection. Called at once when the
  // pool wants it back already. One listener per lease; it must not block.
  void on_retire(std::function<void()> listener);

  std::uint64_t connection_id() const noexcept { return connection_ ? connection_->id() : 0; }
  // True when the connection had served an earlier lease (the pool reused it).
  bool reused() const noexcept { return reused_; }
  // Whether an acquire with an affinity key got the key's connection (affinity.hpp).
  AffinityOutcome affinity() const noexcept { return affinity_; }
  // What the connection negotiated (ALPN, TLS version, resumption) and why it failed. Read-only:
  // the pool decides when a connection closes (abort() cuts it).
  const SecureChannel& channel() const noexcept { return connection_->channel(); }
  ConnectionStats& stats() noexcept { return connection_->stats(); }

 private:
  using WaitHandler = boost::asio::any_completion_handler<void(boost::system::error_code)>;
  friend class SecureChannelPool;
  friend struct detail::LeaseInternals;

  void start_wait_readable(WaitHandler handler);
  Lease(std::shared_ptr<SecureChannelPool> pool, detail::PooledConnection& connection, bool reused,
        AffinityOutcome affinity) noexcept
      : pool_(std::move(pool)), connection_(&connection), reused_(reused), affinity_(affinity) {}

  // The pool reference keeps the pool, and with it the connection it lists, alive for as long as
  // the lease exists; a leased connection leaves the pool's list only when it comes back. So the
  // connection needs no reference count of its own on the acquire path (each pending I/O
  // operation takes one, see async_read_some).
  std::shared_ptr<SecureChannelPool> pool_;
  detail::PooledConnection* connection_ = nullptr;
  bool reused_ = false;
  AffinityOutcome affinity_ = AffinityOutcome::none;
};

}  // namespace securechannel
