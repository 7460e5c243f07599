// TcpSpliceListener: the `tcp` sidecar listener of `scpool serve` (docs/DAEMON.md, "Listeners").
// Each local plaintext TCP connection is carried over a pooled TLS connection that is already
// connected and verified (stunnel's job without the handshake on the hot path): bytes are
// copied both ways through two fixed 16 KiB buffers, nothing is parsed. The local side is not
// trusted: no buffer grows with what it sends, and silence in both directions for idle_timeout
// closes the connection.
//
//   boost::system::error_code error;
//   auto listener = daemon::TcpSpliceListener::create(io.get_executor(),
//                                                    {.host = "127.0.0.1", .port = 7000}, upstreams, error);
//   if (!listener) fail(error);                         // e.g. address_in_use: nothing thrown
//   listener->start();                                  // explicit: nothing is accepted before
//   ...
//   listener->async_drain(std::chrono::seconds(10), [] { /* every local connection closed */ });
//
// Each local connection goes to the endpoint the UpstreamGroup picks (a group of one for a single
// pool), and its outcome is reported back for outlier detection: a failed acquire as a failure,
// a splice that had its connection as a success when it ends (so that least_requests counts the
// splices open on each endpoint).
//
// A TLS connection that carried a local connection is closed afterwards, never given back to the
// pool: a byte stream says nothing about whether the protocol on top left it clean, and the
// pool's min_idle warm-up replaces it. When no connection can be had (circuit_open,
// acquire_timeout, a certificate failure, no_endpoint when every endpoint is ejected) the local
// connection is closed at once and the cause logged with its error name.
//
// Half-close: TLS on a pooled connection has no half-close (close_notify ends the connection
// for good with most servers), so a local FIN is not passed on: the listener stops reading the
// local side and carries the upstream's reply until the upstream closes or idle_timeout passes.
// When the upstream closes, what it sent is written to the local client and then the local
// socket's send side is shut down; the connection closes once the local client closes too.
//
// Thread-safety: all member functions may be called from any thread. The acceptor (LocalAcceptor)
// runs on a strand, and each local connection on a strand of its own, so connections proceed in
// parallel on a multi-threaded io_context.
#pragma once

#include "daemon/listener_limits.hpp"
#include "securechannel/prometheus_text.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace securechannel {
class SecureChannelPool;
}

namespace securechannel::daemon {

class LocalAcceptor;
class UpstreamGroup;
struct SpliceContext;

struct TcpSpliceOptions {
  std::string host = "127.0.0.1";  // an IP address literal (no name resolution)
  std::uint16_t port = 0;          // 0: the kernel picks a free port; see local_endpoint()
  // max_connections and idle_timeout apply; the HTTP limits do not (nothing is parsed).
  ListenerLimits limits;
};

// Cumulative counts since create(), each read with a relaxed load: a snapshot is not atomic
// across fields.
struct TcpSpliceStats {
  std::uint64_t connections_accepted = 0;
  std::size_t active_connections = 0;  // local connections whose socket is open now
  // Times accepting paused at max_connections (the clients beyond wait in the kernel's backlog).
  std::uint64_t accept_pauses = 0;
  std::uint64_t acquire_failures = 0;      // local connections closed because no lease came
  std::uint64_t bytes_to_upstream = 0;     // written to TLS connections
  std::uint64_t bytes_from_upstream = 0;   // written to local clients
};

class TcpSpliceListener : public std::enable_shared_from_this<TcpSpliceListener> {
  struct PrivateTag {};

 public:
  using executor_type = boost::asio::any_io_executor;

  // Binds and listens at once, so that local_endpoint() is known and bind errors surface here:
  // returns nullptr with `error` set (address_in_use, invalid_argument for a bad host, a null or
  // empty group, a zero max_connections or idle_timeout). Accepts nothing until start().
  static std::shared_ptr<TcpSpliceListener> create(executor_type executor, TcpSpliceOptions options,
                                                   std::shared_ptr<UpstreamGroup> upstreams,
                                                   boost::system::error_code& error);
  // In front of one pool (a group of one endpoint).
  static std::shared_ptr<TcpSpliceListener> create(executor_type executor, TcpSpliceOptions options,
                                                   std::shared_ptr<SecureChannelPool> pool,
                                                   boost::system::error_code& error);

  TcpSpliceListener(PrivateTag, std::shared_ptr<LocalAcceptor> acceptor, std::shared_ptr<SpliceContext> context);
  ~TcpSpliceListener();
  TcpSpliceListener(const TcpSpliceListener&) = delete;
  TcpSpliceListener& operator=(const TcpSpliceListener&) = delete;

  // Starts accepting. Idempotent; does nothing after stop_accepting().
  void start();
  // Closes the acceptor; open connections carry on. Idempotent.
  void stop_accepting();
  // Stops accepting and lets open connections finish on their own until `grace` has passed,
  // then closes what is still open (a byte stream has no boundary at which to end it sooner).
  // `done` runs once, on the listener's executor (never inside this call), when every local
  // connection is closed; a second call's `done` runs then too.
  void async_drain(std::chrono::milliseconds grace, std::function<void()> done);

  // New limits (a reload): max_connections applies at once (LocalAcceptor::set_max_connections),
  // idle_timeout and half_close_timeout to connections accepted from now on; open ones keep
  // what they started with. False, changing nothing, with `problem` set, for a zero limit or a
  // different host or port (those need a new listener).
  bool update(const TcpSpliceOptions& next, std::string& problem);

  boost::asio::ip::tcp::endpoint local_endpoint() const noexcept;
  TcpSpliceStats stats() const noexcept;
  executor_type get_executor() const noexcept;

 private:
  std::shared_ptr<LocalAcceptor> acceptor_;
  // Shared with the connections, which may outlive this object by a few handlers.
  std::shared_ptr<SpliceContext> context_;
};

// The listener's Prometheus series, labelled listener="<listen_address>" and mode="tcp", in the
// families the http listeners share:
//   <ns>_listener_connections_accepted_total, <ns>_listener_connections_active,
//   <ns>_listener_acquire_failures_total, <ns>_listener_bytes_total{direction="to_upstream"|"from_upstream"}.
void collect_tcp_splice_metrics(const TcpSpliceListener& listener, const std::string& metric_namespace,
                                const std::string& listen_address, MetricFamilies& families);

}  // namespace securechannel::daemon
