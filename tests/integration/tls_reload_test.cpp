// SecureChannelPool::reload_tls: the CA file is read again and new connections verify against
// what it now holds, while connections already open keep working; a file that does not load is
// reported with its field and changes nothing.
#include "captured_log.hpp"
#include "demo/certificate_authority.hpp"
#include "demo/child_process.hpp"
#include "demo/tls_echo_server.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/monitored_pools.hpp"
#include "securechannel/securechannel.hpp"

#include <gtest/gtest.h>
#include <openssl/x509_vfy.h>

#include <filesystem>
#include <fstream>
#include <thread>


namespace securechannel {
namespace {

namespace fs = std::filesystem;
namespace sct = securechannel::testing;
using namespace std::chrono_literals;

// Replaces the file's content the way an operator's tooling should: write aside, then rename.
void replace_file(const fs::path& path, const std::string& content) {
  const fs::path aside = path.string() + ".new";
  std::ofstream(aside, std::ios::trunc) << content;
  fs::rename(aside, path);
}

class TlsReloadTest : public ::testing::Test {
 protected:
  void SetUp() override { replace_file(trust_file(), demo::read_text_file(old_ca.ca_certificate_file())); }

  fs::path trust_file() const { return directory.path() / "trusted.pem"; }

  std::shared_ptr<SecureChannelPool> build_pool(bool session_resumption = true) {
    return PoolBuilder(server.endpoint())
        .with_namespace("reload")
        .with_system_trust_store(false)
        .with_ca_file(trust_file().string())
        .with_session_resumption(session_resumption)
        .build(io.executor());
  }

  demo::TemporaryDirectory directory{"securechannel-reload"};
  demo::CertificateAuthority old_ca = demo::CertificateAuthority::create("old relay CA");
  demo::CertificateAuthority new_ca = demo::CertificateAuthority::create("new relay CA");
  demo::IssuedCertificate old_leaf = old_ca.issue("upstream");
  demo::IssuedCertificate new_leaf = new_ca.issue("upstream");
  demo::TlsEchoServer server{{.certificate_file = old_leaf.certificate_file, .key_file = old_leaf.key_file}};
  sct::IoThread io;
};

TEST_F(TlsReloadTest, NewConnectionsVerifyAgainstTheNewCaWhileALeasedOneKeepsWorking) {
  auto pool = build_pool();
  Lease held = sct::acquire(*pool);
  ASSERT_EQ(sct::echo_exchange(held, "before the reload"), "before the reload");
  const auto old_context = pool->tls_context();

  replace_file(trust_file(), demo::read_text_file(new_ca.ca_certificate_file()));
  const std::optional<ConfigError> refused = pool->reload_tls();
  ASSERT_FALSE(refused) << refused->what();
  EXPECT_NE(pool->tls_context(), old_context);

  // The server still presents the old CA's certificate: a new connection no longer trusts it
  // (and cannot resume a session from the old context: the new one starts with no tickets).
  EXPECT_EQ(sct::acquire_error(*pool), make_error_code(errc::certificate_verify_failed));
  EXPECT_EQ(pool->last_connect_failure().tls.verify_result, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_EQ(sct::echo_exchange(held, "still open"), "still open") << "the leased connection was not dropped";

  // The upstream rotates to the new CA's certificate: new connections verify against it.
  server.replace_certificate(new_leaf.certificate_file, new_leaf.key_file);
  Lease fresh = sct::acquire(*pool);
  EXPECT_FALSE(fresh.reused());
  EXPECT_FALSE(fresh.channel().resumed_session()) << "a full handshake, checked against the new CA";
  EXPECT_EQ(sct::echo_exchange(fresh, "after the reload"), "after the reload");
  EXPECT_EQ(sct::echo_exchange(held, "and the old one too"), "and the old one too");
  EXPECT_EQ(pool->stats().connections_closed, 0u);
  EXPECT_EQ(pool->stats().tls_reloads, 1u);

  MonitoredPools pools;
  std::string problem;
  ASSERT_TRUE(pools.add(pool, problem)) << problem;
  const std::string metrics = pools.handle({"GET", "/metrics"}).body;
  const std::string endpoint = "endpoint=\"" + server.endpoint() + "\"";
  EXPECT_NE(metrics.find("reload_tls_reloads_total{" + endpoint + ",result=\"success\"} 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("reload_tls_reloads_total{" + endpoint + ",result=\"failure\"} 0"), std::string::npos)
      << metrics;
}

TEST_F(TlsReloadTest, AFileThatDoesNotLoadIsReportedByFieldAndTheOldContextStays) {
  auto pool = build_pool(/*session_resumption=*/false);  // so the check below is a full handshake
  Lease held = sct::acquire(*pool);
  const auto old_context = pool->tls_context();
  sct::CapturedLog log;

  replace_file(trust_file(), "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
  std::optional<ConfigError> refused = pool->reload_tls();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->field(), "tls.ca_file") << refused->what();
  EXPECT_NE(log.text().find("TLS reload for " + server.endpoint() + " failed"), std::string::npos) << log.text();
  EXPECT_EQ(pool->tls_context(), old_context);

  // A new connection still verifies against the old CA: a full handshake with the old context.
  fs::remove(trust_file());
  refused = pool->reload_tls();
  ASSERT_TRUE(refused) << "a missing file fails the same way";
  EXPECT_EQ(refused->field(), "tls.ca_file") << refused->what();
  Lease second = sct::acquire(*pool);
  EXPECT_FALSE(second.reused());
  EXPECT_EQ(sct::echo_exchange(second, "old CA still trusted"), "old CA still trusted");
  EXPECT_EQ(sct::echo_exchange(held, "untouched"), "untouched");
  EXPECT_EQ(pool->stats().tls_reload_failures, 2u);
  EXPECT_EQ(pool->stats().tls_reloads, 0u);

  MonitoredPools pools;
  std::string problem;
  ASSERT_TRUE(pools.add(pool, problem)) << problem;
  EXPECT_NE(pools.handle({"GET", "/metrics"}).body.find("result=\"failure\"} 2"), std::string::npos);
}

}  // namespace
}  // namespace securechannel
