// One connection to the monitoring server: reads requests (header only; these endpoints take no
// body), checks them, asks the handler, writes the answer, and keeps the connection alive or
// closes it. Every operation runs on the connection's own strand; every wait has a deadline.
//
// Timeouts: the header deadline is a timer of our own that cancels the read, because
// beast::tcp_stream closes the socket when its deadline passes and a 408 could no longer be sent.
// The idle, write and linger deadlines are the tcp_stream's (closing is what they should do).
#pragma once

#include "core/weak_registry.hpp"
#include "monitor/auth_failure_limiter.hpp"
#include "securechannel/monitoring_server.hpp"
#include "securechannel/secure_buffer.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <array>
#include <atomic>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

namespace securechannel::monitor {

class MonitoringSession;

// What the connections of one server share. Lives as long as the server or its last connection.
struct ServerContext {
 private:
  // The expected X-Auth-Token, in locked memory (shared with the pool config it came from).
  // Declared first: it is moved out of the options before they are stored below.
  const SharedSecret auth_token_;

 public:
  ServerContext(MonitoringServerOptions server_options, MonitoringHandler request_handler);

  // So that stop() can close them: each session adds itself when accepted and removes itself
  // when destroyed.
  detail::WeakRegistry<MonitoringSession> sessions;
  void close_all();

  bool requires_token(std::string_view target) const;

  // HTTPS: the certificate new connections present (null: plain HTTP). Replaced by a reload.
  std::shared_ptr<MonitoringTls> tls() const;
  void set_tls(std::shared_ptr<MonitoringTls> tls);
  // SecureBuffer::equals: the time taken depends neither on where the tokens first differ nor
  // on the expected token's length, only on the presented one's.
  bool token_matches(std::string_view presented) const;
  // Failed token attempts by client address (MonitoringServerOptions::auth_failures_allowed).
  AuthFailureLimiter auth_failures;

  // auth_token null: it lives in auth_token_. tls: the certificate the server started with; tls()
  // is the current one.
  const MonitoringServerOptions options;
  const MonitoringHandler handler;

  std::atomic<std::uint64_t> requests_served{0};
  std::atomic<std::uint64_t> rejected_unauthorized{0};
  std::atomic<std::uint64_t> rejected_rate_limited{0};
  std::atomic<std::uint64_t> accept_pauses{0};
  std::atomic<std::uint64_t> timed_out{0};
  std::atomic<std::uint64_t> bad_requests{0};
  std::atomic<std::uint64_t> handler_failures{0};
  std::atomic<std::uint64_t> tls_handshake_failures{0};
  // Served connections whose socket is open; the acceptor checks it against max_connections.
  std::atomic<std::size_t> open_connections{0};
  // A session's socket closed: its slot is free. Tells the server, which resumes accepting if
  // it had paused at the cap.
  void release_slot();
  // Set by the server before it accepts anything; called after every release_slot().
  std::function<void()> slot_released;

 private:
  mutable std::mutex tls_mutex_;
  std::shared_ptr<MonitoringTls> tls_;
};

class MonitoringSession : public std::enable_shared_from_this<MonitoringSession> {
 public:
  // `socket` must use its own strand (the acceptor hands out sockets on make_strand()). The
  // session holds one of the server's max_connections slots until its socket closes.
  MonitoringSession(boost::asio::ip::tcp::socket socket, std::shared_ptr<ServerContext> context);
  ~MonitoringSession();
  MonitoringSession(const MonitoringSession&) = delete;
  MonitoringSession& operator=(const MonitoringSession&) = delete;

  // Over HTTPS the TLS handshake comes first, within read_timeout.
  void start();
  // From any thread: closes the socket on the connection's strand.
  void close();

 private:
  enum class State {
    Starting,         // constructed, start() not yet run on the strand
    Handshaking,      // HTTPS: the TLS handshake, within read_timeout
    AwaitingRequest,  // keep-alive: waiting up to idle_timeout for the next request's first byte
    ReadingHeader,    // a request has begun (or the connection is new): header due within read_timeout
    Writing,          // a response is being written, within write_timeout
    Lingering,        // our side is shut down; discarding what the client still sends until it closes
    Closed,           // socket closed; pending handlers only unwind
  };
  enum class AfterResponse { KeepAlive, Close };

  void transition(State next);
  void on_handshake(const boost::system::error_code& error);
  void read_next_request();
  void read_header();
  void on_header_deadline(const boost::system::error_code& error, std::uint64_t generation);
  void on_header(const boost::system::error_code& error);
  void handle_request();
  // The 401 or 429 for a request that needs the token and lacks it; nullopt when it may pass.
  std::optional<MonitoringResponse> refuse_without_token();
  MonitoringResponse call_handler(std::string_view method, std::string_view target);
  void respond(MonitoringResponse answer, AfterResponse after, bool head_request = false);
  void on_written(const boost::system::error_code& error);
  void linger();
  void discard_until_closed();
  void close_now();

  // Calls `operation` with the stream requests and responses go through: the TLS stream over
  // HTTPS, the TCP stream otherwise. Deadlines and closing always act on the TCP stream.
  template <class Operation>
  void with_stream(Operation&& operation) {
    if (tls_stream_) {
      operation(*tls_stream_);
    } else {
      operation(stream_);
    }
  }

  boost::beast::tcp_stream stream_;
  boost::asio::ip::address client_address_;  // what failed token attempts are counted by
  std::shared_ptr<MonitoringTls> tls_;  // keeps the context tls_stream_ was made from alive
  std::optional<boost::asio::ssl::stream<boost::beast::tcp_stream&>> tls_stream_;
  boost::asio::steady_timer header_deadline_;
  std::shared_ptr<ServerContext> context_;
  State state_ = State::Starting;
  bool first_request_ = true;
  bool header_timed_out_ = false;
  std::uint64_t header_generation_ = 0;  // tells a stale deadline from the current one
  AfterResponse after_response_ = AfterResponse::Close;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::empty_body>> parser_;
  boost::beast::http::response<boost::beast::http::string_body> response_;
};

}  // namespace securechannel::monitor
