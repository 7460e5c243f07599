// The fault proxy itself, over plain TCP: the test holds both ends (a client socket through the
// proxy, and the upstream's accepted socket), so each toxic is seen byte for byte.
#include "fault_proxy.hpp"
#include "io_thread.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

namespace securechannel {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using testing::Direction;
using testing::FaultProxy;

enum class End { open, eof, reset };

struct Received {
  std::string bytes;
  End end = End::open;  // open: nothing more came within the wait
};

// Reads until `count` bytes came, the peer closed, or `wait` passed without a byte.
Received receive(tcp::socket& socket, std::size_t count, std::chrono::milliseconds wait = 3000ms) {
  Received received;
  while (received.bytes.size() < count) {
    pollfd watched{.fd = socket.native_handle(), .events = POLLIN, .revents = 0};
    if (::poll(&watched, 1, static_cast<int>(wait.count())) <= 0) return received;
    char buffer[4096];
    const ssize_t got = ::recv(socket.native_handle(), buffer, std::min(sizeof buffer, count - received.bytes.size()), 0);
    if (got > 0) {
      received.bytes.append(buffer, static_cast<std::size_t>(got));
    } else {
      received.end = got == 0 ? End::eof : (errno == ECONNRESET ? End::reset : End::open);
      return received;
    }
  }
  return received;
}

void send(tcp::socket& socket, const std::string& bytes) { asio::write(socket, asio::buffer(bytes)); }

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

class FaultProxyTest : public ::testing::Test {
 protected:
  struct Ends {
    tcp::socket client;
    tcp::socket server;  // the upstream's end
  };

  Ends connect() {
    tcp::socket client(io);
    client.connect({asio::ip::make_address("127.0.0.1"), proxy.port()});
    tcp::socket server(io);
    upstream.accept(server);
    return {std::move(client), std::move(server)};
  }

  asio::io_context io;
  tcp::acceptor upstream{io, {asio::ip::make_address("127.0.0.1"), 0}};
  FaultProxy proxy{upstream.local_endpoint().port()};
};

TEST_F(FaultProxyTest, ForwardsBothWaysCountsAndClosesWhenBothSidesDid) {
  Ends ends = connect();
  send(ends.client, "ping");
  EXPECT_EQ(receive(ends.server, 4).bytes, "ping");
  send(ends.server, "pong!");
  EXPECT_EQ(receive(ends.client, 5).bytes, "pong!");
  // Counted once the proxy's write completed, which may be just after the bytes arrived.
  EXPECT_TRUE(testing::eventually([&] {
    return proxy.bytes_forwarded(Direction::to_upstream) == 4 && proxy.bytes_forwarded(Direction::to_client) == 5;
  }));
  EXPECT_EQ(proxy.accepted_connections(), 1u);
  EXPECT_EQ(proxy.open_connections(), 1u);

  ends.client.shutdown(tcp::socket::shutdown_send);  // a half-close is passed on
  EXPECT_EQ(receive(ends.server, 1).end, End::eof);
  send(ends.server, "late");  // the other way still works
  EXPECT_EQ(receive(ends.client, 4).bytes, "late");
  EXPECT_EQ(proxy.closed_by_upstream(), 0u);
  ends.server.close();
  EXPECT_EQ(receive(ends.client, 1).end, End::eof);
  EXPECT_EQ(proxy.closed_by_upstream(), 1u);
  EXPECT_TRUE(testing::eventually([&] { return proxy.open_connections() == 0; }));
}

TEST_F(FaultProxyTest, LatencyWithJitterDelaysEveryPieceAndKeepsTheirOrder) {
  proxy.set_toxics(Direction::to_client, {.latency = 200ms, .jitter = 100ms});
  Ends ends = connect();
  const auto start = std::chrono::steady_clock::now();
  std::string sent;
  for (char piece = 'a'; piece <= 'j'; ++piece) {  // ten pieces 20 ms apart, each delayed 100..300 ms
    send(ends.server, std::string(1, piece));
    sent += piece;
    std::this_thread::sleep_for(20ms);
  }
  const Received first = receive(ends.client, 1);
  EXPECT_GE(seconds_since(start), 0.1);
  const Received rest = receive(ends.client, sent.size() - 1);
  EXPECT_EQ(first.bytes + rest.bytes, sent) << "pieces overtook one another";
  EXPECT_LT(seconds_since(start), 1.0);
}

TEST_F(FaultProxyTest, BandwidthBoundsTheRate) {
  proxy.set_toxics(Direction::to_client, {.bytes_per_second = 20'000});
  Ends ends = connect();
  const auto start = std::chrono::steady_clock::now();
  send(ends.server, std::string(10'000, 'x'));
  EXPECT_EQ(receive(ends.client, 10'000).bytes.size(), 10'000u);
  EXPECT_GE(seconds_since(start), 0.4);  // 10 kB at 20 kB/s, the first slice at once
  EXPECT_LT(seconds_since(start), 2.0);
}

TEST_F(FaultProxyTest, StallHoldsTheRestUntilTheToxicIsLifted) {
  Ends ends = connect();
  proxy.set_toxics(Direction::to_client, {.stall_after_bytes = 3});
  send(ends.server, "abcdef");
  const Received before = receive(ends.client, 6, 300ms);
  EXPECT_EQ(before.bytes, "abc");
  EXPECT_EQ(before.end, End::open);
  send(ends.client, "up");  // the other way is not stalled
  EXPECT_EQ(receive(ends.server, 2).bytes, "up");
  proxy.clear_toxics();
  EXPECT_EQ(receive(ends.client, 3).bytes, "def");
}

TEST_F(FaultProxyTest, ResetAfterBytesResetsBothSides) {
  Ends ends = connect();
  proxy.set_toxics(Direction::to_client, {.reset_after_bytes = 3});
  send(ends.server, "abcdef");
  const Received client = receive(ends.client, 6);
  EXPECT_EQ(client.bytes, "abc");
  EXPECT_EQ(client.end, End::reset);
  EXPECT_EQ(receive(ends.server, 1).end, End::reset);
  EXPECT_TRUE(testing::eventually([&] { return proxy.open_connections() == 0; }));
}

TEST_F(FaultProxyTest, CloseAfterBytesEndsBothSidesWithAFin) {
  Ends ends = connect();
  proxy.set_toxics(Direction::to_client, {.close_after_bytes = 3});
  send(ends.server, "abcdef");
  const Received client = receive(ends.client, 6);
  EXPECT_EQ(client.bytes, "abc");
  EXPECT_EQ(client.end, End::eof);
  EXPECT_EQ(receive(ends.server, 1).end, End::eof);
  ends.client.close();
  ends.server.close();
  EXPECT_TRUE(testing::eventually([&] { return proxy.open_connections() == 0; }));
}

TEST_F(FaultProxyTest, ToxicsForOpenConnectionsOnlySpareLaterOnes) {
  Ends old_ends = connect();
  proxy.set_toxics(Direction::to_client, {.reset_after_bytes = 0}, FaultProxy::Reach::open_only);
  Ends new_ends = connect();
  send(new_ends.server, "fine");
  EXPECT_EQ(receive(new_ends.client, 4).bytes, "fine");
  send(old_ends.server, "gone");
  EXPECT_EQ(receive(old_ends.client, 4).end, End::reset);
}

TEST_F(FaultProxyTest, RefusesConnectionsWhileAskedAndListensAgainOnTheSamePort) {
  const std::uint16_t port = proxy.port();
  proxy.refuse_connections(true);
  tcp::socket refused(io);
  boost::system::error_code error;
  refused.connect({asio::ip::make_address("127.0.0.1"), port}, error);
  EXPECT_EQ(error, asio::error::connection_refused);
  proxy.refuse_connections(false);
  EXPECT_EQ(proxy.port(), port);
  Ends ends = connect();
  send(ends.client, "back");
  EXPECT_EQ(receive(ends.server, 4).bytes, "back");
  EXPECT_EQ(proxy.accepted_connections(), 1u);
}

TEST_F(FaultProxyTest, AClientIsResetWhenTheUpstreamRefuses) {
  upstream.close();
  tcp::socket client(io);
  client.connect({asio::ip::make_address("127.0.0.1"), proxy.port()});
  EXPECT_EQ(receive(client, 1).end, End::reset);
  EXPECT_EQ(proxy.upstream_connect_failures(), 1u);
}

}  // namespace
}  // namespace securechannel
