// The WebSocketSession class, shared by the two files that implement it:
// websocket_session.cpp (connection lifecycle: connect, reconnect, close) and
// websocket_messages.cpp (reading, sending, receiving). Includes Beast's WebSocket: only those
// two translation units may include it.
#pragma once

#include "http/websocket_session.hpp"
#include "http/websocket_stream_setup.hpp"

#include "securechannel/error.hpp"
#include "securechannel/reconnect_backoff.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <atomic>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

namespace securechannel {

// How Beast's WebSocket ends the transport under it (found by argument-dependent lookup).
// A Lease is never reused after WebSocket, so there is nothing to hand back cleanly: the lease
// is marked broken and the pool closes the connection, with close_notify, when it comes back.
inline void teardown(boost::beast::role_type, Lease& lease, boost::system::error_code& error) {
  lease.mark_broken();
  error = {};
}

template <class TeardownHandler>
void async_teardown(boost::beast::role_type, Lease& lease, TeardownHandler&& handler) {
  lease.mark_broken();
  // Beast requires the handler not to run inside this call.
  boost::asio::post(lease.get_executor(),
                    boost::beast::bind_front_handler(std::forward<TeardownHandler>(handler), boost::system::error_code{}));
}

// Beast's timeouts (handshake, keep-alive) close the lowest layer to end pending operations.
// abort() wakes pending waits with an error but keeps the descriptor until the pool closes it,
// so its number cannot be reused under an operation still in flight.
inline void beast_close_socket(Lease& lease) {
  lease.mark_broken();
  lease.abort();
}

}  // namespace securechannel

namespace securechannel::detail {

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;
using boost::system::error_code;
// No permessage-deflate: it costs memory per connection and build time, and few upstreams of a
// connection pool (exchange and relay APIs) rely on it.
using WebSocketStream = websocket::stream<Lease, false>;

// A close frame from the peer is our own error; everything else is reported as it came.
inline error_code drop_error(const error_code& error) {
  if (error == websocket::error::closed) return make_error_code(errc::websocket_closed);
  return error;
}

class WebSocketSession : public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(std::shared_ptr<SecureChannelPool> pool, WebSocketClientOptions options);

  const asio::any_io_executor& strand() const { return strand_; }
  const Counters& counters() const { return counters_; }

  void connect(std::string target, WebSocketClient::ConnectHandler handler);
  void send(std::string payload, WebSocketMessageType type, WebSocketClient::SendHandler handler);
  void receive(WebSocketClient::ReceiveHandler handler);
  void close(WebSocketClient::CloseHandler handler);
  void abandon();

 private:
  enum class State {
    idle,          // never connected; sends and receives fail with not_connected
    connecting,    // the first connect: acquiring a lease, then the upgrade; sends queue up
    open,          // the WebSocket is open and the reader runs
    draining,      // the connection dropped; waiting for its operations to end before reconnecting
    backing_off,   // waiting the backoff delay before the next reconnect attempt
    reconnecting,  // acquiring a lease and upgrading again; sends and receives wait
    closing,       // close handshake (or abort) under way; waiting for operations to end
    closed,        // no connection after a close or a failure; async_connect may start again
  };

  struct PendingSend {
    std::string payload;
    WebSocketMessageType type;
    WebSocketClient::SendHandler handler;
  };

  // Posts the handler to its associated executor (default: the strand), so it never runs inside
  // the state change that completes it.
  template <class Handler, class... Args>
  void complete(Handler handler, Args... args) {
    asio::post(strand_, asio::append(std::move(handler), std::move(args)...));
  }

  void complete_connect(error_code error) {
    if (!connect_handler_) return;
    complete(std::move(*connect_handler_), error);
    connect_handler_.reset();
  }

  void transition(State to);
  bool operations_pending() const { return acquiring_ || handshaking_ || reading_ || writing_ || closing_op_; }

  void start_attempt();
  void on_lease(error_code error, Lease lease);
  void on_handshake(error_code error);
  void on_attempt_failed(error_code error);
  void on_open();
  void schedule_reconnect();

  void start_read();
  void on_read(error_code error);
  void pump_sends();
  void on_write(error_code error);
  void on_close_frame_sent(error_code error);

  void on_connection_lost(error_code error);
  void abort_stream();
  // Called whenever an operation ends: moves on from draining or closing once none is left.
  void after_operation();
  void discard_stream();
  void fail_queued(error_code error);
  void finish_close();

  std::shared_ptr<SecureChannelPool> pool_;
  const WebSocketClientOptions options_;
  // A strand, type-erased: Beast's saved handlers cannot track work on strand<any_io_executor>.
  asio::any_io_executor strand_;
  ReconnectBackoff backoff_;
  asio::steady_timer backoff_timer_;
  const std::string host_;
  std::string target_;

  State state_ = State::idle;
  std::unique_ptr<WebSocketStream> stream_;
  websocket::response_type upgrade_response_;
  boost::beast::flat_buffer read_buffer_;
  bool acquiring_ = false;
  bool handshaking_ = false;
  bool reading_ = false;
  bool writing_ = false;     // sends_.front() is being written
  bool closing_op_ = false;  // Beast's close handshake is running
  unsigned failed_attempts_ = 0;  // consecutive failed reconnect attempts
  error_code close_error_;

  // Optional because Boost 1.81's any_completion_handler move-assignment recurses forever:
  // handlers are only ever move-constructed here.
  std::optional<WebSocketClient::ConnectHandler> connect_handler_;
  std::vector<WebSocketClient::CloseHandler> close_handlers_;
  std::deque<PendingSend> sends_;
  std::deque<WebSocketClient::ReceiveHandler> receivers_;
  std::deque<WebSocketMessage> inbox_;
  std::size_t inbox_bytes_ = 0;  // payload bytes in inbox_ (max_queued_bytes)
  Counters counters_;
};

}  // namespace securechannel::detail
