// SecureChannelPool against a real nginx (TLS 1.3, HTTP/1.1 keep-alive) started by the fixture.
#include "demo/certificate_authority.hpp"
#include "demo/nginx_server.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>
#include <openssl/x509_vfy.h>

#include <array>
#include <atomic>

namespace securechannel {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::eventually;

class PoolNginxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!demo::NginxServer::available()) GTEST_SKIP() << "nginx is not installed (scripts/bootstrap installs it)";
    options.certificate_file = leaf.certificate_file;
    options.key_file = leaf.key_file;
  }

  void start(int keepalive_timeout_seconds = 75) {
    options.keepalive_timeout_seconds = keepalive_timeout_seconds;
    nginx = std::make_unique<demo::NginxServer>(options);
  }

  PoolBuilder builder() {
    PoolBuilder b(nginx->endpoint());
    b.with_system_trust_store(false).with_ca_file(authority.ca_certificate_file().string());
    return b;
  }

  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate leaf = authority.issue("nginx");
  demo::NginxOptions options;
  std::unique_ptr<demo::NginxServer> nginx;
  testing::IoThread io;
};

TEST_F(PoolNginxTest, SequentialRequestsReuseOneKeepAliveConnection) {
  start();
  auto pool = builder().build(io.executor());
  for (int i = 0; i < 100; ++i) {
    Lease lease = testing::acquire(*pool);
    const testing::HttpReply reply = testing::http_get(lease);
    ASSERT_EQ(reply.status, 200);
    ASSERT_EQ(reply.body, "hello\n");
  }
  EXPECT_EQ(pool->stats().connections_created, 1u);
  EXPECT_EQ(pool->stats().reuses, 99u);
  EXPECT_EQ(pool->connection_snapshots().at(0).tls_version, "TLSv1.3");
}

TEST_F(PoolNginxTest, ConcurrentRequestsNeverOpenMoreThanMaxConnectionsSockets) {
  start();
  const std::size_t sockets_before = testing::count_open_sockets();
  auto pool = builder().with_max_connections(10).with_acquire_timeout(30s).build(io.executor());
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::atomic<std::size_t> most_sockets{0};
  for (int i = 0; i < 200; ++i) {
    asio::co_spawn(
        io.executor(),
        [&]() -> asio::awaitable<void> {
          try {
            Lease lease = co_await pool->async_acquire(asio::use_awaitable);
            const std::size_t sockets = testing::count_open_sockets() - sockets_before;
            for (std::size_t seen = most_sockets; sockets > seen && !most_sockets.compare_exchange_weak(seen, sockets);) {
            }
            const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
            co_await async_write_all(lease, asio::buffer(request), asio::use_awaitable);
            std::string response;
            co_await asio::async_read_until(lease, asio::dynamic_buffer(response), "hello\n", asio::use_awaitable);
            if (response.rfind("HTTP/1.1 200", 0) == 0) ++ok; else ++failed;
          } catch (const std::exception&) {
            ++failed;
          }
        },
        asio::detached);
  }
  ASSERT_TRUE(eventually([&] { return ok + failed == 200; }));
  EXPECT_EQ(ok, 200);
  EXPECT_LE(most_sockets.load(), 10u) << "sockets counted in /proc/self/fd";
  EXPECT_GE(most_sockets.load(), 1u);
  EXPECT_LE(pool->stats().connections_created, 10u);
}

TEST_F(PoolNginxTest, KeepAliveTimeoutOfTheServerIsAbsorbed) {
  start(1);  // nginx closes idle keep-alive connections after one second
  auto pool = builder().with_validate_after_inactivity(0ms).build(io.executor());
  {
    Lease lease = testing::acquire(*pool);
    ASSERT_EQ(testing::http_get(lease).status, 200);
  }
  // The cleanup pass probes idle connections; wait until it has seen nginx's close.
  ASSERT_TRUE(eventually([&] {
    pool->run_cleanup_once();
    return pool->stats().stale_discarded == 1;
  }));
  Lease lease = testing::acquire(*pool);
  EXPECT_FALSE(lease.reused());
  EXPECT_EQ(testing::http_get(lease).status, 200);
  EXPECT_EQ(pool->stats().connections_created, 2u);
}

TEST_F(PoolNginxTest, ConnectionClosedAfterResponseIsNotReused) {
  start();
  auto pool = builder().with_validate_after_inactivity(0ms).build(io.executor());
  std::uint64_t first_id = 0;
  {
    Lease lease = testing::acquire(*pool);
    first_id = lease.connection_id();
    EXPECT_EQ(testing::http_get(lease, "/close").status, 200);  // "Connection: close"
    // Reading on finds the end of the stream: the lease now knows the connection is done.
    std::array<char, 1> byte{};
    EXPECT_TRUE(testing::operation_error([&](auto handler) { async_read_exact(lease, asio::buffer(byte), handler); }));
  }
  EXPECT_EQ(pool->stats().closed_broken, 1u);
  Lease lease = testing::acquire(*pool);
  EXPECT_NE(lease.connection_id(), first_id);
  EXPECT_EQ(testing::http_get(lease).body, "hello\n");
}

TEST_F(PoolNginxTest, AlpnNegotiatesHttp2WhenOffered) {
  start();
  auto pool = builder().with_alpn({"h2", "http/1.1"}).build(io.executor());
  Lease lease = testing::acquire(*pool);
  EXPECT_EQ(lease.channel().negotiated_alpn(), "h2");
  auto http1_pool = builder().with_alpn({"http/1.1"}).build(io.executor());
  Lease http1 = testing::acquire(*http1_pool);
  EXPECT_EQ(http1.channel().negotiated_alpn(), "http/1.1");
}

TEST_F(PoolNginxTest, WrongHostnameIsRefusedWithTheReason) {
  start();
  auto pool = builder().with_server_name("relay.example.com").build(io.executor());
  EXPECT_EQ(testing::acquire_error(*pool), make_error_code(errc::certificate_verify_failed)) << "verification should fail";
  EXPECT_EQ(pool->last_connect_failure().tls.verify_result, X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_F(PoolNginxTest, Tls12OnlyServerIsRefusedByTheTls13Default) {
  options.ssl_protocols = "TLSv1.2";
  start();
  auto pool = builder().build(io.executor());
  EXPECT_EQ(testing::acquire_error(*pool), make_error_code(errc::protocol_version_unsupported))
      << "a TLS 1.2-only server must be refused by default";
  EXPECT_NE(pool->last_connect_failure().tls.reason.find("protocol version"), std::string::npos)
      << pool->last_connect_failure().describe();
  auto lowered = builder().with_min_tls_version(TlsVersion::tls1_2).build(io.executor());
  Lease lease = testing::acquire(*lowered);
  EXPECT_EQ(lease.channel().negotiated_protocol_version(), "TLSv1.2");
  EXPECT_EQ(testing::http_get(lease).status, 200);
}

TEST_F(PoolNginxTest, GracefulShutdownLeavesNoSocket) {
  start();
  const std::size_t sockets_before = testing::count_open_sockets();
  auto pool = builder().with_min_idle(4).build(io.executor());
  pool->warm_up();
  ASSERT_TRUE(eventually([&] { return pool->stats().idle_connections == 4; }));
  EXPECT_EQ(testing::count_open_sockets(), sockets_before + 4);
  testing::shutdown(*pool, 1s);
  EXPECT_EQ(testing::count_open_sockets(), sockets_before);
}

}  // namespace
}  // namespace securechannel
