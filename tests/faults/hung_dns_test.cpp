// A resolver that never answers, through the real getaddrinfo: in this test's own mount namespace
// /etc/resolv.conf names 127.0.0.77, where a UDP socket takes every query and answers none, and
// tells glibc to wait 30 s for each. A connect must still end at connect_timeout with
// dns_timeout, and the pool's shutdown must not wait for the lookup (docs/POOL.md, "Names").
#include "fault_test.hpp"
#include "pool_exchange.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cstring>
#include <thread>

namespace securechannel::testing {
namespace {

using namespace std::chrono_literals;

// UDP port 53 on `address`: queries arrive and stay unanswered.
class SilentNameServer {
 public:
  explicit SilentNameServer(const char* address) {
    descriptor_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in where{};
    where.sin_family = AF_INET;
    where.sin_port = htons(53);
    ::inet_pton(AF_INET, address, &where.sin_addr);
    if (descriptor_ < 0 || ::bind(descriptor_, reinterpret_cast<const sockaddr*>(&where), sizeof where) != 0) {
      throw std::runtime_error(std::string("cannot bind UDP ") + address + ":53: " + std::strerror(errno));
    }
  }
  ~SilentNameServer() { ::close(descriptor_); }
  SilentNameServer(const SilentNameServer&) = delete;
  SilentNameServer& operator=(const SilentNameServer&) = delete;

  // Queries received and not yet counted.
  int queries() {
    int count = 0;
    char datagram[512];
    while (::recv(descriptor_, datagram, sizeof datagram, MSG_DONTWAIT) > 0) ++count;
    return count;
  }

 private:
  int descriptor_ = -1;
};

class HungDnsTest : public FaultTest {
 protected:
  void SetUp() override {
    FaultTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    std::string why_not;
    ASSERT_TRUE(PrivateNetwork::replace_system_file("/etc/resolv.conf",
                                                    "nameserver 127.0.0.77\noptions timeout:30 attempts:1\n", why_not))
        << why_not;
  }

  SilentNameServer name_server{"127.0.0.77"};
};

TEST_F(HungDnsTest, AConnectEndsAtItsTimeoutAndShutdownDoesNotWaitForTheLookup) {
  auto pool = PoolBuilder("relay.hung.test:443").with_connect_timeout(500ms).build(io.executor());
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(acquire_error(*pool), errc::dns_timeout);
  EXPECT_LT(seconds_since(started), 5.0) << "glibc alone would have waited 30 s";
  EXPECT_GT(name_server.queries(), 0) << "the query reached the silent server: the hang was real";
  EXPECT_NE(pool->last_connect_failure().describe().find("no answer for relay.hung.test"), std::string::npos)
      << pool->last_connect_failure().describe();
  EXPECT_EQ(pool->stats().errors_by_kind.at("dns_timeout"), 1u);

  // A second connect waits on the same hung lookup; shutting down does not wait for it.
  pool->async_acquire([](boost::system::error_code, Lease) {});
  std::this_thread::sleep_for(300ms);  // past the reconnect backoff: the connect is in the lookup
  const auto shutting_down = std::chrono::steady_clock::now();
  shutdown(*pool, 2s);
  EXPECT_LT(seconds_since(shutting_down), 2.0);
}

}  // namespace
}  // namespace securechannel::testing
