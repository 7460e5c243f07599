// One local connection of the http listener: reads a request (header, then body, each within its
// limits), forwards it through the HttpClient, writes the response back, and keeps the connection
// alive or closes it. Every operation runs on the connection's own strand; every wait on the
// local client has a deadline, and the upstream exchange has the request timeout.
//
// Deadlines: one time point per connection, moved by each step (idle, header, body, write,
// linger), and one timer that is re-armed only when the time point moves earlier than the timer
// was set for; when it fires early it re-arms for the time point. A request costs no timer
// operation in the common case (Beast's tcp_stream arms and cancels one per read and write).
// Passing the header deadline cancels the read so that a 408 can be sent; passing any other
// closes the connection (http_forward_session_close.cpp).
#pragma once

#include "daemon/forward_context.hpp"
#include "securechannel/http_message.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace securechannel::daemon {

class HttpForwardSession : public std::enable_shared_from_this<HttpForwardSession> {
 public:
  // `socket` must use its own strand (the acceptor hands out sockets on make_strand()). The
  // session holds one of the listener's max_connections slots until its socket closes.
  HttpForwardSession(boost::asio::ip::tcp::socket socket, std::shared_ptr<ForwardContext> context,
                     std::uint64_t connection_id);
  ~HttpForwardSession();
  HttpForwardSession(const HttpForwardSession&) = delete;
  HttpForwardSession& operator=(const HttpForwardSession&) = delete;

  void start();
  // From any thread, on the connection's strand: close() at once; drain() closes an idle
  // connection at once and a busy one after its response.
  void close();
  void drain();

 private:
  enum class State {
    Starting,         // constructed, start() not yet run on the strand
    AwaitingRequest,  // keep-alive: waiting up to idle_timeout for the next request's first byte
    ReadingHeader,    // a request has begun (or the connection is new): header due within header_timeout
    ReadingBody,      // header accepted; the body arrives with no pause longer than idle_timeout
    Forwarding,       // the request is with the HttpClient; nothing is read from the local client
    Writing,          // a response is being written, with no pause longer than idle_timeout
    Lingering,        // our side is shut down; discarding what the client still sends until it closes
    Closed,           // socket closed; pending handlers only unwind
  };
  enum class AfterResponse { KeepAlive, Close };

  void transition(State next);
  void read_next_request();
  void read_header();
  // The header is parsed from the bytes at hand first: a header that came in one piece (nearly
  // every one) needs no further read, and so no header deadline.
  bool header_complete_in_buffer(boost::system::error_code& error);
  void on_header(const boost::system::error_code& error);
  void check_request();
  void read_body();
  void on_body(const boost::system::error_code& error);
  void forward();
  // Sends the request to an endpoint the group picks (never `avoid`); false when there is none.
  bool send_upstream(const UpstreamGroup::Member* avoid = nullptr);
  void on_upstream_response(const boost::system::error_code& error, HttpResponse&& response);
  // An idempotent request that failed before any response on `failed`, sent once more to
  // another endpoint (with an affinity key too: the key's endpoint failed it).
  bool retry_elsewhere(const boost::system::error_code& error, const UpstreamGroup::Member* failed);
  // Our own 4xx/501: the request is not forwarded and the connection closes after the answer.
  void reject(unsigned status, std::string_view error, std::string_view message);
  void respond(HttpResponse response, AfterResponse after);
  void on_written(const boost::system::error_code& error);
  bool further_request_arrived() const;
  void linger();
  void discard_until_closed();
  void close_now();

  void expire_after(std::chrono::steady_clock::duration limit);
  void expire_never() { deadline_ = std::chrono::steady_clock::time_point::max(); }
  void arm_deadline_timer(std::chrono::steady_clock::time_point at);
  void on_deadline_timer(const boost::system::error_code& error, std::chrono::steady_clock::time_point armed_for);

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer deadline_timer_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point timer_at_{};  // what deadline_timer_ waits for; {} when idle
  std::shared_ptr<ForwardContext> context_;
  const std::shared_ptr<const HttpForwardOptions> options_;  // as they were when it was accepted
  const std::uint64_t connection_id_;
  std::string peer_address_;  // for X-Forwarded-For and the log
  std::shared_ptr<const HttpRequest> upstream_request_;  // kept for a retry on another endpoint
  std::string affinity_key_;  // the request's affinity header, when the listener has one
  UpstreamGroup::Pick pick_;
  bool retried_ = false;
  State state_ = State::Starting;
  bool first_request_ = true;
  bool header_timed_out_ = false;
  bool draining_ = false;
  bool head_request_ = false;
  bool keep_alive_requested_ = false;  // the local request allows keep-alive (HTTP/1.1, no close)
  AfterResponse after_response_ = AfterResponse::Close;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  HttpResponse response_;
  std::string response_head_;  // its status line and fields; the capacity stays for the next
};

}  // namespace securechannel::daemon
