#include "securechannel/monitoring_server.hpp"

#include "core/loopback_address.hpp"
#include "monitor/monitoring_session.hpp"
#include "securechannel/error.hpp"
#include "securechannel/secure_buffer.hpp"

#include <boost/asio/dispatch.hpp>
#include <spdlog/spdlog.h>

#include <utility>

namespace securechannel {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// After an accept error (EMFILE when the process is out of descriptors, ENOBUFS, ...) the
// acceptor would fail again at once: pause instead of spinning.
constexpr std::chrono::milliseconds accept_retry_delay{100};

}  // namespace

std::shared_ptr<MonitoringServer> MonitoringServer::create(executor_type executor, MonitoringServerOptions options,
                                                           MonitoringHandler handler, error_code& error) {
  error.clear();
  if (!handler || options.max_header_bytes == 0) {
    error = make_error_code(boost::system::errc::invalid_argument);
    return nullptr;
  }
  const auto address = asio::ip::make_address(options.host, error);
  if (error) return nullptr;
  if (!detail::is_loopback_address(address)) {
    const bool has_token = options.auth_token && !options.auth_token->empty();
    if (!has_token && !options.tls && !options.allow_insecure_bind) {
      error = errc::insecure_bind;
      return nullptr;
    }
    // What is still open, said once at start (docs/MONITORING.md, "Exposure").
    if (!has_token && !options.tls) {
      spdlog::warn("monitoring server on {}: listening beyond loopback without an auth token or TLS "
                   "(allow_insecure_bind): anyone who reaches it reads it",
                   options.host);
    } else if (!options.tls) {
      spdlog::warn("monitoring server on {}: listening beyond loopback without TLS: the token crosses the network "
                   "in clear text",
                   options.host);
    } else if (!has_token) {
      spdlog::warn("monitoring server on {}: listening beyond loopback without an auth token: anyone who reaches "
                   "it reads it, over TLS",
                   options.host);
    }
  }
  const tcp::endpoint endpoint(address, options.port);
  auto server =
      std::make_shared<MonitoringServer>(PrivateTag{}, std::move(executor), std::move(options), std::move(handler));
  server->context_->slot_released = [weak = std::weak_ptr<MonitoringServer>(server)] {
    if (auto live = weak.lock()) asio::dispatch(live->strand_, [live] { live->resume_accepting(); });
  };
  error = server->listen(endpoint);
  if (error) return nullptr;
  return server;
}

MonitoringServer::MonitoringServer(PrivateTag, executor_type executor, MonitoringServerOptions options,
                                   MonitoringHandler handler)
    : executor_(std::move(executor)),
      strand_(asio::make_strand(executor_)),
      acceptor_(strand_),
      accept_retry_(strand_),
      context_(std::make_shared<monitor::ServerContext>(std::move(options), std::move(handler))) {}

MonitoringServer::~MonitoringServer() = default;

error_code MonitoringServer::listen(const tcp::endpoint& endpoint) {
  error_code error;
  acceptor_.open(endpoint.protocol(), error);
  if (error) return error;
  // Lets a restarted server bind while connections of the previous one sit in TIME_WAIT; on
  // Linux it does not let two servers listen on one port, so address_in_use is still reported.
  acceptor_.set_option(tcp::acceptor::reuse_address(true), error);
  if (error) return error;
  acceptor_.bind(endpoint, error);
  if (error) return error;
  acceptor_.listen(tcp::socket::max_listen_connections, error);
  if (error) return error;
  local_endpoint_ = acceptor_.local_endpoint(error);
  return error;
}

void MonitoringServer::start() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->stopped_ || self->accepting_) return;
    self->accepting_ = true;
    self->accept_next();
  });
}

void MonitoringServer::stop() {
  asio::dispatch(strand_, [self = shared_from_this()] { self->stop_on_strand(); });
}

void MonitoringServer::stop_on_strand() {
  if (stopped_) return;
  stopped_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  context_->close_all();
}

void MonitoringServer::accept_next() {
  // Each connection gets a strand of its own: its handlers never run concurrently, yet different
  // connections may proceed in parallel on a multi-threaded io_context.
  acceptor_.async_accept(asio::make_strand(executor_), [self = shared_from_this()](const error_code& error,
                                                                                   tcp::socket socket) {
    self->on_accept(error, std::move(socket));
  });
}

void MonitoringServer::on_accept(const error_code& error, tcp::socket socket) {
  if (stopped_) return;  // `socket`, if any, closes as it goes out of scope
  if (error) {
    spdlog::warn("monitoring server on port {}: accept failed: {}", port(), error.message());
    accept_retry_.expires_after(accept_retry_delay);
    accept_retry_.async_wait([self = shared_from_this()](const error_code& wait_error) {
      if (!wait_error && !self->stopped_) self->accept_next();
    });
    return;
  }
  // Only this strand adds to open_connections; accepting stops at the cap (below), so every
  // accepted connection has a slot.
  context_->open_connections.fetch_add(1);
  auto session = std::make_shared<monitor::MonitoringSession>(std::move(socket), context_);
  context_->sessions.add(session);
  session->start();
  if (context_->open_connections.load() >= context_->options.max_connections) {
    // At the cap, stop accepting rather than accept to refuse: further clients wait in the
    // kernel's backlog, holding none of this process's descriptors (which the pool's upstream
    // connections need), until a session closes and resume_accepting() runs.
    accept_paused_ = true;
    context_->accept_pauses.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  accept_next();
}

void MonitoringServer::resume_accepting() {
  if (!accept_paused_ || stopped_ || context_->open_connections.load() >= context_->options.max_connections) return;
  accept_paused_ = false;
  accept_next();
}

std::string MonitoringServer::base_url() const {
  const auto address = local_endpoint_.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  const char* scheme = context_->options.tls ? "https://" : "http://";
  return scheme + host + ":" + std::to_string(local_endpoint_.port());
}

bool MonitoringServer::reload_tls(std::shared_ptr<MonitoringTls> tls) {
  // A plain server stays plain (and the reverse): its clients and base_url() expect its scheme.
  if (!tls || !context_->options.tls) return false;
  context_->set_tls(std::move(tls));
  return true;
}

std::size_t MonitoringServer::open_connections() const noexcept { return context_->open_connections.load(); }

MonitoringServerStats MonitoringServer::stats() const noexcept {
  constexpr auto relaxed = std::memory_order_relaxed;
  MonitoringServerStats stats;
  stats.requests_served = context_->requests_served.load(relaxed);
  stats.rejected_unauthorized = context_->rejected_unauthorized.load(relaxed);
  stats.rejected_rate_limited = context_->rejected_rate_limited.load(relaxed);
  stats.accept_pauses = context_->accept_pauses.load(relaxed);
  stats.timed_out = context_->timed_out.load(relaxed);
  stats.bad_requests = context_->bad_requests.load(relaxed);
  stats.handler_failures = context_->handler_failures.load(relaxed);
  stats.tls_handshake_failures = context_->tls_handshake_failures.load(relaxed);
  stats.open_connections = context_->open_connections.load(relaxed);
  return stats;
}

}  // namespace securechannel
