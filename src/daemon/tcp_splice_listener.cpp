#include "daemon/tcp_splice_listener.hpp"

#include "core/weak_registry.hpp"
#include "daemon/daemon_log.hpp"
#include "daemon/live_settings.hpp"
#include "daemon/local_acceptor.hpp"
#include "daemon/upstream_group.hpp"
#include "pool/lease_internals.hpp"
#include "securechannel/error.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <array>
#include <atomic>
#include <utility>

namespace securechannel::daemon {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// One TLS record's worth of plaintext per direction: a full buffer becomes one record upstream,
// and a connection's memory stays fixed however fast one side sends and slowly the other reads.
constexpr std::size_t splice_buffer_bytes = 16 * 1024;

}  // namespace

class SpliceConnection;

// What the connections of one listener share. Lives as long as the listener or its last connection.
struct SpliceContext {
  SpliceContext(TcpSpliceOptions listener_options, std::shared_ptr<UpstreamGroup> group)
      : settings(std::move(listener_options)), upstreams(std::move(group)) {}

  void close_all();
  void drain_all();
  // A connection's local socket closed: its slot is free. The acceptor resumes accepting (or
  // finishes a drain).
  void release_slot() {
    if (auto live = acceptor.lock()) live->connection_closed();
  }

  // Limits and timeouts; a reload replaces them for connections accepted after it.
  LiveSettings<TcpSpliceOptions> settings;
  const std::shared_ptr<UpstreamGroup> upstreams;
  std::weak_ptr<LocalAcceptor> acceptor;  // set before anything is accepted
  std::atomic<std::uint64_t> acquire_failures{0};
  std::atomic<std::uint64_t> bytes_to_upstream{0};
  std::atomic<std::uint64_t> bytes_from_upstream{0};
  // Each connection adds itself when accepted and removes itself when destroyed.
  detail::WeakRegistry<SpliceConnection> connections;
};

// One local connection: a lease acquired for it, then two pumps (local → upstream and upstream →
// local), each reading into its own fixed buffer only once the previous bytes are written, so
// that a slow reader on one side slows the sender on the other instead of growing a buffer.
// Everything runs on the connection's strand (the accepted socket's executor), the TLS steps
// of the lease's reads and writes too (they run on the handler's executor).
class SpliceConnection : public std::enable_shared_from_this<SpliceConnection> {
 public:
  SpliceConnection(tcp::socket socket, std::shared_ptr<SpliceContext> context)
      : local_(std::move(socket)),
        idle_timer_(local_.get_executor()),
        context_(std::move(context)),
        options_(context_->settings.current()) {
    error_code ignored;
    const tcp::endpoint peer = local_.remote_endpoint(ignored);
    peer_ = fmt::format("{}:{}", peer.address().to_string(), peer.port());
  }
  ~SpliceConnection() { context_->connections.remove(this); }
  SpliceConnection(const SpliceConnection&) = delete;
  SpliceConnection& operator=(const SpliceConnection&) = delete;

  void start() {
    asio::dispatch(local_.get_executor(), [self = shared_from_this()] {
      if (self->state_ != State::acquiring) return;  // a drain closed it first
      self->pick_ = self->context_->upstreams->pick();
      if (!self->pick_) return self->on_no_upstream("no_endpoint");
      self->pick_.member->pool->async_acquire(asio::bind_executor(
          self->local_.get_executor(),
          [self](const error_code& error, Lease lease) { self->on_acquired(error, std::move(lease)); }));
    });
  }

  // From any thread: closes the connection now, on its strand.
  void close() {
    asio::dispatch(local_.get_executor(), [self = shared_from_this()] { self->finish("closed by drain"); });
  }

  // From any thread, at the start of a drain: a splice whose local client has already sent its
  // FIN waits only for an upstream that may never speak again, and one still waiting for its
  // lease has carried nothing: both close now. The others run on until the grace.
  void drain() {
    asio::dispatch(local_.get_executor(), [self = shared_from_this()] {
      if (self->state_ == State::acquiring || !self->to_upstream_open_) self->finish("closed by drain");
    });
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
    const UpstreamGroup::Member& member = *pick_.member;  // the group's: outlives the report
    // An open breaker and a failed connect count against the endpoint; a lease for a connection
    // that was closed meanwhile (by a drain) goes back unused and clean.
    report(error ? UpstreamGroup::Outcome::failure : UpstreamGroup::Outcome::success, state_ != State::acquiring);
    if (state_ != State::acquiring) return;
    if (error) {
      // A connect made for this acquire failed: its description names the error and keeps
      // OpenSSL's reason ("certificate_verify_failed: ... hostname mismatch").
      const ConnectFailure failure = member.pool->last_connect_failure();
      return on_no_upstream(failure.error == error ? failure.describe() : std::string(error_kind(error)));
    }
    lease_ = std::move(lease);
    upstream_id_ = lease_.connection_id();
    state_ = State::splicing;
    log_connection(spdlog::level::debug, context_->upstreams->name(), upstream_id_,
                   fmt::format("tcp splice from {} to {} opened", peer_, member.endpoint));
    touch();
    arm_idle_timer(options_->limits.idle_timeout);
    pump(local_, lease_, Direction::to_upstream);
    pump(lease_, local_, Direction::from_upstream);
  }

  void on_no_upstream(std::string_view cause) {
    context_->acquire_failures.fetch_add(1, std::memory_order_relaxed);
    finish(fmt::format("no upstream connection: {}", cause), spdlog::level::warn);
  }

  // Tells the group how the endpoint did, once: `now` false defers a success to the splice's
  // end, so that the group counts the splice in flight until then (least_requests).
  void report(UpstreamGroup::Outcome outcome, bool now) {
    if (!pick_ || (!now && outcome == UpstreamGroup::Outcome::success)) return;
    pick_.group->report(pick_, outcome);
    pick_ = {};
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
    // closes or has been silent for half_close_timeout (a client that closed completely looks
    // the same from here, and a kept-alive upstream never closes by itself). A plain upstream
    // gets the FIN, after the last byte (a read starts only once the previous write is done),
    // for a server that answers at the end of its input.
    to_upstream_open_ = false;
    if (SecureChannel& channel = detail::LeaseInternals::channel(lease_); channel.plain()) channel.shutdown_send();
    if (!from_upstream_open_) return finish("closed by both sides");
    touch();
    arm_idle_timer(silence_limit());
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
    idle_timer_.expires_after(after);  // cancels a wait already armed: its handler sees the abort
    idle_timer_.async_wait(on_strand([self = shared_from_this()](const error_code& error) {
      if (error || self->state_ != State::splicing) return;
      const auto deadline = self->last_activity_ + self->silence_limit();
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        return self->finish(self->to_upstream_open_ ? "idle timeout" : "upstream silent after the local side closed");
      }
      self->arm_idle_timer(deadline - now);
    }));
  }

  // How long the splice may be silent: idle_timeout, or less once the local side has closed.
  std::chrono::milliseconds silence_limit() const {
    const ListenerLimits& limits = options_->limits;
    return to_upstream_open_ ? limits.idle_timeout : std::min(limits.idle_timeout, limits.half_close_timeout);
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
      report(UpstreamGroup::Outcome::success, true);
    }
    error_code ignored;
    local_.close(ignored);
    log_connection(level, context_->upstreams->name(), upstream_id_,
                   fmt::format("tcp splice from {} closed ({}): {} bytes to upstream, {} from upstream", peer_,
                               reason, bytes_to_upstream_, bytes_from_upstream_));
    context_->release_slot();
  }

  tcp::socket local_;
  asio::steady_timer idle_timer_;
  std::shared_ptr<SpliceContext> context_;
  const std::shared_ptr<const TcpSpliceOptions> options_;  // as they were when it was accepted
  UpstreamGroup::Pick pick_;  // the endpoint, until its outcome is reported
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
  connections.for_each_alive([](SpliceConnection& connection) { connection.close(); });
}

void SpliceContext::drain_all() {
  connections.for_each_alive([](SpliceConnection& connection) { connection.drain(); });
}

bool TcpSpliceListener::update(const TcpSpliceOptions& next, std::string& problem) {
  const auto running = context_->settings.current();
  if (next.host != running->host || next.port != running->port) {
    problem = "the address of a listener cannot change while it runs";
    return false;
  }
  if (next.limits.max_connections == 0 || next.limits.idle_timeout.count() <= 0) {
    problem = "max_connections and idle_timeout must be greater than zero";
    return false;
  }
  context_->settings.replace(next);
  acceptor_->set_max_connections(next.limits.max_connections);
  return true;
}

std::shared_ptr<TcpSpliceListener> TcpSpliceListener::create(executor_type executor, TcpSpliceOptions options,
                                                             std::shared_ptr<UpstreamGroup> upstreams,
                                                             error_code& error) {
  error.clear();
  if (!upstreams || upstreams->members().empty() || options.limits.idle_timeout.count() <= 0) {
    error = make_error_code(boost::system::errc::invalid_argument);
    return nullptr;
  }
  const auto address = asio::ip::make_address(options.host, error);
  if (error) return nullptr;
  // LocalAcceptor refuses a zero max_connections.
  auto acceptor = LocalAcceptor::create(std::move(executor), tcp::endpoint(address, options.port),
                                        options.limits.max_connections, "tcp listener", upstreams->name(), error);
  if (!acceptor) return nullptr;
  auto context = std::make_shared<SpliceContext>(std::move(options), std::move(upstreams));
  context->acceptor = acceptor;
  return std::make_shared<TcpSpliceListener>(PrivateTag{}, std::move(acceptor), std::move(context));
}

std::shared_ptr<TcpSpliceListener> TcpSpliceListener::create(executor_type executor, TcpSpliceOptions options,
                                                             std::shared_ptr<SecureChannelPool> pool,
                                                             error_code& error) {
  if (!pool) {
    error = make_error_code(boost::system::errc::invalid_argument);
    return nullptr;
  }
  return create(std::move(executor), std::move(options), UpstreamGroup::single(std::move(pool)), error);
}

TcpSpliceListener::TcpSpliceListener(PrivateTag, std::shared_ptr<LocalAcceptor> acceptor,
                                     std::shared_ptr<SpliceContext> context)
    : acceptor_(std::move(acceptor)), context_(std::move(context)) {}

// A pending accept keeps the acceptor alive; closing it lets the acceptor go with this object.
TcpSpliceListener::~TcpSpliceListener() { acceptor_->stop_accepting(); }

void TcpSpliceListener::start() {
  acceptor_->start([context = context_](tcp::socket socket) {
    auto connection = std::make_shared<SpliceConnection>(std::move(socket), context);
    context->connections.add(connection);
    connection->start();
  });
}

void TcpSpliceListener::stop_accepting() { acceptor_->stop_accepting(); }

void TcpSpliceListener::async_drain(std::chrono::milliseconds grace, std::function<void()> done) {
  // A splice has no message boundary at which to end it early: it runs until a side closes or
  // the grace is over.
  acceptor_->async_drain(grace,
                         {.begin = [context = context_] { context->drain_all(); },
                          .deadline = [context = context_] { context->close_all(); }},
                         std::move(done));
}

tcp::endpoint TcpSpliceListener::local_endpoint() const noexcept { return acceptor_->local_endpoint(); }

TcpSpliceListener::executor_type TcpSpliceListener::get_executor() const noexcept { return acceptor_->get_executor(); }

TcpSpliceStats TcpSpliceListener::stats() const noexcept {
  constexpr auto relaxed = std::memory_order_relaxed;
  TcpSpliceStats stats;
  stats.connections_accepted = acceptor_->connections_accepted();
  stats.active_connections = acceptor_->open_connections();
  stats.accept_pauses = acceptor_->accept_pauses();
  stats.acquire_failures = context_->acquire_failures.load(relaxed);
  stats.bytes_to_upstream = context_->bytes_to_upstream.load(relaxed);
  stats.bytes_from_upstream = context_->bytes_from_upstream.load(relaxed);
  return stats;
}

}  // namespace securechannel::daemon
