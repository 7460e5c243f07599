// Happy Eyeballs (RFC 8305) through the real resolver: in this test's namespace /etc/hosts gives
// dual.test both ::1 and 127.0.0.1 (getaddrinfo puts ::1 first), ::1 is a blackhole and nginx
// answers on 127.0.0.1. The connect reaches nginx over IPv4 after the 250 ms head start of the
// IPv6 attempt, well inside connect_timeout, where trying the addresses one after the other
// would spend the whole timeout on ::1 (docs/POOL.md, "Names").
#include "channel/host_resolver.hpp"
#include "fault_test.hpp"
#include "pool_exchange.hpp"
#include "securechannel/secure_channel_pool.hpp"

namespace securechannel::testing {
namespace {

using namespace std::chrono_literals;

class HappyEyeballsTest : public FaultTest {
 protected:
  void SetUp() override {
    FaultTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    std::string why_not;
    ASSERT_TRUE(PrivateNetwork::replace_system_file(
        "/etc/hosts", "127.0.0.1 localhost\n::1 dual.test\n127.0.0.1 dual.test\n", why_not))
        << why_not;
  }

  demo::IssuedCertificate dual = authority.issue("dual", {.common_name = "dual.test", .dns_names = {"dual.test"}, .ip_addresses = {}});
};

TEST_F(HappyEyeballsTest, ABlackholedIpv6AddressCostsTheHeadStartNotTheConnectTimeout) {
  demo::NginxServer nginx(demo::NginxOptions{.certificate_file = dual.certificate_file, .key_file = dual.key_file});
  const std::string port = std::to_string(nginx.port());
  const detail::ResolvedHost addresses = detail::HostResolver::system_lookup("dual.test", port);
  ASSERT_FALSE(addresses.error) << addresses.reason;
  ASSERT_EQ(addresses.endpoints.size(), 2u);
  ASSERT_TRUE(addresses.endpoints[0].address().is_v6()) << "the resolver must offer ::1 first for this test to mean anything";
  filter.blackhole_ipv6(nginx.port());

  auto pool = PoolBuilder("dual.test:" + port)
                  .with_system_trust_store(false)
                  .with_ca_file(authority.ca_certificate_file().string())
                  .with_connect_timeout(4s)
                  .build(io.executor());
  const auto started = std::chrono::steady_clock::now();
  Lease lease = acquire(*pool);
  EXPECT_LT(seconds_since(started), 3.0) << "the IPv4 attempt started 250 ms after the IPv6 one, not after it failed";
  // nginx listens on 127.0.0.1 only and ::1 drops every packet: the lease is an IPv4 connection.
  EXPECT_TRUE(lease);
  EXPECT_EQ(pool->stats().total_errors, 0u);
}

}  // namespace
}  // namespace securechannel::testing
