#include "fault_proxy.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <future>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace securechannel::testing {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// Bytes read and not yet forwarded, per direction of a connection: reading pauses at this.
constexpr std::size_t kHeldLimit = 64 * 1024;
constexpr std::size_t kReadSize = 16 * 1024;
// A close with FIN waits this long for both peers to close their side before closing anyway.
constexpr std::chrono::milliseconds kCloseTimeout{1000};
// A throttled direction is written in slices of this fraction of a second's worth of bytes.
constexpr std::uint64_t kSlicesPerSecond = 20;
// If the proxy's thread has not finished this long after the stop was posted, force it.
constexpr std::chrono::seconds kStopTimeout{5};

std::size_t index_of(Direction direction) { return direction == Direction::to_client ? 0 : 1; }

class Link;

// What the connections share with the proxy; all but the atomics are touched on its thread only.
struct ProxyState {
  std::atomic<std::size_t> accepted{0};
  std::atomic<std::size_t> open{0};
  std::atomic<std::size_t> upstream_failures{0};
  std::atomic<std::size_t> closed_by_upstream{0};
  std::array<std::atomic<std::uint64_t>, 2> forwarded{};  // by index_of(direction)
  std::array<Toxics, 2> toxics_for_new{};
  std::unordered_map<Link*, std::shared_ptr<Link>> links;
  std::mt19937 random{20240518};  // fixed: a run's jitter is the same every time
};

// One accepted client and its upstream connection: two pipes (one per direction), each reading
// into its bounded queue and forwarding from it as its toxics allow. Kept alive by
// ProxyState::links and by its pending handlers.
class Link : public std::enable_shared_from_this<Link> {
 public:
  Link(tcp::socket client, ProxyState& state)
      : client_(std::move(client)),
        upstream_(client_.get_executor()),
        close_timer_(client_.get_executor()),
        state_(state),
        pipes_{Pipe(upstream_, client_, Direction::to_client, state.toxics_for_new[0]),
               Pipe(client_, upstream_, Direction::to_upstream, state.toxics_for_new[1])} {}

  void start(const tcp::endpoint& upstream) {
    upstream_.async_connect(upstream, [self = shared_from_this()](const error_code& error) {
      if (self->phase_ != Phase::connecting) return;
      if (error) {
        self->state_.upstream_failures.fetch_add(1);
        return self->reset();
      }
      error_code ignored;
      self->client_.set_option(tcp::no_delay(true), ignored);  // latency is ours to add, not Nagle's
      self->upstream_.set_option(tcp::no_delay(true), ignored);
      self->phase_ = Phase::forwarding;
      for (Pipe& pipe : self->pipes_) self->read(pipe);
    });
  }

  void set_toxics(Direction direction, const Toxics& toxics) {
    Pipe& pipe = pipes_[index_of(direction)];
    pipe.toxics = toxics;
    pipe.forwarded = 0;
    if (phase_ == Phase::forwarding) pump(pipe);  // a stall may have ended
  }

  // Closes both sockets now (the peers see a FIN, or a RST if bytes were left unread).
  void close_now() {
    if (phase_ == Phase::closed) return;
    phase_ = Phase::closed;
    error_code ignored;
    close_timer_.cancel();
    for (Pipe& pipe : pipes_) pipe.timer.cancel();
    client_.close(ignored);  // completes every pending operation with an error
    upstream_.close(ignored);
    state_.open.fetch_sub(1);
    state_.links.erase(this);  // the handler that called us still holds a reference
  }

 private:
  enum class Phase {
    connecting,  // to the upstream; the client's bytes wait in its socket
    forwarding,  // both pipes read and forward
    closing,     // FIN sent both ways: reading and discarding until both peers close
    closed,      // sockets closed; late handlers return at once
  };

  struct Piece {
    std::string bytes;
    std::size_t sent = 0;
    Clock::time_point due;  // not forwarded before (latency)
  };

  // What the toxics allow next: this many bytes, then `then`.
  enum class Then { nothing, stall, reset, close };
  struct Allowance {
    std::uint64_t bytes = UINT64_MAX;
    Then then = Then::nothing;
  };

  struct Pipe {
    Pipe(tcp::socket& source, tcp::socket& sink, Direction way, const Toxics& initial)
        : from(source), to(sink), direction(way), toxics(initial), timer(source.get_executor()) {}

    tcp::socket& from;
    tcp::socket& to;
    const Direction direction;
    Toxics toxics;
    std::uint64_t forwarded = 0;  // since the toxics were set: what their byte counts refer to
    std::deque<Piece> held;
    std::size_t held_bytes = 0;
    std::array<char, kReadSize> buffer{};
    bool reading = false;
    bool sending = false;       // a write, or a wait before one, is in flight
    bool source_ended = false;  // EOF (or, while closing, any error) read from `from`
    bool sink_ended = false;    // the EOF was passed on to `to`
    Clock::time_point next_send{};  // bandwidth
    asio::steady_timer timer;
  };

  void read(Pipe& pipe) {
    if (pipe.reading || pipe.source_ended || phase_ == Phase::closed || phase_ == Phase::connecting) return;
    const std::size_t room = phase_ == Phase::closing ? kReadSize : std::min(kReadSize, kHeldLimit - pipe.held_bytes);
    if (room == 0) return;  // full: pump() reads again once it forwarded some
    pipe.reading = true;
    pipe.from.async_read_some(asio::buffer(pipe.buffer.data(), room),
                              [self = shared_from_this(), &pipe](const error_code& error, std::size_t bytes) {
                                self->on_read(pipe, error, bytes);
                              });
  }

  void on_read(Pipe& pipe, const error_code& error, std::size_t bytes) {
    pipe.reading = false;
    if (phase_ == Phase::closed) return;
    if (phase_ == Phase::closing) {  // what a peer sends after our FIN is dropped
      if (error) {
        pipe.source_ended = true;
        return finish_if_done();
      }
      return read(pipe);
    }
    if (error == asio::error::eof) {
      pipe.source_ended = true;
      if (pipe.direction == Direction::to_client) state_.closed_by_upstream.fetch_add(1);
      return pump(pipe);
    }
    if (error) return reset();  // a peer's reset reaches the other peer as one
    hold(pipe, bytes);
    pump(pipe);
    read(pipe);
  }

  void hold(Pipe& pipe, std::size_t bytes) {
    Clock::duration delay = pipe.toxics.latency;
    if (pipe.toxics.jitter.count() > 0) {
      const auto jitter = pipe.toxics.jitter.count();
      delay += std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(-jitter, jitter)(state_.random));
    }
    // A piece due before the one ahead of it still waits for it: the queue keeps their order.
    pipe.held.push_back({std::string(pipe.buffer.data(), bytes), 0, Clock::now() + std::max(delay, Clock::duration::zero())});
    pipe.held_bytes += bytes;
  }

  Allowance allowance(const Pipe& pipe) const {
    Allowance allowed;
    const auto consider = [&](const std::optional<std::uint64_t>& after, Then then) {
      if (!after) return;
      const std::uint64_t left = *after > pipe.forwarded ? *after - pipe.forwarded : 0;
      if (left < allowed.bytes) allowed = {left, then};
    };
    consider(pipe.toxics.stall_after_bytes, Then::stall);
    consider(pipe.toxics.reset_after_bytes, Then::reset);
    consider(pipe.toxics.close_after_bytes, Then::close);
    return allowed;
  }

  bool stalled(const Pipe& pipe) const {
    const Allowance allowed = allowance(pipe);
    return allowed.bytes == 0 && allowed.then == Then::stall && !pipe.held.empty();
  }

  // Forwards the next piece of `pipe` if its toxics allow it now; otherwise waits, stalls,
  // resets or closes as they say.
  void pump(Pipe& pipe) {
    if (phase_ != Phase::forwarding || pipe.sending) return;
    if (pipe.held.empty()) {
      if (pipe.source_ended && !pipe.sink_ended) {
        pipe.sink_ended = true;
        error_code ignored;
        pipe.to.shutdown(tcp::socket::shutdown_send, ignored);  // the half-close, passed on
      }
      return finish_if_done();
    }
    const Allowance allowed = allowance(pipe);
    if (allowed.bytes == 0) {
      switch (allowed.then) {
        case Then::stall:
          return finish_if_done();
        case Then::reset:
          return reset();
        case Then::close:
          return close_with_fin();
        case Then::nothing:
          break;  // no limit is never zero
      }
    }
    const Clock::time_point now = Clock::now();
    const Clock::time_point not_before = std::max(pipe.held.front().due, pipe.next_send);
    if (not_before > now) return wait(pipe, not_before);
    Piece& piece = pipe.held.front();
    std::uint64_t bytes = std::min<std::uint64_t>(piece.bytes.size() - piece.sent, allowed.bytes);
    if (pipe.toxics.bytes_per_second > 0) {
      bytes = std::min(bytes, std::max<std::uint64_t>(1, pipe.toxics.bytes_per_second / kSlicesPerSecond));
    }
    pipe.sending = true;
    pipe.to.async_write_some(asio::buffer(piece.bytes.data() + piece.sent, bytes),
                             [self = shared_from_this(), &pipe](const error_code& error, std::size_t written) {
                               self->on_sent(pipe, error, written);
                             });
  }

  void wait(Pipe& pipe, Clock::time_point until) {
    pipe.sending = true;
    pipe.timer.expires_at(until);
    pipe.timer.async_wait([self = shared_from_this(), &pipe](const error_code&) {
      pipe.sending = false;
      self->pump(pipe);
    });
  }

  void on_sent(Pipe& pipe, const error_code& error, std::size_t written) {
    pipe.sending = false;
    if (phase_ != Phase::forwarding) return;
    if (error) return reset();
    state_.forwarded[index_of(pipe.direction)].fetch_add(written);
    pipe.forwarded += written;
    pipe.held_bytes -= written;
    Piece& piece = pipe.held.front();
    piece.sent += written;
    if (piece.sent == piece.bytes.size()) pipe.held.pop_front();
    if (pipe.toxics.bytes_per_second > 0) {
      const auto spent = std::chrono::nanoseconds(written * 1'000'000'000ull / pipe.toxics.bytes_per_second);
      pipe.next_send = std::max(pipe.next_send, Clock::now()) + spent;
    }
    pump(pipe);
    read(pipe);
  }

  // Done when neither way has anything left to pass on: each has passed its EOF on, or holds
  // bytes it is stalled on while its source has ended (no one is left to send them to).
  void finish_if_done() {
    const auto done = [this](const Pipe& pipe) {
      if (phase_ == Phase::closing) return pipe.source_ended;
      return pipe.sink_ended || (pipe.source_ended && stalled(pipe));
    };
    if (done(pipes_[0]) && done(pipes_[1])) close_now();
  }

  void reset() {
    error_code ignored;
    for (tcp::socket* socket : {&client_, &upstream_}) socket->set_option(asio::socket_base::linger(true, 0), ignored);
    close_now();
  }

  void close_with_fin() {
    phase_ = Phase::closing;
    for (Pipe& pipe : pipes_) {
      error_code ignored;
      pipe.to.shutdown(tcp::socket::shutdown_send, ignored);
      pipe.timer.cancel();
      read(pipe);  // drains until the peer closes: closing with unread bytes would send a RST
    }
    close_timer_.expires_after(kCloseTimeout);
    close_timer_.async_wait([self = shared_from_this()](const error_code& error) {
      if (!error) self->close_now();
    });
    finish_if_done();  // both peers may have closed their side already
  }

  tcp::socket client_;
  tcp::socket upstream_;
  asio::steady_timer close_timer_;
  ProxyState& state_;
  Phase phase_ = Phase::connecting;
  std::array<Pipe, 2> pipes_;  // by index_of(direction)
};

}  // namespace

class FaultProxy::Impl {
 public:
  explicit Impl(std::uint16_t upstream_port) : upstream_(asio::ip::make_address("127.0.0.1"), upstream_port) {
    listen(0);
    port_ = acceptor_.local_endpoint().port();
    std::promise<void> finished;
    finished_ = finished.get_future();
    thread_ = std::thread([this, finished = std::move(finished)]() mutable {
      run();
      finished.set_value();
    });
  }

  ~Impl() {
    asio::post(io_, [this] {
      stopping_ = true;
      error_code ignored;
      acceptor_.close(ignored);
      close_all();
    });
    work_.reset();
    // Every operation ends once its socket is closed, so run() returns by itself; stop() only
    // guards the test run against a bug here.
    if (finished_.wait_for(kStopTimeout) == std::future_status::timeout) {
      spdlog::error("FaultProxy {}: thread did not finish in {} s, stopping it", port_, kStopTimeout.count());
      io_.stop();
    }
    thread_.join();
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  std::uint16_t port() const { return port_; }
  const ProxyState& state() const { return state_; }

  void set_toxics(Direction direction, const Toxics& toxics, Reach reach) {
    on_proxy_thread([&] {
      if (reach == Reach::open_and_new) state_.toxics_for_new[index_of(direction)] = toxics;
      for (const auto& link : links()) link->set_toxics(direction, toxics);  // may close it
    });
  }

  void refuse_connections(bool refuse) {
    on_proxy_thread([&] {
      if (refuse == !acceptor_.is_open()) return;
      if (refuse) {
        acceptor_.close();  // the accept in flight ends with operation_aborted
      } else {
        listen(port_);
      }
    });
  }

  void set_upstream_port(std::uint16_t upstream_port) {
    on_proxy_thread([&] { upstream_.port(upstream_port); });
  }

 private:
  // Opens the listener (port 0: any) and starts accepting; on the proxy's thread once it runs.
  void listen(std::uint16_t port) {
    const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    try {
      acceptor_.open(endpoint.protocol());
      acceptor_.set_option(tcp::acceptor::reuse_address(true));
      acceptor_.bind(endpoint);
      acceptor_.listen(asio::socket_base::max_listen_connections);
    } catch (const boost::system::system_error& error) {
      error_code ignored;
      acceptor_.close(ignored);
      throw std::runtime_error("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + error.what());
    }
    accept();
  }

  void accept() {
    acceptor_.async_accept([this](const error_code& error, tcp::socket client) {
      if (stopping_ || error == asio::error::operation_aborted) return;
      if (!error) {
        state_.accepted.fetch_add(1);
        state_.open.fetch_add(1);
        auto link = std::make_shared<Link>(std::move(client), state_);
        state_.links.emplace(link.get(), link);
        link->start(upstream_);
      }
      accept();  // after an error such as EMFILE too: the test will fail on what follows
    });
  }

  // A copy of the open links: closing one erases it from the map.
  std::vector<std::shared_ptr<Link>> links() const {
    std::vector<std::shared_ptr<Link>> copy;
    for (const auto& entry : state_.links) copy.push_back(entry.second);
    return copy;
  }

  void close_all() {
    for (const auto& link : links()) link->close_now();
  }

  // Runs `change` on the proxy's thread and returns once it ran; its exception is rethrown here
  // as std::runtime_error (as text: a future holding an exception_ptr trips ThreadSanitizer).
  template <class Change>
  void on_proxy_thread(Change&& change) {
    std::promise<std::string> done;
    std::future<std::string> problem = done.get_future();
    asio::post(io_, [&] {
      try {
        change();
        done.set_value("");
      } catch (const std::exception& error) {
        done.set_value(error.what());
      }
    });
    if (const std::string text = problem.get(); !text.empty()) throw std::runtime_error("FaultProxy: " + text);
  }

  void run() {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception& error) {  // a bug in a handler must not kill the test binary
        spdlog::error("FaultProxy {}: handler threw: {}", port_, error.what());
      }
    }
  }

  asio::io_context io_{1};
  // While connections are refused the proxy may have nothing in flight; it still runs.
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  tcp::acceptor acceptor_{io_};
  tcp::endpoint upstream_;  // proxy thread only, once it runs
  std::uint16_t port_ = 0;
  ProxyState state_;
  bool stopping_ = false;  // proxy thread only
  std::future<void> finished_;
  std::thread thread_;
};

FaultProxy::FaultProxy(std::uint16_t upstream_port) : impl_(std::make_unique<Impl>(upstream_port)) {}
FaultProxy::~FaultProxy() = default;

std::uint16_t FaultProxy::port() const { return impl_->port(); }
std::string FaultProxy::endpoint() const { return "127.0.0.1:" + std::to_string(impl_->port()); }

void FaultProxy::set_toxics(Direction direction, const Toxics& toxics, Reach reach) {
  impl_->set_toxics(direction, toxics, reach);
}
void FaultProxy::clear_toxics() {
  impl_->set_toxics(Direction::to_client, {}, Reach::open_and_new);
  impl_->set_toxics(Direction::to_upstream, {}, Reach::open_and_new);
}
void FaultProxy::refuse_connections(bool refuse) { impl_->refuse_connections(refuse); }
void FaultProxy::set_upstream_port(std::uint16_t upstream_port) { impl_->set_upstream_port(upstream_port); }

std::size_t FaultProxy::accepted_connections() const { return impl_->state().accepted.load(); }
std::size_t FaultProxy::open_connections() const { return impl_->state().open.load(); }
std::size_t FaultProxy::upstream_connect_failures() const { return impl_->state().upstream_failures.load(); }
std::size_t FaultProxy::closed_by_upstream() const { return impl_->state().closed_by_upstream.load(); }
std::uint64_t FaultProxy::bytes_forwarded(Direction direction) const {
  return impl_->state().forwarded[index_of(direction)].load();
}

}  // namespace securechannel::testing
