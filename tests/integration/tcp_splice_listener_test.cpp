// TcpSpliceListener against our TLS echo upstream, with local clients made of blocking sockets
// whose every wait is bounded (SO_RCVTIMEO / SO_SNDTIMEO): bytes both ways, half-closes, many
// clients each on a TLS connection of its own, acquire failures, the idle deadline,
// max_connections, drain, metrics, and nothing left behind (leases, descriptors).
#include "captured_log.hpp"
#include "daemon/tcp_splice_listener.hpp"
#include "daemon/upstream_group.hpp"
#include "demo/loopback_port.hpp"
#include "echo_upstream.hpp"
#include "io_thread.hpp"
#include "securechannel/secure_channel_pool.hpp"
#include "testing/process_info.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <cerrno>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace securechannel {
namespace {

using namespace std::chrono_literals;
using daemon::TcpSpliceListener;
using daemon::TcpSpliceOptions;
using testing::eventually;

enum class ReadOutcome {
  data,       // a byte arrived
  closed,     // end of stream or reset: the listener closed (or shut down its send side)
  timed_out,  // nothing within the receive timeout
};

// A local application's connection: plain blocking calls, each bounded by the socket timeouts.
class LocalClient {
 public:
  explicit LocalClient(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    set_timeout(SO_SNDTIMEO, 10s);  // bounds connect() too
    set_timeout(SO_RCVTIMEO, 10s);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  }
  ~LocalClient() { ::close(fd_); }
  LocalClient(const LocalClient&) = delete;
  LocalClient& operator=(const LocalClient&) = delete;

  bool connected() const noexcept { return connected_; }
  void set_receive_timeout(std::chrono::milliseconds timeout) { set_timeout(SO_RCVTIMEO, timeout); }

  bool send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent < 0 && errno == EINTR) continue;
      if (sent <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

  // Reads until `size` bytes came, the peer closed, or a read timed out.
  std::string receive(std::size_t size) {
    std::string bytes(size, '\0');
    std::size_t received = 0;
    while (received < size) {
      const ssize_t got = ::recv(fd_, bytes.data() + received, size - received, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      received += static_cast<std::size_t>(got);
    }
    bytes.resize(received);
    return bytes;
  }

  ReadOutcome next_read() {
    for (;;) {
      char byte = 0;
      const ssize_t got = ::recv(fd_, &byte, 1, 0);
      if (got > 0) return ReadOutcome::data;
      if (got == 0 || errno == ECONNRESET) return ReadOutcome::closed;
      if (errno != EINTR) return ReadOutcome::timed_out;
    }
  }

  void shutdown_send() { ::shutdown(fd_, SHUT_WR); }

  // Closes with a reset (SO_LINGER 0), so the listener learns at once that the client is gone.
  void reset() {
    const linger abort_on_close{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    ::close(std::exchange(fd_, -1));
  }

 private:
  void set_timeout(int option, std::chrono::milliseconds timeout) {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    const timeval value{seconds.count(), static_cast<suseconds_t>((timeout - seconds).count() * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, option, &value, sizeof value);
  }

  int fd_;
  bool connected_ = false;
};

// Bytes no other client sends: a clean echo of them proves that nothing was mixed.
std::string pattern(std::size_t size, std::uint32_t seed) {
  std::string bytes(size, '\0');
  std::uint32_t state = seed * 2654435761u + 1;
  for (char& byte : bytes) {
    state = state * 1664525u + 1013904223u;
    byte = static_cast<char>(state >> 24);
  }
  return bytes;
}

// The line is written as the connection closes, which may be just after the client saw it close.
bool eventually_logged(const testing::CapturedLog& log, std::string_view line) {
  return eventually([&] { return log.text().find(line) != std::string::npos; }, 5s);
}

TcpSpliceOptions with_limits(std::size_t max_connections, std::chrono::milliseconds idle_timeout) {
  TcpSpliceOptions options;
  options.limits.max_connections = max_connections;
  options.limits.idle_timeout = idle_timeout;
  return options;
}

// A plain TCP upstream that answers at the end of its input: it reads one connection until the
// peer's FIN (10 s at most), answers "received N bytes" and closes; without a FIN, it closes
// without an answer.
class AnswerAtEndOfInput {
 public:
  AnswerAtEndOfInput() : listen_fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listen_fd_, 4) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("AnswerAtEndOfInput: cannot listen");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~AnswerAtEndOfInput() {
    ::shutdown(listen_fd_, SHUT_RDWR);  // wakes an accept() still waiting
    thread_.join();
    ::close(listen_fd_);
  }
  AnswerAtEndOfInput(const AnswerAtEndOfInput&) = delete;
  AnswerAtEndOfInput& operator=(const AnswerAtEndOfInput&) = delete;

  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void serve() {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    const timeval ten_seconds{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &ten_seconds, sizeof ten_seconds);
    std::size_t received = 0;
    char buffer[4096];
    for (;;) {
      const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got > 0) {
        received += static_cast<std::size_t>(got);
        continue;
      }
      if (got == 0) {
        const std::string answer = "received " + std::to_string(received) + " bytes";
        (void)::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      }
      break;
    }
    ::close(fd);
  }

  int listen_fd_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

class TcpSpliceListenerTest : public ::testing::Test {
 protected:
  // A pool over the echo upstream (or `pool` when set) and a started listener.
  void open(TcpSpliceOptions options = {}) {
    if (!pool) {
      pool = upstream.builder_for(upstream.server.endpoint()).with_max_connections(64).build(pool_io.executor());
    }
    boost::system::error_code error;
    listener = TcpSpliceListener::create(listener_threads.executor(), std::move(options), pool, error);
    ASSERT_TRUE(listener) << error.message();
    listener->start();
  }

  std::uint16_t port() const { return listener->local_endpoint().port(); }

  void drain(std::chrono::milliseconds grace) {
    std::promise<void> drained;
    listener->async_drain(grace, [&] { drained.set_value(); });
    ASSERT_EQ(drained.get_future().wait_for(10s), std::future_status::ready);
  }

  void shut_pool_down() {
    std::promise<void> shut_down;
    pool->async_shutdown(1s, [&](boost::system::error_code) { shut_down.set_value(); });
    ASSERT_EQ(shut_down.get_future().wait_for(10s), std::future_status::ready);
  }

  void TearDown() override {
    if (listener) drain(1s);
    if (pool) shut_pool_down();
    // The pool's thread may still be unwinding a handler that completed a splice's read on its
    // strand; listener_threads, declared after pool_io, goes first: let that handler return.
    EXPECT_TRUE(pool_io.finish_queued_handlers());
  }

  testing::EchoUpstream upstream;
  // The pool on an io_context of its own and the local connections on two threads, so that
  // their strands matter.
  testing::IoThread pool_io;
  testing::IoThread listener_threads{2};
  std::shared_ptr<SecureChannelPool> pool;
  std::shared_ptr<TcpSpliceListener> listener;
};

TEST_F(TcpSpliceListenerTest, CarriesAMebibyteEachWayAcrossTheLocalHalfClose) {
  TcpSpliceOptions options;
  options.limits.half_close_timeout = 60s;  // the upstream's silence below must not end the splice
  open(options);
  LocalClient client(port());
  ASSERT_TRUE(client.connected());
  const std::string sent = pattern(1 << 20, 1);
  // Written on a thread of its own while this one reads: the echo keeps at most a few buffers
  // in flight, so a client that only wrote would stall both directions.
  std::thread writer([&] {
    EXPECT_TRUE(client.send_all(sent));
    client.shutdown_send();  // the reply keeps coming after the local FIN
  });
  const std::string received = client.receive(sent.size());
  writer.join();
  ASSERT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent) << "the echo differs from what was sent";
  EXPECT_TRUE(eventually([&] { return listener->stats().bytes_from_upstream == sent.size(); }));
  EXPECT_EQ(listener->stats().bytes_to_upstream, sent.size());
  EXPECT_EQ(pool->stats().leased_connections, 1u);

  // The upstream closes: the local client reads the end of stream, and with both sides closed
  // the TLS connection is closed, not given back to the pool.
  upstream.server.close_all_connections();
  EXPECT_EQ(client.next_read(), ReadOutcome::closed);
  EXPECT_TRUE(eventually([&] { return listener->stats().active_connections == 0; }));
  EXPECT_TRUE(eventually([&] { return pool->stats().total_connections == 0; }));
  EXPECT_EQ(pool->stats().idle_connections, 0u);
  EXPECT_EQ(listener->stats().connections_accepted, 1u);
}

// TLS cannot carry the local FIN (see above); a plain upstream gets it, after the last byte, so
// a server that answers at the end of its input does, and its close ends the splice.
TEST_F(TcpSpliceListenerTest, APlainUpstreamGetsTheLocalFinAndItsAnswerComesBack) {
  AnswerAtEndOfInput plain_upstream;
  pool = PoolBuilder(plain_upstream.endpoint()).without_tls().with_min_idle(0).with_max_connections(1).build(pool_io.executor());
  open();
  LocalClient client(port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send_all("fifteen bytes.."));
  client.shutdown_send();
  EXPECT_EQ(client.receive(64), "received 15 bytes");  // read until the upstream's close
  EXPECT_TRUE(eventually([&] { return listener->stats().active_connections == 0; }));
  EXPECT_EQ(listener->stats().bytes_to_upstream, 15u);
}

TEST_F(TcpSpliceListenerTest, UpstreamCloseEndsTheLocalSendSideThenTheLocalCloseEndsTheSplice) {
  open();  // idle_timeout 60 s: nothing here waits for it
  LocalClient client(port());
  ASSERT_TRUE(client.send_all("hello"));
  EXPECT_EQ(client.receive(5), "hello");
  upstream.server.close_all_connections();
  EXPECT_EQ(client.next_read(), ReadOutcome::closed) << "the local client saw no FIN";
  EXPECT_EQ(listener->stats().active_connections, 1u) << "the local side may still be sending";
  client.shutdown_send();
  EXPECT_TRUE(eventually([&] { return listener->stats().active_connections == 0; }, 5s));
  EXPECT_TRUE(eventually([&] { return pool->stats().leased_connections == 0; }));
}

TEST_F(TcpSpliceListenerTest, FiftyClientsEachGetTheirOwnUpstreamConnection) {
  open();
  constexpr int clients = 50;
  std::atomic<int> echoed{0};
  std::atomic<int> intact{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::vector<std::thread> threads;
  for (int id = 0; id < clients; ++id) {
    threads.emplace_back([&, id] {
      LocalClient client(port());
      const std::string mine = pattern(32 * 1024, 100 + static_cast<std::uint32_t>(id));
      if (client.send_all(mine) && client.receive(mine.size()) == mine) intact.fetch_add(1);
      echoed.fetch_add(1);
      // Every client stays connected until all have their echo: they are concurrent.
      released.wait_for(30s);
      client.reset();
    });
  }
  const bool all_echoed = eventually([&] { return echoed.load() == clients; }, 30s);
  const PoolStats busy = pool->stats();
  release.set_value();
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(all_echoed) << echoed.load() << " echoed";
  EXPECT_EQ(intact.load(), clients);
  EXPECT_EQ(busy.leased_connections, std::size_t{clients});
  EXPECT_GE(upstream.server.max_open_connections(), std::size_t{clients});
  EXPECT_TRUE(eventually([&] { return listener->stats().active_connections == 0; }));
  EXPECT_TRUE(eventually([&] { return pool->stats().leased_connections == 0; }));
  EXPECT_EQ(listener->stats().bytes_to_upstream, std::uint64_t{clients} * 32 * 1024);
}

TEST_F(TcpSpliceListenerTest, ClosesTheLocalConnectionAtOnceWhenTheUpstreamRefusesOrTheBreakerIsOpen) {
  testing::CapturedLog log;
  pool = upstream.builder_for("127.0.0.1:" + std::to_string(demo::pick_free_tcp_port()))
             .with_circuit_breaker_failure_threshold(1)
             .with_circuit_breaker_cooldown(60s)
             .build(pool_io.executor());
  open();
  for (int attempt = 0; attempt < 2; ++attempt) {  // connect_refused, then circuit_open
    LocalClient client(port());
    ASSERT_TRUE(client.connected());
    client.set_receive_timeout(5s);
    EXPECT_EQ(client.next_read(), ReadOutcome::closed) << "attempt " << attempt;
  }
  EXPECT_TRUE(eventually([&] { return listener->stats().acquire_failures == 2; }));
  EXPECT_TRUE(eventually([&] { return listener->stats().active_connections == 0; }));
  EXPECT_TRUE(eventually_logged(log, "no upstream connection: connect_refused")) << log.text();
  EXPECT_TRUE(eventually_logged(log, "no upstream connection: circuit_open")) << log.text();
}

TEST_F(TcpSpliceListenerTest, ClosesTheLocalConnectionWhenTheUpstreamCertificateIsUntrusted) {
  testing::CapturedLog log;
  const auto stranger = demo::CertificateAuthority::create();
  pool = PoolBuilder(upstream.server.endpoint())
             .with_system_trust_store(false)
             .with_ca_file(stranger.ca_certificate_file().string())
             .build(pool_io.executor());
  open();
  LocalClient client(port());
  client.set_receive_timeout(5s);
  EXPECT_EQ(client.next_read(), ReadOutcome::closed);
  EXPECT_TRUE(eventually([&] { return listener->stats().acquire_failures == 1; }));
  EXPECT_TRUE(eventually_logged(log, "no upstream connection: certificate_verify_failed")) << log.text();
}

TEST_F(TcpSpliceListenerTest, AKeptAliveUpstreamDoesNotHoldTheConnectionOnceTheLocalClientHasClosed) {
  TcpSpliceOptions options;
  options.limits.half_close_timeout = 200ms;  // idle_timeout stays at its 60 s
  open(options);
  {
    LocalClient client(port());
    ASSERT_TRUE(client.send_all("ask") && client.receive(3) == "ask");
  }  // closed; the echo server, like a keep-alive HTTP server, keeps its side open
  EXPECT_TRUE(eventually([&] { return pool->stats().leased_connections == 0; }, 10s))
      << "the lease is held until idle_timeout";
  // The splice gives its lease back just before it counts itself closed, on another thread.
  EXPECT_TRUE(eventually([&] { return listener->stats().active_connections == 0; }, 10s));
}

TEST_F(TcpSpliceListenerTest, TheConnectionsItUsesUpAreReplacedToKeepMinIdleWarm) {
  pool = upstream.builder_for(upstream.server.endpoint()).with_min_idle(2).build(pool_io.executor());
  pool->warm_up();  // no cleanup task runs in this test: only releases can top up again
  ASSERT_TRUE(eventually([&] { return pool->stats().idle_connections == 2; }));
  open();
  for (int i = 0; i < 3; ++i) {
    LocalClient client(port());
    ASSERT_TRUE(client.send_all("warm") && client.receive(4) == "warm");
    client.reset();
    ASSERT_TRUE(eventually([&] { return listener->stats().active_connections == 0; }));
    EXPECT_TRUE(eventually([&] { return pool->stats().idle_connections == 2; }))
        << "a splice took a warm connection and closed it; the pool must open another at once";
  }
  EXPECT_EQ(pool->stats().connections_created, 5u) << "two warm ones, and one replacement per splice";
}

TEST_F(TcpSpliceListenerTest, SpreadsConnectionsOverTheGroupAndClosesAtOnceWhenEveryEndpointIsEjected) {
  testing::EchoUpstream other;
  auto group = std::make_shared<daemon::UpstreamGroup>("relay", daemon::BalancingPolicy::round_robin,
                                                       daemon::OutlierDetection{.consecutive_failures = 1});
  pool = upstream.builder_for(upstream.server.endpoint()).build(pool_io.executor());
  auto other_pool = other.builder_for(other.server.endpoint()).build(pool_io.executor());
  group->add({pool, nullptr, upstream.server.endpoint()});
  group->add({other_pool, nullptr, other.server.endpoint()});
  boost::system::error_code error;
  listener = TcpSpliceListener::create(listener_threads.executor(), {}, group, error);
  ASSERT_TRUE(listener) << error.message();
  listener->start();
  for (int i = 0; i < 4; ++i) {
    LocalClient client(port());
    ASSERT_TRUE(client.send_all("hop") && client.receive(3) == "hop");
    client.reset();
    ASSERT_TRUE(eventually([&] { return listener->stats().active_connections == 0; }));
  }
  EXPECT_EQ(upstream.server.accepted_connections(), 2u);
  EXPECT_EQ(other.server.accepted_connections(), 2u);
  for (const auto& endpoint : group->state().endpoints) EXPECT_EQ(endpoint.in_flight, 0u) << endpoint.endpoint;
  // Two endpoints where nothing listens: one refused connect each ejects them, then nothing is
  // tried. (A group of one is never ejected: its own breaker answers.)
  testing::CapturedLog log;
  auto dead = std::make_shared<daemon::UpstreamGroup>("dead", daemon::BalancingPolicy::round_robin,
                                                      daemon::OutlierDetection{.consecutive_failures = 1});
  for (int i = 0; i < 2; ++i) {
    const std::string closed_endpoint = "127.0.0.1:" + std::to_string(demo::pick_free_tcp_port());
    dead->add({upstream.builder_for(closed_endpoint).build(pool_io.executor()), nullptr, closed_endpoint});
  }
  auto dead_listener = TcpSpliceListener::create(listener_threads.executor(), {}, dead, error);
  ASSERT_TRUE(dead_listener) << error.message();
  dead_listener->start();
  for (int attempt = 0; attempt < 3; ++attempt) {  // connect_refused twice, then no_endpoint
    LocalClient client(dead_listener->local_endpoint().port());
    client.set_receive_timeout(5s);
    EXPECT_EQ(client.next_read(), ReadOutcome::closed) << "attempt " << attempt;
  }
  EXPECT_TRUE(eventually_logged(log, "no upstream connection: no_endpoint")) << log.text();
  EXPECT_EQ(dead_listener->stats().acquire_failures, 3u);
  std::promise<void> drained;
  dead_listener->async_drain(1s, [&] { drained.set_value(); });
  EXPECT_EQ(drained.get_future().wait_for(10s), std::future_status::ready);
}

TEST_F(TcpSpliceListenerTest, IdleTimeoutClosesASilentSplice) {
  open(with_limits(16, 300ms));
  LocalClient client(port());
  ASSERT_TRUE(client.send_all("hi"));
  EXPECT_EQ(client.receive(2), "hi");
  const auto silent_since = std::chrono::steady_clock::now();
  client.set_receive_timeout(5s);
  EXPECT_EQ(client.next_read(), ReadOutcome::closed);
  EXPECT_GE(std::chrono::steady_clock::now() - silent_since, 250ms);
  EXPECT_TRUE(eventually([&] { return pool->stats().leased_connections == 0; }));
  EXPECT_TRUE(eventually([&] { return listener->stats().active_connections == 0; }));
}

TEST_F(TcpSpliceListenerTest, HoldsMaxConnectionsAndServesTheNextFromTheBacklog) {
  open(with_limits(2, 60s));
  LocalClient first(port());
  LocalClient second(port());
  ASSERT_TRUE(first.send_all("1") && first.receive(1) == "1");
  ASSERT_TRUE(second.send_all("2") && second.receive(1) == "2");
  // The third connects (the kernel completes it into the backlog) but is not accepted yet.
  LocalClient third(port());
  ASSERT_TRUE(third.connected());
  ASSERT_TRUE(third.send_all("3"));
  third.set_receive_timeout(200ms);
  EXPECT_EQ(third.next_read(), ReadOutcome::timed_out);
  EXPECT_EQ(listener->stats().connections_accepted, 2u);
  EXPECT_GE(listener->stats().accept_pauses, 1u);
  first.reset();
  third.set_receive_timeout(10s);
  EXPECT_EQ(third.receive(1), "3");
  EXPECT_EQ(listener->stats().connections_accepted, 3u);
  EXPECT_LE(upstream.server.max_open_connections(), 2u + 1u) << "one upstream per local connection";
}

// A reload: a raised cap serves the client waiting in the backlog at once; a shorter idle
// timeout applies to connections accepted after it, not to the one open before.
TEST_F(TcpSpliceListenerTest, UpdateRaisesTheCapAtOnceAndTimesOutOnlyNewConnectionsSooner) {
  open(with_limits(1, 60s));
  LocalClient first(port());
  ASSERT_TRUE(first.send_all("1") && first.receive(1) == "1");
  LocalClient waiting(port());
  ASSERT_TRUE(waiting.send_all("2"));
  waiting.set_receive_timeout(200ms);
  EXPECT_EQ(waiting.next_read(), ReadOutcome::timed_out);

  std::string problem;
  ASSERT_TRUE(listener->update(with_limits(4, 300ms), problem)) << problem;
  waiting.set_receive_timeout(10s);
  EXPECT_EQ(waiting.receive(1), "2");
  // `waiting` was accepted after the update: closed after 300 ms of silence; `first` is not.
  EXPECT_EQ(waiting.next_read(), ReadOutcome::closed);
  ASSERT_TRUE(first.send_all("3"));
  EXPECT_EQ(first.receive(1), "3");

  TcpSpliceOptions elsewhere = with_limits(4, 300ms);
  elsewhere.port = static_cast<std::uint16_t>(port() + 1);
  EXPECT_FALSE(listener->update(elsewhere, problem));
  EXPECT_NE(problem.find("cannot change while it runs"), std::string::npos) << problem;
  EXPECT_FALSE(listener->update(with_limits(0, 300ms), problem));
}

TEST_F(TcpSpliceListenerTest, DrainLetsSplicesRunUntilTheGraceThenClosesThemAndCallsDoneOnce) {
  open();
  LocalClient first(port());
  LocalClient second(port());
  ASSERT_TRUE(first.send_all("a") && first.receive(1) == "a");
  ASSERT_TRUE(second.send_all("b") && second.receive(1) == "b");
  std::atomic<int> done_calls{0};
  const auto drain_started = std::chrono::steady_clock::now();
  listener->async_drain(300ms, [&] { done_calls.fetch_add(1); });
  // Still carried during the grace.
  ASSERT_TRUE(first.send_all("c"));
  EXPECT_EQ(first.receive(1), "c");
  first.set_receive_timeout(5s);
  second.set_receive_timeout(5s);
  EXPECT_EQ(first.next_read(), ReadOutcome::closed);
  EXPECT_EQ(second.next_read(), ReadOutcome::closed);
  EXPECT_GE(std::chrono::steady_clock::now() - drain_started, 250ms);
  EXPECT_TRUE(eventually([&] { return done_calls.load() == 1; }, 5s));
  LocalClient late(port());
  EXPECT_FALSE(late.connected()) << "the acceptor is closed";
  // A later drain completes at once (nothing is open); the first `done` does not run again.
  drain(1s);
  EXPECT_EQ(done_calls.load(), 1);
  EXPECT_TRUE(eventually([&] { return pool->stats().leased_connections == 0; }));
}

TEST_F(TcpSpliceListenerTest, DrainEndsAsSoonAsTheLastSpliceCloses) {
  open();
  LocalClient client(port());
  ASSERT_TRUE(client.send_all("x") && client.receive(1) == "x");
  std::promise<void> drained;
  listener->async_drain(60s, [&] { drained.set_value(); });
  client.reset();
  EXPECT_EQ(drained.get_future().wait_for(10s), std::future_status::ready);
}

TEST_F(TcpSpliceListenerTest, ExportsItsCountersAsPrometheusSeries) {
  open();
  LocalClient client(port());
  ASSERT_TRUE(client.send_all("ping") && client.receive(4) == "ping");
  EXPECT_TRUE(eventually([&] { return listener->stats().bytes_from_upstream == 4; }));
  MetricFamilies families;
  daemon::collect_tcp_splice_metrics(*listener, "relay", "127.0.0.1:7000", families);
  const std::string text = families.render();
  for (const char* line : {
           "relay_listener_connections_accepted_total{listener=\"127.0.0.1:7000\",mode=\"tcp\"} 1",
           "relay_listener_connections_active{listener=\"127.0.0.1:7000\",mode=\"tcp\"} 1",
           "relay_listener_acquire_failures_total{listener=\"127.0.0.1:7000\",mode=\"tcp\"} 0",
           "relay_listener_bytes_total{listener=\"127.0.0.1:7000\",mode=\"tcp\",direction=\"to_upstream\"} 4",
           "relay_listener_bytes_total{listener=\"127.0.0.1:7000\",mode=\"tcp\",direction=\"from_upstream\"} 4",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
  }
}

TEST_F(TcpSpliceListenerTest, RefusesABadHostAndAnAddressInUse) {
  open();
  boost::system::error_code error;
  TcpSpliceOptions taken;
  taken.port = port();
  EXPECT_FALSE(TcpSpliceListener::create(listener_threads.executor(), taken, pool, error));
  EXPECT_EQ(error, boost::asio::error::address_in_use);
  TcpSpliceOptions bad_host;
  bad_host.host = "localhost";  // no name resolution
  EXPECT_FALSE(TcpSpliceListener::create(listener_threads.executor(), bad_host, pool, error));
  EXPECT_TRUE(error);
  EXPECT_FALSE(TcpSpliceListener::create(listener_threads.executor(), {}, std::shared_ptr<SecureChannelPool>(), error));
  EXPECT_EQ(error, boost::system::errc::invalid_argument);
  EXPECT_FALSE(TcpSpliceListener::create(listener_threads.executor(), with_limits(0, 60s), pool, error));
  EXPECT_EQ(error, boost::system::errc::invalid_argument);
}

TEST_F(TcpSpliceListenerTest, LeavesNoLeaseAndNoDescriptorBehind) {
  // Counted from the end of a first whole cycle: the io_contexts open their reactor's
  // descriptors (epoll, eventfd, timerfd) with their first socket and keep them.
  const auto cycle = [this] {
    open();
    {
      LocalClient first(port());
      LocalClient second(port());
      ASSERT_TRUE(first.send_all("one") && first.receive(3) == "one");
      ASSERT_TRUE(second.send_all("two") && second.receive(3) == "two");
      second.reset();
    }
    drain(1s);
    EXPECT_EQ(pool->stats().leased_connections, 0u);
    shut_pool_down();
    listener.reset();
    pool.reset();
  };
  cycle();
  const std::size_t before = testing::count_open_file_descriptors();
  cycle();
  EXPECT_TRUE(eventually([&] { return testing::count_open_file_descriptors() <= before; }, 5s))
      << before << " descriptors before, " << testing::count_open_file_descriptors() << " after";
}

}  // namespace
}  // namespace securechannel
