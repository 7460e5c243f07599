#include "daemon/http_forward_listener.hpp"

#include "daemon/daemon_log.hpp"
#include "daemon/http_forward_session.hpp"
#include "securechannel/http_client.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <utility>

namespace securechannel::daemon {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// After an accept error (EMFILE when the process is out of descriptors, ENOBUFS, ...) the
// acceptor would fail again at once: pause instead of spinning.
constexpr std::chrono::milliseconds accept_retry_delay{100};

bool limits_valid(const ListenerLimits& limits) {
  return limits.max_connections > 0 && limits.max_header_bytes > 0 && limits.idle_timeout.count() > 0 &&
         limits.header_timeout.count() > 0;
}

}  // namespace

std::shared_ptr<HttpForwardListener> HttpForwardListener::create(executor_type executor, HttpForwardOptions options,
                                                                 std::shared_ptr<HttpClient> client,
                                                                 error_code& error) {
  error.clear();
  if (!client || !limits_valid(options.limits) || options.request_timeout.count() <= 0) {
    error = make_error_code(boost::system::errc::invalid_argument);
    return nullptr;
  }
  const auto address = asio::ip::make_address(options.host, error);
  if (error) return nullptr;
  const tcp::endpoint endpoint(address, options.port);
  auto listener =
      std::make_shared<HttpForwardListener>(PrivateTag{}, std::move(executor), std::move(options), std::move(client));
  listener->context_->slot_released = [weak = std::weak_ptr<HttpForwardListener>(listener)] {
    if (auto live = weak.lock()) asio::dispatch(live->strand_, [live] { live->on_slot_released(); });
  };
  error = listener->listen(endpoint);
  if (error) return nullptr;
  return listener;
}

HttpForwardListener::HttpForwardListener(PrivateTag, executor_type executor, HttpForwardOptions options,
                                         std::shared_ptr<HttpClient> client)
    : executor_(std::move(executor)),
      strand_(asio::make_strand(executor_)),
      acceptor_(strand_),
      accept_retry_(strand_),
      drain_deadline_(strand_),
      context_(std::make_shared<ForwardContext>(std::move(options), std::move(client))) {}

HttpForwardListener::~HttpForwardListener() = default;

error_code HttpForwardListener::listen(const tcp::endpoint& endpoint) {
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

void HttpForwardListener::start() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->stopped_ || self->accepting_) return;
    self->accepting_ = true;
    self->accept_next();
  });
}

void HttpForwardListener::stop_accepting() {
  asio::dispatch(strand_, [self = shared_from_this()] { self->stop_accepting_on_strand(); });
}

void HttpForwardListener::stop_accepting_on_strand() {
  if (stopped_) return;
  stopped_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
}

void HttpForwardListener::async_drain(std::chrono::milliseconds grace, std::function<void()> done) {
  asio::dispatch(strand_, [self = shared_from_this(), grace, done = std::move(done)]() mutable {
    self->stop_accepting_on_strand();
    self->drain_done_.push_back(std::move(done));
    if (!self->draining_) {
      self->draining_ = true;
      self->context_->drain_all();
      self->drain_deadline_.expires_after(grace);
      self->drain_deadline_.async_wait([self](const error_code& error) {
        if (!error && self->draining_) self->context_->close_all();
      });
    }
    // Posted, never inline: `done` must not run inside async_drain, even with nothing open.
    asio::post(self->strand_, [self] { self->finish_drain_if_empty(); });
  });
}

void HttpForwardListener::finish_drain_if_empty() {
  if (!draining_ || context_->open_connections.load() > 0) return;
  drain_deadline_.cancel();
  std::vector<std::function<void()>> done;
  done.swap(drain_done_);
  for (auto& callback : done) {
    if (callback) asio::post(executor_, std::move(callback));
  }
}

void HttpForwardListener::accept_next() {
  // Each connection gets a strand of its own: its handlers never run concurrently, yet different
  // connections may proceed in parallel on a multi-threaded io_context.
  acceptor_.async_accept(asio::make_strand(executor_), [self = shared_from_this()](const error_code& error,
                                                                                   tcp::socket socket) {
    self->on_accept(error, std::move(socket));
  });
}

void HttpForwardListener::on_accept(const error_code& error, tcp::socket socket) {
  if (stopped_) return;  // `socket`, if any, closes as it goes out of scope
  if (error) {
    log_pool(spdlog::level::warn, context_->pool_name, 0,
             fmt::format("http listener on port {}: accept failed: {}", local_endpoint_.port(), error.message()));
    accept_retry_.expires_after(accept_retry_delay);
    accept_retry_.async_wait([self = shared_from_this()](const error_code& wait_error) {
      if (!wait_error && !self->stopped_) self->accept_next();
    });
    return;
  }
  // Only this strand adds to open_connections; accepting stops at the cap (below), so every
  // accepted connection has a slot.
  context_->open_connections.fetch_add(1);
  const std::uint64_t connection_id = context_->connections_accepted.fetch_add(1, std::memory_order_relaxed) + 1;
  auto session = std::make_shared<HttpForwardSession>(std::move(socket), context_, connection_id);
  context_->track(session);
  session->start();
  if (context_->open_connections.load() >= context_->options.limits.max_connections) {
    // At the cap, stop accepting rather than accept to refuse: further clients wait in the
    // kernel's backlog, holding none of this process's descriptors (which the pool's upstream
    // connections need), until a connection closes.
    accept_paused_ = true;
    return;
  }
  accept_next();
}

void HttpForwardListener::on_slot_released() {
  if (draining_) return finish_drain_if_empty();
  if (!accept_paused_ || stopped_ || context_->open_connections.load() >= context_->options.limits.max_connections) {
    return;
  }
  accept_paused_ = false;
  accept_next();
}

HttpForwardStats HttpForwardListener::stats() const noexcept {
  constexpr auto relaxed = std::memory_order_relaxed;
  HttpForwardStats stats;
  stats.connections_accepted = context_->connections_accepted.load(relaxed);
  stats.active_connections = context_->open_connections.load(relaxed);
  stats.requests = context_->requests.load(relaxed);
  stats.responses_2xx = context_->responses_2xx.load(relaxed);
  stats.responses_3xx = context_->responses_3xx.load(relaxed);
  stats.responses_4xx = context_->responses_4xx.load(relaxed);
  stats.responses_5xx = context_->responses_5xx.load(relaxed);
  stats.upstream_errors = context_->upstream_errors.load(relaxed);
  stats.rejected = context_->rejected.load(relaxed);
  return stats;
}

}  // namespace securechannel::daemon
