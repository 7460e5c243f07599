// TLS session resumption: later connections of a pool resume the sessions earlier ones received,
// seen from both ends (our echo server counts resumed handshakes; nginx through the client's
// session-reused flag), and a cached ticket never replaces verification of a different server.
#include "demo/nginx_server.hpp"
#include "echo_upstream.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/pool_metrics.hpp"
#include "securechannel/prometheus_text.hpp"
#include "securechannel/securechannel.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <vector>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

class TlsResumptionTest : public ::testing::Test {
 protected:
  testing::EchoUpstream upstream;
  testing::IoThread io;
};

TEST_F(TlsResumptionTest, ASecondConnectionResumesTheFirstOnesSession) {
  auto pool = upstream.builder_for(upstream.server.endpoint()).build(io.executor());
  Lease first = testing::acquire(*pool);
  EXPECT_FALSE(first.channel().resumed_session());
  // Reading on it takes in the tickets the server sent after the handshake, whatever the timing
  // (the connect's own short wait for them may run out on a loaded machine).
  ASSERT_FALSE(testing::echo_error(first, "takes the tickets in"));
  Lease second = testing::acquire(*pool);  // the first is still held: a new connection
  EXPECT_TRUE(second.channel().resumed_session());
  // The echo also makes sure the server has finished its side of the handshake (TLS 1.3: our
  // connect completes before the server has read our Finished).
  EXPECT_FALSE(testing::echo_error(second, "over a resumed session"));
  EXPECT_EQ(upstream.server.completed_handshakes(), 2u);
  EXPECT_EQ(upstream.server.resumed_handshakes(), 1u) << "the server saw a resumption too";

  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.connections_created, 2u);
  EXPECT_EQ(stats.tls_resumed, 1u);
  std::size_t resumed_snapshots = 0;
  for (const ConnectionSnapshot& snapshot : pool->connection_snapshots()) resumed_snapshots += snapshot.tls_resumed;
  EXPECT_EQ(resumed_snapshots, 1u);
  MetricFamilies families;
  collect_pool_metrics(*pool, families);
  EXPECT_NE(families.render().find("securechannel_tls_resumed_total{endpoint=\"" + upstream.server.endpoint() + "\"} 1\n"),
            std::string::npos)
      << families.render();
  testing::shutdown(*pool, 1s);
}

TEST_F(TlsResumptionTest, EveryLaterConnectionResumesWhileTicketsLast) {
  auto pool = upstream.builder_for(upstream.server.endpoint()).with_max_connections(20).build(io.executor());
  std::vector<Lease> held;
  for (int i = 0; i < 20; ++i) {
    held.push_back(testing::acquire(*pool));
    ASSERT_FALSE(testing::echo_error(held.back(), "ping"));  // takes this connection's tickets in
  }
  EXPECT_EQ(upstream.server.resumed_handshakes(), 19u);
  EXPECT_EQ(pool->stats().tls_resumed, 19u);
  held.clear();
  testing::shutdown(*pool, 1s);
}

TEST_F(TlsResumptionTest, CanBeTurnedOff) {
  auto pool = upstream.builder_for(upstream.server.endpoint()).with_session_resumption(false).build(io.executor());
  Lease first = testing::acquire(*pool);
  EXPECT_FALSE(testing::echo_error(first, "reads the tickets"));
  Lease second = testing::acquire(*pool);
  EXPECT_FALSE(second.channel().resumed_session());
  EXPECT_FALSE(testing::echo_error(second, "the server has seen the whole handshake"));
  EXPECT_EQ(upstream.server.resumed_handshakes(), 0u);
  EXPECT_EQ(pool->stats().tls_resumed, 0u);
  testing::shutdown(*pool, 1s);
}

// A ticket is only good with the server that issued it: an impostor on the same address cannot
// decrypt it, so the handshake is a full one and its certificate is verified (and refused).
TEST(TlsResumptionImpostorTest, CachedTicketsDoNotVouchForADifferentServer) {
  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate genuine = authority.issue("upstream");
  auto server = std::make_unique<demo::TlsEchoServer>(
      demo::TlsEchoServerOptions{.certificate_file = genuine.certificate_file, .key_file = genuine.key_file});
  const std::uint16_t port = server->port();
  testing::IoThread io;
  auto pool = PoolBuilder(server->endpoint())
                  .with_system_trust_store(false)
                  .with_ca_file(authority.ca_certificate_file().string())
                  .with_validate_after_inactivity(0ms)  // look at the idle connection at checkout
                  .build(io.executor());
  {
    Lease first = testing::acquire(*pool);
    ASSERT_FALSE(testing::echo_error(first, "takes the tickets in"));
  }  // goes back idle; its tickets are cached

  server.reset();  // the genuine upstream goes away, an impostor takes its address
  demo::CertificateAuthority impostor_ca = demo::CertificateAuthority::create();
  demo::IssuedCertificate impostor = impostor_ca.issue("upstream");
  server = std::make_unique<demo::TlsEchoServer>(demo::TlsEchoServerOptions{
      .certificate_file = impostor.certificate_file, .key_file = impostor.key_file, .port = port});

  // The idle connection is found dead at checkout and replaced; the replacement offers a cached
  // ticket, which the impostor cannot use: a full handshake whose certificate is refused.
  testing::AcquireOutcome outcome = testing::acquire_outcome(*pool);
  EXPECT_EQ(outcome.error, errc::certificate_verify_failed);
  EXPECT_EQ(pool->last_connect_failure().tls.verify_result, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_EQ(server->resumed_handshakes(), 0u);
  EXPECT_EQ(server->bytes_received(), 0u);
  testing::shutdown(*pool, 1s);
}

TEST_F(TlsResumptionTest, AnUnknownTls13SuiteIsAConfigurationError) {
  std::string error;
  auto pool = upstream.builder_for(upstream.server.endpoint())
                  .with_tls13_ciphersuites("TLS_AES_128_GCM_SHA256:TLS_AES_512_GCM")
                  .try_build(io.executor(), error);
  EXPECT_EQ(pool, nullptr);
  EXPECT_EQ(error, "tls.tls13_ciphersuites: unknown TLS 1.3 suite 'TLS_AES_512_GCM'");
}

TEST_F(TlsResumptionTest, TheChosenTls13SuiteIsNegotiated) {
  auto pool = upstream.builder_for(upstream.server.endpoint())
                  .with_tls13_ciphersuites("TLS_CHACHA20_POLY1305_SHA256")
                  .build(io.executor());
  Lease lease = testing::acquire(*pool);
  EXPECT_STREQ(SSL_CIPHER_get_name(SSL_get_current_cipher(lease.channel().native_handle())),
               "TLS_CHACHA20_POLY1305_SHA256");
}

TEST(TlsResumptionNginxTest, NginxSessionsAreResumed) {
  if (!demo::NginxServer::available()) GTEST_SKIP() << "nginx is not installed (scripts/bootstrap installs it)";
  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate leaf = authority.issue("nginx");
  demo::NginxServer nginx({.certificate_file = leaf.certificate_file, .key_file = leaf.key_file});
  testing::IoThread io;
  auto pool = PoolBuilder(nginx.endpoint())
                  .with_system_trust_store(false)
                  .with_ca_file(authority.ca_certificate_file().string())
                  .build(io.executor());
  Lease first = testing::acquire(*pool);
  ASSERT_EQ(testing::http_get(first).status, 200);  // takes the tickets in
  Lease second = testing::acquire(*pool);
  EXPECT_FALSE(first.channel().resumed_session());
  EXPECT_TRUE(second.channel().resumed_session());
  EXPECT_EQ(SSL_get_verify_result(second.channel().native_handle()), X509_V_OK);
  EXPECT_EQ(pool->stats().tls_resumed, 1u);
}

}  // namespace
}  // namespace securechannel
