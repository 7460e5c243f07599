// Connects that never finish: a server that accepts and then says nothing (the TLS handshake
// stalls after our ClientHello), and a port whose SYNs vanish (blackholed). Each acquire fails
// with connect_timeout once connect_timeout has passed, names it, and leaves no descriptor.
#include "echo_upstream.hpp"
#include "fault_test.hpp"
#include "pool_exchange.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"

#include <boost/asio/ip/tcp.hpp>

namespace securechannel {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class HandshakeStallTest : public testing::FaultTest {
 protected:
  // A pool that trusts the test CA, with a short connect_timeout, for `endpoint`.
  std::shared_ptr<SecureChannelPool> pool_for_endpoint(const std::string& endpoint) {
    return echo.builder_for(endpoint)
        .with_connect_timeout(1s)
        .with_circuit_breaker_failure_threshold(100)
        .build(io.executor());
  }

  void expect_connect_timeout(SecureChannelPool& pool) {
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(testing::acquire_error(pool), make_error_code(errc::connect_timeout));
    const double waited = seconds_since(started);
    EXPECT_GE(waited, 0.9) << "gave up before connect_timeout";
    EXPECT_LT(waited, 5.0) << "connect_timeout did not bound the wait";
    EXPECT_NE(pool.last_connect_failure().describe().find("connect_timeout"), std::string::npos)
        << pool.last_connect_failure().describe();
    EXPECT_EQ(pool.stats().errors_by_kind["connect_timeout"], 1u);
  }

  testing::EchoUpstream echo;
};

TEST_F(HandshakeStallTest, AServerThatAcceptsAndNeverAnswersTimesTheConnectOut) {
  asio::io_context silent_io;
  asio::ip::tcp::acceptor silent(silent_io, {asio::ip::make_address("127.0.0.1"), 0});
  // The kernel completes TCP handshakes from the backlog: our ClientHello is received and never
  // answered, as by a server wedged before its TLS layer.
  const std::string endpoint = "127.0.0.1:" + std::to_string(silent.local_endpoint().port());
  {
    // The io_context opens its reactor's descriptors with its first I/O object: before counting.
    asio::ip::tcp::socket warm_up(io.io());
  }
  const std::size_t descriptors_before = testing::count_open_file_descriptors();
  {
    auto pool = pool_for_endpoint(endpoint);
    expect_connect_timeout(*pool);
    EXPECT_EQ(pool->stats().total_connections, 0u);
  }
  EXPECT_TRUE(testing::eventually([&] { return testing::count_open_file_descriptors() <= descriptors_before; }));
}

TEST_F(HandshakeStallTest, SynsIntoABlackholeTimeTheConnectOut) {
  filter.blackhole(echo.server.port());
  auto pool = pool_for_endpoint(echo.server.endpoint());
  expect_connect_timeout(*pool);
  filter.clear();
  Lease lease = testing::acquire(*pool);
  EXPECT_EQ(testing::echo_exchange(lease, "through"), "through");
}

}  // namespace
}  // namespace securechannel
