// Monitoring clients can never take the descriptors the pool needs: 5,000 idle connections to
// the monitoring port while the pool keeps serving. The server holds at most max_connections of
// them; the rest wait in the kernel's backlog (or are still knocking), not in this process.
#include "echo_upstream.hpp"
#include "http_test_client.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/monitored_pools.hpp"
#include "securechannel/monitoring_server.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

// A non-blocking connect that is not waited for: the client side of an idle flood.
int start_idle_connection(std::uint16_t port) {
  const int descriptor = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (descriptor < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(descriptor, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 && errno != EINPROGRESS) {
    ::close(descriptor);
    return -1;
  }
  return descriptor;
}

TEST(MonitoringFloodTest, FiveThousandIdleClientsNeverStarveThePool) {
  testing::raise_file_descriptor_limit();
  testing::EchoUpstream echo;
  testing::IoThread io;
  auto pool = echo.builder_for(echo.server.endpoint()).with_max_connections(20).build(io.executor());
  auto pools = std::make_shared<MonitoredPools>();
  std::string problem;
  ASSERT_TRUE(pools->add(pool, problem)) << problem;
  boost::system::error_code error;
  MonitoringServerOptions options;
  options.port = 0;
  options.read_timeout = 60s;  // the flood holds its slots for the whole test
  auto server = MonitoringServer::create(
      io.executor(), options, [pools](const MonitoringRequest& request) { return pools->handle(request); }, error);
  ASSERT_TRUE(server) << error.message();
  server->start();

  const std::size_t descriptors_before = testing::count_open_file_descriptors();
  std::vector<int> flood;
  for (int i = 0; i < 5000; ++i) {
    const int descriptor = start_idle_connection(server->port());
    ASSERT_GE(descriptor, 0) << "client socket " << i << ": " << std::strerror(errno);
    flood.push_back(descriptor);
  }
  ASSERT_TRUE(testing::eventually([&] { return server->open_connections() == options.max_connections; }));

  // The pool opens and uses 20 connections meanwhile, each exchange on its own lease.
  std::vector<Lease> leases;
  for (int i = 0; i < 20; ++i) leases.push_back(testing::acquire(*pool));
  for (Lease& lease : leases) EXPECT_EQ(testing::echo_exchange(lease, "still serving"), "still serving");
  leases.clear();
  EXPECT_EQ(pool->stats().connect_failures, 0u);

  // The server took no more than its cap: 5,000 client descriptors, 64 served, the pool's 20
  // connections with their server side (this process is the upstream too), and little else.
  EXPECT_EQ(server->open_connections(), options.max_connections);
  EXPECT_GE(server->stats().accept_pauses, 1u);
  const std::size_t descriptors_during = testing::count_open_file_descriptors();
  EXPECT_LT(descriptors_during, descriptors_before + 5000 + options.max_connections + 2 * 20 + 16)
      << "the monitoring server accepted beyond its cap";

  for (int descriptor : flood) ::close(descriptor);
  // Each closed client frees its slot; the server works its way through the backlog's dead ones.
  ASSERT_TRUE(testing::eventually([&] { return server->open_connections() == 0; }, 60s));
  testing::HttpTestConnection probe(server->port());
  EXPECT_EQ(probe.get("/healthz").result_int(), 200);
  server->stop();
  testing::shutdown(*pool, 0ms);
}

}  // namespace
}  // namespace securechannel
