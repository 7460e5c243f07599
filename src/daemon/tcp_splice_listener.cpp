#include "daemon/tcp_splice_listener.hpp"

#include "daemon/daemon_log.hpp"
#include "securechannel/error.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <array>
#include <atomic>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace securechannel::daemon {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// After an accept error (EMFILE when the process is out of descriptors, ENOBUFS, ...) the
// acceptor would fail again at once: pause instead of spinning.
constexpr std::chrono::milliseconds accept_retry_delay{100};

// One TLS record's worth of plaintext per direction: a full buffer becomes one record upstream,
// and a connection's memory stays fixed however fast one side sends and slowly the other reads.
constexpr std::size_t splice_buffer_bytes = 16 * 1024;

}  // namespace

class SpliceConnection;

// What the connections of one listener share. Lives as long as the listener or its last connection.
struct SpliceContext {
  SpliceContext(TcpSpliceOptions listener_options, std::shared_ptr<SecureChannelPool> upstream_pool)
      : options(std::move(listener_options)),
        pool(std::move(upstream_pool)),
        pool_name(pool->config().metric_namespace) {}

  // Tracked weakly so that a drain can reach them; each connection forgets itself when destroyed.
  void track(const std::shared_ptr<SpliceConnection>& connection) {
    std::lock_guard lock(mutex_);
    connections_.emplace(connection.get(), connection);
  }
  void forget(const SpliceConnection* connection) {
    std::lock_guard lock(mutex_);
    connections_.erase(connection);
  }
  void close_all();
  // A connection's local socket closed: its slot is free. The listener resumes accepting (or
  // finishes a drain).
  void release_slot() {
    open_connections.fetch_sub(1);
    if (slot_released) slot_released();
  }

  const TcpSpliceOptions options;
  const std::shared_ptr<SecureChannelPool> pool;
  const std::string pool_name;  // the pool's metric namespace, for the log
  // Set by the listener before it accepts anything; called after every release_slot().
  std::function<void()> slot_released;

  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::size_t> open_connections{0};  // the listener checks it against max_connections
  std::atomic<std::uint64_t> accept_pauses{0};
  std::atomic<std::uint64_t> acquire_failures{0};
  std::atomic<std::uint64_t> bytes_to_upstream{0};
  std::atomic<std::uint64_t> bytes_from_upstream{0};

 private:
  std::mutex mutex_;
  std::unordered_map<const SpliceConnection*, std::weak_ptr<SpliceConnection>> connections_;
};

// One local connection: a lease acquired for it, then two pumps (local → upstream and upstream →
// local), each reading into its own fixed buffer only once the previous bytes are written, so
// that a slow reader on one side slows the sender on the other instead of growing a buffer.
// Everything runs on the connection's strand (the accepted socket's executor), the TLS steps
// of the lease's reads and writes too (they run on the handler's executor).
class SpliceConnection : public std::enable_shared_from_this<SpliceConnection> {
 public:
  SpliceConnection(tcp::socket socket, std::shared_ptr<SpliceContext> context)
      : local_(std::move(socket)), idle_timer_(local_.get_executor()), context_(std::move(context)) {
    error_code ignored;
    const tcp::endpoint peer = local_.remote_endpoint(ignored);
    peer_ = fmt::format("{}:{}", peer.address().to_string(), peer.port());
  }
  ~SpliceConnection() { context_->forget(this); }
  SpliceConnection(const SpliceConnection&) = delete;
  SpliceConnection& operator=(const SpliceConnection&) = delete;

  void start() {
    context_->pool->async_acquire(
        asio::bind_executor(local_.get_executor(), [self = shared_from_this()](const error_code& error, Lease lease) {
          self->on_acquired(error, std::move(lease));
        }));
  }

  // From any thread: closes the connection now, on its strand.
  void close() {
    asio::dispatch(local_.get_executor(), [self = shared_from_this()] { self->finish("closed by drain"); });
  }

 private:
  enum class State {
    acquiring,  // waiting for the pool's lease; nothing is read from the local client yet
    splicing,   // bytes flow; each direction ends on its own (the *_open_ flags)
    closed,     // local socket closed and lease given up; late handlers only unwind
  };

  template <class Handler>
  auto on_strand(Handler handler) {
    return asio::bind_executor(local_.get_executor(), std::move(handler));
  }

  void on_acquired(const error_code& error, Lease lease) {
    if (state_ != State::acquiring) return;  // closed by a drain meanwhile; the unused lease goes back clean
    if (error) {
      context_->acquire_failures.fetch_add(1, std::memory_order_relaxed);
      // A connect made for this acquire failed: its description names the error and keeps
      // OpenSSL's reason ("certificate_verify_failed: ... hostname mismatch").
      const ConnectFailure failure = context_->pool->last_connect_failure();
      const std::string cause = failure.error == error ? failure.describe() : std::string(error_kind(error));
      return finish(fmt::format("no upstream connection: {}", cause), spdlog::level::warn);
    }
    lease_ = std::move(lease);
    upstream_id_ = lease_.connection_id();
    state_ = State::splicing;
    log_connection(spdlog::level::debug, context_->pool_name, upstream_id_,
                   fmt::format("tcp splice from {} opened", peer_));
    touch();
    arm_idle_timer(context_->options.limits.idle_timeout);
    pump(local_, lease_, Direction::to_upstream);
    pump(lease_, local_, Direction::from_upstream);
  }

  enum class Direction { to_upstream, from_upstream };

  std::array<char, splice_buffer_bytes>& buffer(Direction direction) noexcept {
    return direction == Direction::to_upstream ? to_upstream_buffer_ : from_upstream_buffer_;
  }

  // One direction's pump: read into its buffer, write all of it, read again. `source` and `sink`
  // are members (the local socket, the lease), kept alive by `self`.
  template <class Source, class Sink>
  void pump(Source& source, Sink& sink, Direction direction) {
    source.async_read_some(
        asio::buffer(buffer(direction)),
        on_strand([self = shared_from_this(), &source, &sink, direction](const error_code& error, std::size_t size) {
          if (self->state_ != State::splicing) return;
          if (error) return self->on_read_end(direction, error);
          self->touch();
          asio::async_write(sink, asio::buffer(self->buffer(direction).data(), size),
                            self->on_strand([self, &source, &sink, direction](const error_code& write_error,
                                                                               std::size_t written) {
                              if (self->state_ != State::splicing) return;
                              self->count(direction, written);
                              if (write_error) return self->on_write_failed(direction, write_error);
                              self->touch();
                              self->pump(source, sink, direction);
                            }));
        }));
  }

  void on_read_end(Direction direction, const error_code& error) {
    if (direction == Direction::from_upstream) return on_upstream_closed(error);
    if (error != asio::error::eof) return finish(fmt::format("local read failed: {}", error.message()));
    // TLS on a pooled connection cannot carry a half-close (close_notify ends it for most
    // servers), so the local FIN stops here: the upstream's reply is still carried until it
    // closes or the idle deadline passes.
    to_upstream_open_ = false;
    if (!from_upstream_open_) finish("closed by both sides");
  }

  void on_write_failed(Direction direction, const error_code& error) {
    if (direction == Direction::from_upstream) return finish(fmt::format("local write failed: {}", error.message()));
    // The TLS connection is dead; its read side finds out on its own (or the idle deadline ends
    // it), so that a reply already on its way still reaches the local client.
    to_upstream_open_ = false;
    if (!from_upstream_open_) finish(fmt::format("upstream write failed: {}", error_kind(error)));
  }

  void on_upstream_closed(const error_code& error) {
    from_upstream_open_ = false;
    // Everything read from the upstream has been written (a read starts only after the previous
    // write completed), so the FIN goes out after the last byte.
    error_code ignored;
    local_.shutdown(tcp::socket::shutdown_send, ignored);
    // eof is a close_notify; connection_closed a close without one, which is how many servers
    // end a connection: neither is a failure of ours to warn about.
    const bool clean = error == asio::error::eof || error == errc::connection_closed;
    if (!clean) {
      return finish(fmt::format("upstream read failed: {}", error_kind(error)), spdlog::level::warn);
    }
    // Bytes the local client still sends have nowhere to go (writing them fails, which ends
    // that direction); its FIN or the idle deadline closes the connection.
    if (!to_upstream_open_) finish("closed by both sides");
  }

  void touch() noexcept { last_activity_ = std::chrono::steady_clock::now(); }

  void count(Direction direction, std::size_t size) noexcept {
    const bool up = direction == Direction::to_upstream;
    (up ? bytes_to_upstream_ : bytes_from_upstream_) += size;
    (up ? context_->bytes_to_upstream : context_->bytes_from_upstream).fetch_add(size, std::memory_order_relaxed);
  }

  // One timer for both directions, re-armed from the last activity when it fires rather than
  // on every transfer: a busy splice costs no timer cancellation per read.
  void arm_idle_timer(std::chrono::steady_clock::duration after) {
    idle_timer_.expires_after(after);
    idle_timer_.async_wait(on_strand([self = shared_from_this()](const error_code& error) {
      if (error || self->state_ != State::splicing) return;
      const auto deadline = self->last_activity_ + self->context_->options.limits.idle_timeout;
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return self->finish("idle timeout");
      self->arm_idle_timer(deadline - now);
    }));
  }

  void finish(std::string_view reason, spdlog::level::level_enum level = spdlog::level::debug) {
    if (state_ == State::closed) return;
    state_ = State::closed;
    idle_timer_.cancel();
    if (lease_) {
      // Never back into the pool: a byte stream says nothing about whether the protocol on top
      // left the connection clean (a reply half read, a subscription still open), and the next
      // local client would read what was meant for this one. The pool's min_idle warm-up opens
      // a replacement. Pending reads and writes end as the pool aborts the connection.
      lease_.mark_broken();
      lease_.release();
    }
    error_code ignored;
    local_.close(ignored);
    log_connection(level, context_->pool_name, upstream_id_,
                   fmt::format("tcp splice from {} closed ({}): {} bytes to upstream, {} from upstream", peer_,
                               reason, bytes_to_upstream_, bytes_from_upstream_));
    context_->release_slot();
  }

  tcp::socket local_;
  asio::steady_timer idle_timer_;
  std::shared_ptr<SpliceContext> context_;
  Lease lease_;
  State state_ = State::acquiring;
  bool to_upstream_open_ = true;    // the local client has not sent its FIN, and upstream writes work
  bool from_upstream_open_ = true;  // the upstream has not closed
  std::uint64_t upstream_id_ = 0;   // the lease's connection id, kept for the log after release
  std::uint64_t bytes_to_upstream_ = 0;
  std::uint64_t bytes_from_upstream_ = 0;
  std::chrono::steady_clock::time_point last_activity_{};
  std::string peer_;
  std::array<char, splice_buffer_bytes> to_upstream_buffer_;
  std::array<char, splice_buffer_bytes> from_upstream_buffer_;
};

void SpliceContext::close_all() {
  std::vector<std::shared_ptr<SpliceConnection>> open;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, weak] : connections_) {
      if (auto connection = weak.lock()) open.push_back(std::move(connection));
    }
  }
  // Outside the lock: close() dispatches, which may run the close (and its forget()) inline.
  for (const auto& connection : open) connection->close();
}

std::shared_ptr<TcpSpliceListener> TcpSpliceListener::create(executor_type executor, TcpSpliceOptions options,
                                                             std::shared_ptr<SecureChannelPool> pool,
                                                             error_code& error) {
  error.clear();
  if (!pool || options.limits.max_connections == 0 || options.limits.idle_timeout.count() <= 0) {
    error = make_error_code(boost::system::errc::invalid_argument);
    return nullptr;
  }
  const auto address = asio::ip::make_address(options.host, error);
  if (error) return nullptr;
  const tcp::endpoint endpoint(address, options.port);
  auto listener =
      std::make_shared<TcpSpliceListener>(PrivateTag{}, std::move(executor), std::move(options), std::move(pool));
  listener->context_->slot_released = [weak = std::weak_ptr<TcpSpliceListener>(listener)] {
    if (auto live = weak.lock()) asio::dispatch(live->strand_, [live] { live->on_slot_released(); });
  };
  error = listener->listen(endpoint);
  if (error) return nullptr;
  return listener;
}

TcpSpliceListener::TcpSpliceListener(PrivateTag, executor_type executor, TcpSpliceOptions options,
                                     std::shared_ptr<SecureChannelPool> pool)
    : executor_(std::move(executor)),
      strand_(asio::make_strand(executor_)),
      acceptor_(strand_),
      accept_retry_(strand_),
      drain_deadline_(strand_),
      context_(std::make_shared<SpliceContext>(std::move(options), std::move(pool))) {}

TcpSpliceListener::~TcpSpliceListener() = default;

error_code TcpSpliceListener::listen(const tcp::endpoint& endpoint) {
  error_code error;
  acceptor_.open(endpoint.protocol(), error);
  if (error) return error;
  // Lets a restarted daemon bind while connections of the previous one sit in TIME_WAIT; on
  // Linux it does not let two listeners share a port, so address_in_use is still reported.
  acceptor_.set_option(tcp::acceptor::reuse_address(true), error);
  if (error) return error;
  acceptor_.bind(endpoint, error);
  if (error) return error;
  acceptor_.listen(tcp::socket::max_listen_connections, error);
  if (error) return error;
  local_endpoint_ = acceptor_.local_endpoint(error);
  return error;
}

void TcpSpliceListener::start() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->stopped_ || self->accepting_) return;
    self->accepting_ = true;
    self->accept_next();
  });
}

void TcpSpliceListener::stop_accepting() {
  asio::dispatch(strand_, [self = shared_from_this()] { self->stop_accepting_on_strand(); });
}

void TcpSpliceListener::stop_accepting_on_strand() {
  if (stopped_) return;
  stopped_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
}

void TcpSpliceListener::async_drain(std::chrono::milliseconds grace, std::function<void()> done) {
  asio::dispatch(strand_, [self = shared_from_this(), grace, done = std::move(done)]() mutable {
    self->stop_accepting_on_strand();
    self->drain_done_.push_back(std::move(done));
    if (!self->draining_) {
      // A splice has no message boundary at which to end it early: it runs until a side closes
      // or the grace is over.
      self->draining_ = true;
      self->drain_deadline_.expires_after(grace);
      self->drain_deadline_.async_wait([self](const error_code& error) {
        if (!error && self->draining_) self->context_->close_all();
      });
    }
    // Posted, never inline: `done` must not run inside async_drain, even with nothing open.
    asio::post(self->strand_, [self] { self->finish_drain_if_empty(); });
  });
}

void TcpSpliceListener::finish_drain_if_empty() {
  if (!draining_ || context_->open_connections.load() > 0) return;
  drain_deadline_.cancel();
  std::vector<std::function<void()>> done;
  done.swap(drain_done_);
  for (auto& callback : done) {
    if (callback) asio::post(executor_, std::move(callback));
  }
}

void TcpSpliceListener::accept_next() {
  // Each connection gets a strand of its own: its handlers never run concurrently, yet different
  // connections proceed in parallel on a multi-threaded io_context.
  acceptor_.async_accept(asio::make_strand(executor_),
                         [self = shared_from_this()](const error_code& error, tcp::socket socket) {
                           self->on_accept(error, std::move(socket));
                         });
}

void TcpSpliceListener::on_accept(const error_code& error, tcp::socket socket) {
  if (stopped_) return;  // `socket`, if any, closes as it goes out of scope
  if (error) {
    log_pool(spdlog::level::warn, context_->pool_name, 0,
             fmt::format("tcp listener on port {}: accept failed: {}", local_endpoint_.port(), error.message()));
    accept_retry_.expires_after(accept_retry_delay);
    accept_retry_.async_wait([self = shared_from_this()](const error_code& wait_error) {
      if (!wait_error && !self->stopped_) self->accept_next();
    });
    return;
  }
  // Only this strand adds to open_connections, and accepting stops at the cap (below), so every
  // accepted connection has a slot.
  context_->open_connections.fetch_add(1);
  context_->connections_accepted.fetch_add(1, std::memory_order_relaxed);
  auto connection = std::make_shared<SpliceConnection>(std::move(socket), context_);
  context_->track(connection);
  connection->start();
  if (context_->open_connections.load() >= context_->options.limits.max_connections) {
    // At the cap, stop accepting rather than accept to refuse: further clients wait in the
    // kernel's backlog, holding none of this process's descriptors (which the pool's upstream
    // connections need), until a connection closes.
    accept_paused_ = true;
    context_->accept_pauses.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  accept_next();
}

void TcpSpliceListener::on_slot_released() {
  if (draining_) return finish_drain_if_empty();
  if (!accept_paused_ || stopped_ || context_->open_connections.load() >= context_->options.limits.max_connections) {
    return;
  }
  accept_paused_ = false;
  accept_next();
}

TcpSpliceStats TcpSpliceListener::stats() const noexcept {
  constexpr auto relaxed = std::memory_order_relaxed;
  TcpSpliceStats stats;
  stats.connections_accepted = context_->connections_accepted.load(relaxed);
  stats.active_connections = context_->open_connections.load(relaxed);
  stats.accept_pauses = context_->accept_pauses.load(relaxed);
  stats.acquire_failures = context_->acquire_failures.load(relaxed);
  stats.bytes_to_upstream = context_->bytes_to_upstream.load(relaxed);
  stats.bytes_from_upstream = context_->bytes_from_upstream.load(relaxed);
  return stats;
}

}  // namespace securechannel::daemon
