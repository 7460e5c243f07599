// MonitoringServer: the small HTTP/1.1 server that carries the monitoring endpoints. It knows
// nothing about their content: every request that passes its checks goes to a handler
// (MonitoredPools::handle, or anything with the same signature). It owns the transport's duties:
// authentication, connection and header limits, timeouts, and the JSON errors for each.
//
//   boost::system::error_code error;
//   auto server = securechannel::MonitoringServer::create(io.get_executor(), options,
//                                                         [](const MonitoringRequest& r) { return ...; }, error);
//   if (!server) fail(error);                          // e.g. address_in_use: nothing thrown
//   server->start();                                   // explicit: nothing is accepted before
//   ...
//   server->stop();                                    // acceptor and every connection closed
//
// Answers of its own (docs/MONITORING.md), all with a JSON body {"error": "...", "message": "..."}:
// 400 malformed request or a GET/HEAD with a body, 401 missing or wrong token, 408 header not
// complete within read_timeout, 429 too many wrong tokens from one address, 431 header larger
// than max_header_bytes, 500 the handler threw, 503 more than max_connections connections. Every
// response carries Content-Type, Content-Length and Cache-Control: no-store. HEAD gets GET's
// headers without the body.
//
// Thread-safety: all member functions may be called from any thread. The handler runs on the
// server's executor (on one strand per connection, so it may run concurrently with itself on a
// multi-threaded io_context) and must not block.
#pragma once

#include "securechannel/monitoring_tls.hpp"
#include "securechannel/secure_buffer.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace securechannel {

namespace monitor {
struct ServerContext;
}

// What the handler sees. Both views are valid only during the call.
struct MonitoringRequest {
  std::string_view method;  // as sent: "GET", "HEAD", or any other token
  std::string_view target;  // path and query as sent: "/metrics?pool=primary"
};

struct MonitoringResponse {
  unsigned status = 200;  // 100..999; anything else counts as a handler failure (500)
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Allow for a 405
};

using MonitoringHandler = std::function<MonitoringResponse(const MonitoringRequest&)>;

struct MonitoringServerOptions {
  // An IP address literal (no name resolution). Anything but loopback needs auth_token or tls
  // (both, best), or allow_insecure_bind: create() fails with errc::insecure_bind otherwise, and
  // logs a warning for what is still open.
  std::string host = "127.0.0.1";
  std::uint16_t port = 9090;       // 0: the kernel picks a free port; see port()
  // Null or empty: no authentication. Presented as `X-Auth-Token: <token>` or `Authorization:
  // Bearer <token>`. Never logged or echoed.
  SharedSecret auth_token;
  // Null: plain HTTP. Set: HTTPS only, with this certificate (a plain HTTP request fails the
  // handshake and the connection is closed); base_url() says https.
  std::shared_ptr<MonitoringTls> tls;
  // Probe endpoints that need no token: exact path match, the query is ignored.
  std::vector<std::string> unauthenticated_paths = {"/healthz", "/readyz"};
  // Concurrent connections served. At the cap the server stops accepting: more clients wait in
  // the kernel's listen backlog (no descriptor of ours) until a connection closes.
  std::size_t max_connections = 64;
  // From a connection's start, or a keep-alive request's first byte, until its header is complete;
  // then 408 and close.
  std::chrono::milliseconds read_timeout{5000};
  // A keep-alive connection with no request for this long is closed (without a response).
  std::chrono::milliseconds idle_timeout{30000};
  // A client that does not take its response within this long is disconnected.
  std::chrono::milliseconds write_timeout{5000};
  // Request line and header fields together; larger: 431 and close.
  std::size_t max_header_bytes = 8192;
  // Listen on a non-loopback host with neither a token nor TLS anyway (logged as a warning at
  // create()): for a network that is itself trusted, or a proxy in front that authenticates.
  bool allow_insecure_bind = false;
  // Failed token attempts per client address (an IPv6 client by its /64): this many in a row,
  // then one per auth_failure_interval; meanwhile such requests get 429 with Retry-After and
  // the token is not compared. 0: no limit.
  std::uint32_t auth_failures_allowed = 10;
  std::chrono::milliseconds auth_failure_interval{1000};
};

// Cumulative counts since create(), for export as metrics. Each is read with a relaxed load, so
// a snapshot is not atomic across fields.
struct MonitoringServerStats {
  std::uint64_t requests_served = 0;        // requests the handler answered (any status)
  std::uint64_t rejected_unauthorized = 0;  // 401
  std::uint64_t rejected_rate_limited = 0;  // 429: too many failed token attempts from an address
  std::uint64_t accept_pauses = 0;          // times accepting paused at max_connections
  std::uint64_t timed_out = 0;              // 408
  std::uint64_t bad_requests = 0;           // 400 and 431
  std::uint64_t handler_failures = 0;       // 500: the handler threw or returned an invalid status
  std::uint64_t tls_handshake_failures = 0;  // HTTPS: connections closed because the handshake failed
  std::size_t open_connections = 0;         // served connections open now (not counting 503s)
};

class MonitoringServer : public std::enable_shared_from_this<MonitoringServer> {
  struct PrivateTag {};

 public:
  using executor_type = boost::asio::any_io_executor;

  // Binds and listens at once, so that port() is known and bind errors surface here: returns
  // nullptr with `error` set (address_in_use, invalid_argument for a bad host or an empty
  // handler, ...). Accepts nothing until start().
  static std::shared_ptr<MonitoringServer> create(executor_type executor, MonitoringServerOptions options,
                                                  MonitoringHandler handler, boost::system::error_code& error);

  MonitoringServer(PrivateTag, executor_type executor, MonitoringServerOptions options, MonitoringHandler handler);
  ~MonitoringServer();
  MonitoringServer(const MonitoringServer&) = delete;
  MonitoringServer& operator=(const MonitoringServer&) = delete;

  // Starts accepting. Idempotent; does nothing after stop().
  void start();
  // Closes the acceptor and every open connection, including ones mid-request. Idempotent. Runs
  // on the server's strand: inline when called there, otherwise within one turn of the executor.
  void stop();

  // An HTTPS server only: new connections present `tls`, open ones keep the certificate they
  // started with. False, changing nothing, for a plain HTTP server or a null `tls`.
  bool reload_tls(std::shared_ptr<MonitoringTls> tls);

  std::uint16_t port() const noexcept { return local_endpoint_.port(); }
  std::string base_url() const;  // "http://127.0.0.1:PORT", "https://[::1]:PORT"
  std::size_t open_connections() const noexcept;
  MonitoringServerStats stats() const noexcept;
  executor_type get_executor() const noexcept { return executor_; }

 private:
  boost::system::error_code listen(const boost::asio::ip::tcp::endpoint& endpoint);
  void accept_next();
  void on_accept(const boost::system::error_code& error, boost::asio::ip::tcp::socket socket);
  void resume_accepting();  // on the strand, after a session freed its slot
  void stop_on_strand();

  executor_type executor_;
  boost::asio::strand<executor_type> strand_;  // the acceptor and the fields below
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;  // pause after an accept error such as EMFILE
  boost::asio::ip::tcp::endpoint local_endpoint_;
  bool accepting_ = false;
  bool stopped_ = false;
  bool accept_paused_ = false;  // at max_connections: no accept pending until a slot frees
  // Shared with the connections, which may outlive this object by a few handlers.
  std::shared_ptr<monitor::ServerContext> context_;
};

}  // namespace securechannel
