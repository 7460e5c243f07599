#include "http/websocket_session_impl.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/http/status.hpp>

namespace securechannel {
namespace {

class UpgradeCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "securechannel.websocket_upgrade"; }
  std::string message(int status) const override {
    const auto reason = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
    return "WebSocket upgrade rejected: HTTP " + std::to_string(status) + " " + std::string(reason);
  }
  bool equivalent(int, const boost::system::error_condition& condition) const noexcept override {
    return condition == boost::beast::websocket::condition::handshake_failed;
  }
};

}  // namespace

const boost::system::error_category& websocket_upgrade_category() noexcept {
  static const UpgradeCategory category;
  return category;
}


}  // namespace securechannel

namespace securechannel::detail {
namespace {

std::string default_host(const PoolConfig& config) {
  if (config.port != "443") return config.endpoint;
  return config.host.find(':') != std::string::npos ? "[" + config.host + "]" : config.host;
}

ReconnectBackoff make_backoff(const PoolConfig& config, const WebSocketClientOptions& options) {
  const auto base = options.reconnect_backoff_base.count() > 0 ? options.reconnect_backoff_base
                                                                : config.reconnect_backoff_base;
  const auto max = options.reconnect_backoff_max.count() > 0 ? options.reconnect_backoff_max
                                                              : config.reconnect_backoff_max;
  auto random = options.random ? options.random : config.random;
  if (!random) random = std::make_shared<DefaultRandomSource>();
  return ReconnectBackoff(base, max, std::move(random));
}

}  // namespace

WebSocketSession::WebSocketSession(std::shared_ptr<SecureChannelPool> pool, WebSocketClientOptions options)
    : pool_(std::move(pool)),
      options_(std::move(options)),
      strand_(asio::make_strand(pool_->get_executor())),
      backoff_(make_backoff(pool_->config(), options_)),
      backoff_timer_(strand_),
      host_(options_.host.empty() ? default_host(pool_->config()) : options_.host) {}

void WebSocketSession::transition(State to) {
  state_ = to;
  counters_.connected.store(to == State::open, std::memory_order_relaxed);
}

void WebSocketSession::connect(std::string target, WebSocketClient::ConnectHandler handler) {
  switch (state_) {
    case State::idle:
    case State::closed:
      break;
    case State::open:
      return complete(std::move(handler), error_code(asio::error::already_connected));
    case State::connecting:
    case State::draining:
    case State::backing_off:
    case State::reconnecting:
    case State::closing:
      return complete(std::move(handler), error_code(asio::error::already_started));
  }
  target_ = std::move(target);
  connect_handler_.emplace(std::move(handler));
  transition(State::connecting);
  start_attempt();
}

void WebSocketSession::start_attempt() {
  acquiring_ = true;
  pool_->async_acquire(asio::bind_executor(strand_, [self = shared_from_this()](error_code error, Lease lease) {
    self->on_lease(error, std::move(lease));
  }));
}

void WebSocketSession::on_lease(error_code error, Lease lease) {
  acquiring_ = false;
  if (lease) lease.mark_broken();  // a connection that carried WebSocket never goes back idle
  if (state_ == State::closing) return after_operation();  // the lease goes back (and is closed) here
  if (error) return on_attempt_failed(error);

  stream_ = std::make_unique<WebSocketStream>(std::move(lease));
  // The control callback runs inside our reads, on the strand; the stream never outlives the
  // session's reads, nor the counters.
  setup_client_stream(*stream_, options_, counters_);
  upgrade_response_ = {};
  handshaking_ = true;
  stream_->async_handshake(upgrade_response_, host_, target_,
                           asio::bind_executor(strand_, [self = shared_from_this()](error_code handshake_error) {
                             self->on_handshake(handshake_error);
                           }));
}

void WebSocketSession::on_handshake(error_code error) {
  handshaking_ = false;
  if (state_ == State::closing) return after_operation();
  if (error == websocket::error::upgrade_declined && upgrade_response_.result_int() != 101) {
    error = error_code(static_cast<int>(upgrade_response_.result_int()), websocket_upgrade_category());
  }
  if (error) {
    discard_stream();
    return on_attempt_failed(error);
  }
  on_open();
}

void WebSocketSession::on_attempt_failed(error_code error) {
  if (state_ == State::connecting) {  // the first connect is the caller's to retry
    transition(State::closed);
    fail_queued(error);
    return complete_connect(error);
  }
  add(counters_.reconnect_failures);
  ++failed_attempts_;
  if (options_.max_reconnect_attempts != 0 && failed_attempts_ >= options_.max_reconnect_attempts) {
    transition(State::closed);
    return fail_queued(error);
  }
  schedule_reconnect();
}

void WebSocketSession::on_open() {
  const bool reconnected = state_ == State::reconnecting;
  transition(State::open);
  failed_attempts_ = 0;
  if (reconnected) {
    add(counters_.reconnects);
  } else {
    complete_connect(error_code{});
  }
  start_read();
  pump_sends();
}

void WebSocketSession::schedule_reconnect() {
  transition(State::backing_off);
  const auto delay = backoff_.delay_after(failed_attempts_ + 1);
  counters_.last_reconnect_delay_ms.store(delay.count(), std::memory_order_relaxed);
  backoff_timer_.expires_after(delay);
  backoff_timer_.async_wait([self = shared_from_this()](error_code error) {
    if (error || self->state_ != State::backing_off) return;  // cancelled by close or abandon
    self->transition(State::reconnecting);
    self->start_attempt();
  });
}


void WebSocketSession::on_connection_lost(error_code error) {
  add(counters_.connections_lost);
  transition(State::draining);
  abort_stream();  // ends a write still in flight; it fails with its own error
  for (auto& receiver : receivers_) complete(std::move(receiver), error, WebSocketMessage{});
  receivers_.clear();
  after_operation();
}

void WebSocketSession::abort_stream() {
  if (stream_) beast_close_socket(stream_->next_layer());
}

void WebSocketSession::close(WebSocketClient::CloseHandler handler) {
  switch (state_) {
    case State::idle:
    case State::closed:
      return complete(std::move(handler), error_code{});
    case State::closing:
      close_handlers_.push_back(std::move(handler));
      return;
    case State::open:
      close_handlers_.push_back(std::move(handler));
      transition(State::closing);
      fail_queued(asio::error::operation_aborted);
      closing_op_ = true;
      stream_->async_close(websocket::close_code::normal,
                           asio::bind_executor(strand_, [self = shared_from_this()](error_code error) {
                             self->on_close_frame_sent(error);
                           }));
      return;
    case State::connecting:
    case State::draining:
    case State::backing_off:
    case State::reconnecting:
      close_handlers_.push_back(std::move(handler));
      if (state_ == State::connecting) complete_connect(asio::error::operation_aborted);
      transition(State::closing);
      fail_queued(asio::error::operation_aborted);
      backoff_timer_.cancel();
      abort_stream();  // a handshake in progress ends with an error
      return after_operation();
  }
}

void WebSocketSession::on_close_frame_sent(error_code error) {
  closing_op_ = false;
  close_error_ = error;
  after_operation();
}

void WebSocketSession::abandon() {
  if (state_ == State::connecting) complete_connect(asio::error::operation_aborted);
  const bool idle = state_ == State::idle || state_ == State::closed;
  transition(State::closing);
  fail_queued(asio::error::operation_aborted);
  backoff_timer_.cancel();
  abort_stream();
  if (idle) return finish_close();
  after_operation();
}

void WebSocketSession::after_operation() {
  if (operations_pending()) return;
  switch (state_) {
    case State::draining:
      discard_stream();
      return schedule_reconnect();
    case State::closing:
      discard_stream();
      return finish_close();
    case State::idle:
    case State::connecting:
    case State::open:
    case State::backing_off:
    case State::reconnecting:
    case State::closed:
      return;
  }
}

void WebSocketSession::discard_stream() {
  if (!stream_) return;
  // We may be inside one of the stream's own completions: destroy it (and with it return the
  // broken lease to the pool) after this handler has returned.
  asio::post(strand_, [stream = std::move(stream_)]() mutable { stream.reset(); });
}

void WebSocketSession::fail_queued(error_code error) {
  // A send being written stays at the front until its write completes.
  const std::size_t in_flight = writing_ ? 1 : 0;
  while (sends_.size() > in_flight) {
    complete(std::move(sends_.back().handler), error, std::size_t{0});
    sends_.pop_back();
  }
  for (auto& receiver : receivers_) complete(std::move(receiver), error, WebSocketMessage{});
  receivers_.clear();
}

void WebSocketSession::finish_close() {
  transition(State::closed);
  for (auto& handler : close_handlers_) complete(std::move(handler), std::exchange(close_error_, {}));
  close_handlers_.clear();
}

// The entry points: each hops onto the strand, so nothing completes inside the caller's call.

std::shared_ptr<WebSocketSession> make_websocket_session(std::shared_ptr<SecureChannelPool> pool,
                                                         WebSocketClientOptions options) {
  return std::make_shared<WebSocketSession>(std::move(pool), std::move(options));
}

void post_connect(const std::shared_ptr<WebSocketSession>& session, std::string target,
                  WebSocketClient::ConnectHandler handler) {
  asio::post(session->strand(), [session, target = std::move(target), handler = std::move(handler)]() mutable {
    session->connect(std::move(target), std::move(handler));
  });
}

void post_send(const std::shared_ptr<WebSocketSession>& session, std::string payload, WebSocketMessageType type,
               WebSocketClient::SendHandler handler) {
  asio::post(session->strand(), [session, payload = std::move(payload), type, handler = std::move(handler)]() mutable {
    session->send(std::move(payload), type, std::move(handler));
  });
}

void post_receive(const std::shared_ptr<WebSocketSession>& session, WebSocketClient::ReceiveHandler handler) {
  asio::post(session->strand(), [session, handler = std::move(handler)]() mutable { session->receive(std::move(handler)); });
}

void post_close(const std::shared_ptr<WebSocketSession>& session, WebSocketClient::CloseHandler handler) {
  asio::post(session->strand(), [session, handler = std::move(handler)]() mutable { session->close(std::move(handler)); });
}

void post_abandon(const std::shared_ptr<WebSocketSession>& session) {
  asio::post(session->strand(), [session] { session->abandon(); });
}


}  // namespace securechannel::detail
