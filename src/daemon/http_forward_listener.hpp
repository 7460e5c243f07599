// HttpForwardListener: the `http` sidecar listener of `scpool serve` (docs/DAEMON.md,
// "Listeners"). Local applications speak plain HTTP/1.1 to it; each request is forwarded through
// the pool's HttpClient, so that many local connections share a few multiplexed upstream HTTP/2
// connections (Envoy's job), and the response is written back. The local side is not trusted:
// every buffer has a byte limit and every wait a deadline (ListenerLimits).
//
//   boost::system::error_code error;
//   auto listener = daemon::HttpForwardListener::create(io.get_executor(),
//                                                      {.host = "127.0.0.1", .port = 8080}, client, error);
//   if (!listener) fail(error);                         // e.g. address_in_use: nothing thrown
//   listener->start();                                  // explicit: nothing is accepted before
//   ...
//   listener->async_drain(std::chrono::seconds(10), [] { /* every local connection closed */ });
//
// Answers of its own, each with a JSON body {"error": "<name>", "message": "..."}:
//   400 malformed request; 408 header not complete within header_timeout; 413 body larger than
//   max_body_bytes; 431 header larger than max_header_bytes; 501 CONNECT or an Upgrade request
//   (WebSocket is not forwarded yet: it needs a tunnel, not a request/response exchange).
// Upstream failures (the HttpClient's error) map to 503 when the pool will not try (circuit_open,
// acquire_timeout, pool_exhausted, shutting_down), 504 for request_timeout, 502 for everything
// else (TLS and certificate failures, connection errors, a malformed upstream response); the
// JSON "error" is the error's stable name (securechannel::error_kind), e.g. "circuit_open".
//
// Hop-by-hop headers (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
// Upgrade, and every header the Connection header names) are removed in both directions. The
// upstream Host (HTTP/2 :authority) is HttpForwardOptions::upstream_authority; the local Host
// goes to X-Forwarded-Host when add_forwarded_headers is set.
//
// Keep-alive is supported; requests are answered one at a time, in order. Pipelining is refused:
// when bytes of a further request arrived in the same read as the request being answered, its
// response is written with `Connection: close` and the connection is closed without answering
// the pipelined request. An unanswered request is one a client must retry on a new connection
// (RFC 9112 9.3.2), so nothing is lost, and no upstream request is ever started for a request
// that may never be answered locally. A request whose bytes arrive while the previous one is
// being forwarded is read once that response is written, and answered like any other.
//
// Thread-safety: all member functions may be called from any thread. Each local connection runs
// on a strand of its own, so connections proceed in parallel on a multi-threaded io_context.
#pragma once

#include "daemon/listener_limits.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace securechannel {
class HttpClient;
}

namespace securechannel::daemon {
class LocalAcceptor;
class UpstreamGroup;
}

namespace securechannel::daemon {

struct ForwardContext;

// On a response to a request that carried the listener's affinity_header: "new_key", "kept" or
// "moved" (AffinityOutcome).
inline constexpr std::string_view affinity_response_header = "X-Securechannel-Affinity";

struct HttpForwardOptions {
  std::string host = "127.0.0.1";  // an IP address literal (no name resolution)
  std::uint16_t port = 0;          // 0: the kernel picks a free port; see local_endpoint()
  ListenerLimits limits;
  // X-Forwarded-For (appended to), X-Forwarded-Proto ("http") and X-Forwarded-Host (the local
  // Host). Off by default: a sidecar's upstream usually should not learn about loopback peers.
  bool add_forwarded_headers = false;
  // One upstream exchange, connection wait and retries included (HttpRequestOptions::timeout);
  // then 504.
  std::chrono::milliseconds request_timeout{30'000};
  // The Host / :authority sent upstream. Empty: the pool's endpoint host, with its port unless
  // that is 443 (what a browser would send for https://endpoint/).
  std::string upstream_authority;
  // Non-empty: a request carrying this header keeps one upstream connection per value (docs/
  // DAEMON.md, "Affinity"): its value is the affinity key, the endpoint is chosen by the key,
  // and the response says in X-Securechannel-Affinity whether the key kept its connection.
  std::string affinity_header;
};

// Cumulative counts since create(), each read with a relaxed load: a snapshot is not atomic
// across fields.
struct HttpForwardStats {
  std::uint64_t connections_accepted = 0;
  std::size_t active_connections = 0;  // local connections whose socket is open now
  std::uint64_t requests = 0;          // local requests whose header was accepted (then forwarded, or
                                       // refused: 501, or 413 for a chunked body over the limit)
  // Final responses written completely to local clients, by status class.
  std::uint64_t responses_2xx = 0;
  std::uint64_t responses_3xx = 0;
  std::uint64_t responses_4xx = 0;
  std::uint64_t responses_5xx = 0;
  std::uint64_t upstream_errors = 0;  // exchanges that failed upstream (answered 502/503/504)
  std::uint64_t rejected = 0;         // our own 4xx and 501: the request was never forwarded
  std::uint64_t retries = 0;          // idempotent requests sent again to another endpoint
  std::uint64_t accept_pauses = 0;    // times accepting paused at max_connections
};

class HttpForwardListener : public std::enable_shared_from_this<HttpForwardListener> {
  struct PrivateTag {};

 public:
  using executor_type = boost::asio::any_io_executor;

  // Binds and listens at once, so that local_endpoint() is known and bind errors surface here:
  // returns nullptr with `error` set (address_in_use, invalid_argument for a bad host, a group
  // without endpoints or an endpoint without an HttpClient, a zero limit). Accepts nothing until
  // start().
  static std::shared_ptr<HttpForwardListener> create(executor_type executor, HttpForwardOptions options,
                                                     std::shared_ptr<UpstreamGroup> upstreams,
                                                     boost::system::error_code& error);
  // One endpoint: its client's pool.
  static std::shared_ptr<HttpForwardListener> create(executor_type executor, HttpForwardOptions options,
                                                     std::shared_ptr<HttpClient> client,
                                                     boost::system::error_code& error);

  HttpForwardListener(PrivateTag, std::shared_ptr<LocalAcceptor> acceptor, std::shared_ptr<ForwardContext> context);
  ~HttpForwardListener();
  HttpForwardListener(const HttpForwardListener&) = delete;
  HttpForwardListener& operator=(const HttpForwardListener&) = delete;

  // Starts accepting. Idempotent; does nothing after stop_accepting().
  void start();
  // Closes the acceptor; open connections carry on. Idempotent.
  void stop_accepting();
  // Stops accepting and winds the connections down: idle keep-alive connections (and new ones
  // that sent nothing) close at once; a request in flight is forwarded and its response written
  // completely, with `Connection: close`, then its connection closes. Whatever is still open
  // after `grace` is closed, mid-response or not. `done` runs once, on the listener's executor
  // (never inside this call), when every local connection is closed; a second call's `done`
  // runs then too.
  void async_drain(std::chrono::milliseconds grace, std::function<void()> done);

  // New limits, timeouts and add_forwarded_headers (a reload): max_connections applies at once
  // (LocalAcceptor::set_max_connections), the rest to connections accepted from now on; open
  // ones keep what they started with. False, changing nothing, with `problem` set, for a zero
  // limit or a different host, port or upstream_authority (those need a new listener).
  bool update(const HttpForwardOptions& next, std::string& problem);

  boost::asio::ip::tcp::endpoint local_endpoint() const noexcept;
  HttpForwardStats stats() const noexcept;

 private:
  std::shared_ptr<LocalAcceptor> acceptor_;
  // Shared with the connections, which may outlive this object by a few handlers.
  std::shared_ptr<ForwardContext> context_;
};

}  // namespace securechannel::daemon
