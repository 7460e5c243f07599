// A fault-injecting TCP proxy for the fault tests, after toxiproxy: it listens on 127.0.0.1
// (a port picked at run time), forwards each connection to an upstream port on 127.0.0.1, and
// does to the bytes of each direction what the test asks, changed at run time from the test's
// thread: delay them (latency ± jitter, order kept), throttle them, stall, reset (RST) or close
// (FIN) after a number of bytes. It moves bytes only, so TLS passes through it untouched. It runs
// on its own thread and io_context; every buffer is bounded (64 KiB held per direction and
// connection, reading pauses when it is full).
//
//   testing::FaultProxy proxy(nginx->port());
//   auto pool = builder_for(proxy.endpoint()).build(io.executor());
//   proxy.set_toxics(testing::Direction::to_client, {.stall_after_bytes = 4096});
//   ... a response stops after 4 KiB: the request meets its timeout ...
//   proxy.clear_toxics();
//   EXPECT_EQ(proxy.accepted_connections(), 2u);
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace securechannel::testing {

// Which way bytes travel through the proxy.
enum class Direction {
  to_client,    // upstream -> client: responses
  to_upstream,  // client -> upstream: requests
};

// What happens to the bytes of one direction of a connection. The byte counts are per connection,
// counted from when the toxics were set on it (set_toxics, or the accept for later connections);
// 0 acts on the next byte to be forwarded.
struct Toxics {
  // Each piece read is held for latency ± jitter (uniform) before it is forwarded; pieces keep
  // their order (one is never sent before the one read ahead of it).
  std::chrono::milliseconds latency{0};
  std::chrono::milliseconds jitter{0};
  std::uint64_t bytes_per_second = 0;  // > 0: forwarded no faster than this
  // After this many bytes nothing more is forwarded, both sockets stay open and the rest waits
  // (reading stops once the buffer is full); setting other toxics lets it go on.
  std::optional<std::uint64_t> stall_after_bytes{};
  // After this many bytes both sockets are closed with a RST (SO_LINGER 0), as by a crashed peer.
  std::optional<std::uint64_t> reset_after_bytes{};
  // After this many bytes both sockets are closed with a FIN: the stream is cut short.
  std::optional<std::uint64_t> close_after_bytes{};
};

class FaultProxy {
 public:
  // Which connections set_toxics changes.
  enum class Reach {
    open_and_new,  // those open now and those accepted later
    open_only,     // those open now; later ones keep the toxics they would have had
  };

  // Listens on 127.0.0.1:0 and forwards to 127.0.0.1:upstream_port. Throws std::runtime_error
  // when it cannot listen.
  explicit FaultProxy(std::uint16_t upstream_port);
  // Closes every connection and the listener, and joins the proxy's thread.
  ~FaultProxy();

  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  std::uint16_t port() const;
  std::string endpoint() const;  // "127.0.0.1:<port>"

  // These return once the change is made; callable from any thread but the proxy's.
  void set_toxics(Direction direction, const Toxics& toxics, Reach reach = Reach::open_and_new);
  void clear_toxics();  // both directions, every connection, now and later
  // true: the listener is closed, so connects are refused (ECONNREFUSED) as by a stopped server;
  // false: listening again on the same port. Throws std::runtime_error when it cannot.
  void refuse_connections(bool refuse);
  // Connections accepted from now on go to this upstream port (an upstream restarted elsewhere).
  void set_upstream_port(std::uint16_t upstream_port);

  // Counters, readable from any thread.
  std::size_t accepted_connections() const;      // clients accepted so far
  std::size_t open_connections() const;          // accepted and not yet closed
  std::size_t upstream_connect_failures() const;  // clients reset because the upstream refused
  std::size_t closed_by_upstream() const;         // connections whose upstream sent its FIN
  std::uint64_t bytes_forwarded(Direction direction) const;

 private:
  class Impl;  // Asio stays out of this header
  std::unique_ptr<Impl> impl_;
};

}  // namespace securechannel::testing
