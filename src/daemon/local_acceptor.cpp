#include "daemon/local_acceptor.hpp"

#include "daemon/daemon_log.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

namespace securechannel::daemon {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {
// After an accept error (EMFILE when the process is out of descriptors, ENOBUFS, ...) the
// acceptor would fail again at once: pause instead of spinning.
constexpr std::chrono::milliseconds accept_retry_delay{100};
}  // namespace

std::shared_ptr<LocalAcceptor> LocalAcceptor::create(executor_type executor, const tcp::endpoint& endpoint,
                                                     std::size_t max_connections, std::string what,
                                                     std::string pool_name, error_code& error) {
  error.clear();
  if (max_connections == 0) {
    error = make_error_code(boost::system::errc::invalid_argument);
    return nullptr;
  }
  auto acceptor = std::make_shared<LocalAcceptor>(PrivateTag{}, std::move(executor), max_connections, std::move(what),
                                                  std::move(pool_name));
  error = acceptor->listen(endpoint);
  if (error) return nullptr;
  return acceptor;
}

LocalAcceptor::LocalAcceptor(PrivateTag, executor_type executor, std::size_t max_connections, std::string what,
                             std::string pool_name)
    : executor_(std::move(executor)),
      strand_(asio::make_strand(executor_)),
      acceptor_(strand_),
      accept_retry_(strand_),
      drain_deadline_(strand_),
      max_connections_(max_connections),
      what_(std::move(what)),
      pool_name_(std::move(pool_name)) {}

error_code LocalAcceptor::listen(const tcp::endpoint& endpoint) {
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

void LocalAcceptor::start(AcceptHandler on_accept) {
  asio::dispatch(strand_, [self = shared_from_this(), on_accept = std::move(on_accept)]() mutable {
    if (self->stopped_ || self->accepting_) return;
    self->on_accept_ = std::move(on_accept);
    self->accepting_ = true;
    self->accept_next();
  });
}

void LocalAcceptor::stop_accepting() {
  asio::dispatch(strand_, [self = shared_from_this()] { self->stop_on_strand(); });
}

void LocalAcceptor::stop_on_strand() {
  if (stopped_) return;
  stopped_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
}

void LocalAcceptor::accept_next() {
  // Each connection gets a strand of its own: its handlers never run concurrently, yet different
  // connections may proceed in parallel on a multi-threaded io_context.
  acceptor_.async_accept(asio::make_strand(executor_), [self = shared_from_this()](const error_code& error,
                                                                                   tcp::socket socket) {
    self->on_accept(error, std::move(socket));
  });
}

void LocalAcceptor::on_accept(const error_code& error, tcp::socket socket) {
  if (stopped_) return;  // `socket`, if any, closes as it goes out of scope
  if (error) {
    log_pool(spdlog::level::warn, pool_name_, 0,
             fmt::format("{} on port {}: accept failed: {}", what_, local_endpoint_.port(), error.message()));
    accept_retry_.expires_after(accept_retry_delay);
    accept_retry_.async_wait([self = shared_from_this()](const error_code& wait_error) {
      if (!wait_error && !self->stopped_) self->accept_next();
    });
    return;
  }
  // Only this strand adds to open_; accepting stops at the cap (below), so every accepted
  // connection has a slot.
  open_.fetch_add(1);
  accepted_.fetch_add(1, std::memory_order_relaxed);
  on_accept_(std::move(socket));
  if (open_.load() >= max_connections_.load()) {
    // At the cap, stop accepting rather than accept to refuse: further clients wait in the
    // kernel's backlog, holding none of this process's descriptors (which the pool's upstream
    // connections need), until a connection closes.
    accept_paused_ = true;
    pauses_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  accept_next();
}

void LocalAcceptor::connection_closed() {
  open_.fetch_sub(1);
  asio::dispatch(strand_, [self = shared_from_this()] { self->on_slot_released(); });
}

void LocalAcceptor::set_max_connections(std::size_t max_connections) {
  if (max_connections == 0) return;
  max_connections_.store(max_connections);
  // on_accept() pauses at the cap it reads after each accept; a raised cap resumes here.
  asio::dispatch(strand_, [self = shared_from_this()] { self->on_slot_released(); });
}

void LocalAcceptor::on_slot_released() {
  if (draining_) return finish_drain_if_empty();
  if (!accept_paused_ || stopped_ || open_.load() >= max_connections_.load()) return;
  accept_paused_ = false;
  accept_next();
}

void LocalAcceptor::async_drain(std::chrono::milliseconds grace, DrainSteps steps, std::function<void()> done) {
  asio::dispatch(strand_, [self = shared_from_this(), grace, steps = std::move(steps), done = std::move(done)]() mutable {
    self->stop_on_strand();
    self->drain_done_.push_back(std::move(done));
    if (!self->draining_) {
      self->draining_ = true;
      if (steps.begin) steps.begin();
      self->drain_deadline_.expires_after(grace);
      self->drain_deadline_.async_wait([self, deadline = std::move(steps.deadline)](const error_code& error) {
        if (!error && self->draining_ && deadline) deadline();
      });
    }
    // Posted, never inline: `done` must not run inside async_drain, even with nothing open.
    asio::post(self->strand_, [self] { self->finish_drain_if_empty(); });
  });
}

void LocalAcceptor::finish_drain_if_empty() {
  if (!draining_ || open_.load() > 0) return;
  drain_deadline_.cancel();
  std::vector<std::function<void()>> done;
  done.swap(drain_done_);
  for (auto& callback : done) {
    if (callback) asio::post(executor_, std::move(callback));
  }
}

}  // namespace securechannel::daemon
