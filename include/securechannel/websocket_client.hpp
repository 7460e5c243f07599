// WebSocketClient: one wss:// connection over a pooled, verified TLS connection, with keep-alive
// pings, a close handshake, and automatic reconnection with backoff when the peer drops it.
//
//   auto client = securechannel::WebSocketClient(pool);   // Host: the pool's endpoint
//   client.async_connect("/v1/stream", [&](boost::system::error_code ec) {
//     if (ec) return;  // e.g. "WebSocket upgrade rejected: HTTP 404 Not Found"
//     client.async_send("subscribe", securechannel::WebSocketMessageType::text,
//                       [](boost::system::error_code, std::size_t) {});
//     client.async_receive([](boost::system::error_code ec, securechannel::WebSocketMessage m) {
//       if (!ec) use(m.type, m.payload);
//     });
//   });
//
// Semantics (docs/WEBSOCKET.md):
// - The client reads in the background from the moment it is connected, so pings are answered,
//   keep-alive works and a dropped connection is noticed even when no receive is pending.
//   Received messages wait in an inbox (at most max_queued_messages; beyond that the client stops
//   reading until the application receives, which pushes back on the peer through TCP).
// - When the connection drops (I/O error, keep-alive timeout, or a close frame from the peer), a
//   send being written and every pending receive fail with the error (errc::websocket_closed for a
//   close frame), and the client reconnects in the background after a ReconnectBackoff delay.
//   Sends not yet started wait for the new connection; receives started later wait for its
//   messages. Nothing is resent: a send that failed reports it, and success means the frame was
//   handed to TLS, not that the peer read it.
// - The leased connection never goes back to the pool idle: it is marked broken when leased.
//
// Thread-safety: every member function may be called from any thread; the state lives on a
// strand. Completion handlers run on their associated executor (default: the strand), never
// inside the initiating call. Destroying the client aborts the connection and completes pending
// operations with asio::error::operation_aborted; no handler runs after that with a dangling
// client (pending operations keep the internal state alive).
#pragma once

#include "securechannel/clock.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace securechannel {

enum class WebSocketMessageType {
  text,    // UTF-8 text frames (validated by the receiving side)
  binary,  // arbitrary bytes
};

struct WebSocketMessage {
  WebSocketMessageType type = WebSocketMessageType::text;
  std::string payload;
};

struct WebSocketClientOptions {
  // The Host header and handshake host; empty: the pool's endpoint host (with ":port" unless 443).
  std::string host;
  // Sent as User-Agent with the upgrade request.
  std::string user_agent = "securechannel-websocket";
  // The WebSocket opening and closing handshakes each must finish within this.
  std::chrono::milliseconds handshake_timeout{10'000};
  // Keep-alive: after idle_timeout / 2 without a frame from the peer the client sends a ping;
  // with still nothing received by idle_timeout the connection counts as dropped and is
  // replaced. 0 disables pings and the timeout.
  std::chrono::milliseconds idle_timeout{30'000};
  // Received messages held for the application before the client stops reading (TCP then
  // slows the peer down): at most this many, and at most max_queued_bytes of payload (the
  // message that crosses it is kept). The inbox's memory is bounded by
  // max_queued_bytes + max_message_size whatever the peer sends.
  std::size_t max_queued_messages = 1024;
  std::size_t max_queued_bytes = 64 * 1024 * 1024;
  // Larger incoming messages fail the connection (Beast's read_message_max).
  std::size_t max_message_size = 16 * 1024 * 1024;
  // Reconnect delays: ReconnectBackoff(base, max, random), full jitter. A null random uses the
  // pool's RandomSource (PoolConfig::random), and zero durations the pool's backoff settings.
  std::chrono::milliseconds reconnect_backoff_base{0};
  std::chrono::milliseconds reconnect_backoff_max{0};
  std::shared_ptr<RandomSource> random;
  // Consecutive failed reconnect attempts before the client gives up (state closed, pending and
  // queued operations fail with the last error). 0: never give up.
  unsigned max_reconnect_attempts = 0;
};

// Counters of one client, across its reconnects. A snapshot: readable from any thread.
struct WebSocketStats {
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_sent = 0;      // payload bytes, frame headers excluded
  std::uint64_t messages_received = 0;
  std::uint64_t bytes_received = 0;  // payload bytes
  std::uint64_t reconnects = 0;      // successful reconnections after a drop
  std::uint64_t reconnect_failures = 0;  // failed reconnect attempts
  std::uint64_t connections_lost = 0;    // drops noticed (I/O error, timeout, peer's close frame)
  std::uint64_t pings_received = 0;  // control frames from the peer
  std::uint64_t pongs_received = 0;  // answers to our keep-alive pings
  std::chrono::milliseconds last_reconnect_delay{0};  // the backoff delay before the last attempt
  bool connected = false;            // the WebSocket is open right now
};

namespace detail {
class WebSocketSession;
}

// The error category of a rejected upgrade: the value is the HTTP status the server answered
// instead of 101, and message() names it ("WebSocket upgrade rejected: HTTP 404 Not Found").
// Compares equal to boost::beast::websocket::condition::handshake_failed.
const boost::system::error_category& websocket_upgrade_category() noexcept;

class WebSocketClient {
 public:
  using ConnectHandler = boost::asio::any_completion_handler<void(boost::system::error_code)>;
  using SendHandler = boost::asio::any_completion_handler<void(boost::system::error_code, std::size_t)>;
  using ReceiveHandler = boost::asio::any_completion_handler<void(boost::system::error_code, WebSocketMessage)>;
  using CloseHandler = boost::asio::any_completion_handler<void(boost::system::error_code)>;

  explicit WebSocketClient(std::shared_ptr<SecureChannelPool> pool, WebSocketClientOptions options = {});
  // Aborts the connection (no close handshake; use async_close for one) and fails pending
  // operations with operation_aborted.
  ~WebSocketClient();
  // A moved-from client may only be destroyed.
  WebSocketClient(WebSocketClient&&) noexcept = default;
  WebSocketClient& operator=(WebSocketClient&&) noexcept = delete;
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  // Leases a connection and performs the upgrade to `target` ("/v1/stream?x=1"). Later
  // reconnects use the same target. Handler: void(boost::system::error_code). Errors: the pool's
  // acquire errors, I/O errors, a websocket_upgrade_category() error carrying the HTTP status
  // when the server declines, asio::error::already_connected / already_started when the client
  // is not idle or closed. A failed first connect is not retried.
  template <class Token>
  auto async_connect(std::string target, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [session = session_](auto handler, std::string t) { start_connect(session, std::move(t), ConnectHandler(std::move(handler))); },
        token, std::move(target));
  }

  // Sends one message; the payload is copied, so the buffer need not outlive the call. Sends go
  // out in call order, one at a time. Handler: void(boost::system::error_code, std::size_t
  // payload_bytes). Errors: the I/O error that dropped the connection while this message was
  // being written; asio::error::not_connected before async_connect succeeded or after close;
  // operation_aborted when the client is closed or destroyed first.
  template <class Token>
  auto async_send(boost::asio::const_buffer payload, WebSocketMessageType type, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [session = session_](auto handler, std::string p, WebSocketMessageType t) {
          start_send(session, std::move(p), t, SendHandler(std::move(handler)));
        },
        token, std::string(static_cast<const char*>(payload.data()), payload.size()), type);
  }
  template <class Token>
  auto async_send(std::string_view payload, WebSocketMessageType type, Token&& token) {
    return async_send(boost::asio::buffer(payload.data(), payload.size()), type, std::forward<Token>(token));
  }

  // The next received message, in arrival order. Handler: void(boost::system::error_code,
  // WebSocketMessage). Errors: errc::websocket_closed when the peer sent a close frame, the I/O
  // error when the connection dropped (both while this receive was pending), not_connected,
  // operation_aborted when the client is closed or destroyed first.
  template <class Token>
  auto async_receive(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, WebSocketMessage)>(
        [session = session_](auto handler) { start_receive(session, ReceiveHandler(std::move(handler))); }, token);
  }

  // The close handshake (status 1000, normal): waits for the peer's close frame, then the leased
  // connection is closed (never reused). Sends not yet started and pending receives fail with
  // operation_aborted; a background reconnect is abandoned. Handler:
  // void(boost::system::error_code); success when the client is already closed.
  template <class Token>
  auto async_close(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [session = session_](auto handler) { start_close(session, CloseHandler(std::move(handler))); }, token);
  }

  WebSocketStats stats() const;

 private:
  static void start_connect(const std::shared_ptr<detail::WebSocketSession>& session, std::string target,
                            ConnectHandler handler);
  static void start_send(const std::shared_ptr<detail::WebSocketSession>& session, std::string payload,
                         WebSocketMessageType type, SendHandler handler);
  static void start_receive(const std::shared_ptr<detail::WebSocketSession>& session, ReceiveHandler handler);
  static void start_close(const std::shared_ptr<detail::WebSocketSession>& session, CloseHandler handler);

  std::shared_ptr<detail::WebSocketSession> session_;
};

}  // namespace securechannel
