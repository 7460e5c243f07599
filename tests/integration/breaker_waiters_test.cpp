// Callers waiting for a connection when the upstream goes down: once a failure opens the circuit
// breaker they fail with circuit_open at once, even while other leases are out, instead of
// waiting out acquire_timeout for a lease that may never come back.
#include "demo/certificate_authority.hpp"
#include "demo/tls_echo_server.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/securechannel.hpp"

#include <gtest/gtest.h>

#include <future>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

class BreakerWaitersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server = std::make_unique<demo::TlsEchoServer>(
        demo::TlsEchoServerOptions{.certificate_file = leaf.certificate_file, .key_file = leaf.key_file});
  }

  // Two connections, both leased; the breaker opens at the first connect failure; a waiter would
  // otherwise wait a minute.
  std::shared_ptr<SecureChannelPool> full_pool() {
    PoolBuilder b(server->endpoint());
    b.with_system_trust_store(false)
        .with_ca_file(authority.ca_certificate_file().string())
        .with_max_connections(2)
        .with_acquire_timeout(60s)
        .with_circuit_breaker_failure_threshold(1);
    return b.build(io.executor());
  }

  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate leaf = authority.issue("upstream");
  std::unique_ptr<demo::TlsEchoServer> server;
  testing::IoThread io;
};

TEST_F(BreakerWaitersTest, WaitersBehindBusyLeasesFailAtOnceWhenTheBreakerOpens) {
  auto pool = full_pool();
  Lease first = testing::acquire(*pool);
  Lease second = testing::acquire(*pool);
  server.reset();  // the upstream goes away; nothing listens on its port

  testing::PendingAcquire oldest = testing::start_acquire(*pool);
  testing::PendingAcquire younger = testing::start_acquire(*pool);
  ASSERT_TRUE(testing::eventually([&] { return pool->stats().pending_acquires == 2; }));

  // The first lease ends broken: its replacement's connect fails and opens the breaker. The
  // oldest waiter was counting on that connect and learns why; the younger one, still behind
  // the second (busy) lease, must not wait out its minute.
  first.mark_broken();
  first.release();
  ASSERT_EQ(oldest.error.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(oldest.error.get(), make_error_code(errc::connect_refused));
  ASSERT_EQ(younger.error.wait_for(30s), std::future_status::ready) << "still waiting behind a busy lease";
  EXPECT_EQ(younger.error.get(), make_error_code(errc::circuit_open));
  EXPECT_EQ(pool->stats().pending_acquires, 0u);

  // At capacity with the breaker open, a new caller fails fast too.
  EXPECT_EQ(testing::acquire_error(*pool), make_error_code(errc::circuit_open));
  EXPECT_EQ(pool->stats().acquire_timeouts, 0u);
}

}  // namespace
}  // namespace securechannel
