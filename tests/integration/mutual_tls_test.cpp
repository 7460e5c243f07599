// mTLS against `openssl s_server -Verify 1 -verify_return_error`, a server that demands and
// checks client certificates: our certificate gets through (the server names it), a missing one
// or one from a CA the server does not trust fails the acquire with its own error before any
// application byte is sent (TLS 1.3, where the refusal comes after our side of the handshake,
// and TLS 1.2, where it comes inside it), an encrypted key works with its passphrase, and a
// resumed connection needs no certificate exchange.
#include "demo/certificate_authority.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/pool_config_file.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/encrypted_key.hpp"
#include "testing/openssl_server.hpp"
#include "testing/spki_pin.hpp"

#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <memory>
#include <optional>

namespace securechannel {
namespace {

using namespace std::chrono_literals;
using boost::system::error_code;

class MutualTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::OpenSslServer::available()) GTEST_SKIP() << "no /usr/bin/openssl";
  }

  // s_server demanding a certificate from a CA it trusts (`client_authority`), over `version`.
  void start_server(const std::string& version = "-tls1_3") {
    server.emplace(testing::OpenSslServerOptions{
        .certificate_file = server_leaf.certificate_file,
        .key_file = server_leaf.key_file,
        .arguments = {version, "-Verify", "1", "-verify_return_error", "-verifyCAfile",
                      client_authority.ca_certificate_file().string()}});
  }

  PoolBuilder builder(TlsVersion min_version = TlsVersion::tls1_3) const {
    PoolBuilder pool_builder(server->endpoint());
    pool_builder.with_system_trust_store(false)
        .with_ca_file(server_authority.ca_certificate_file().string())
        .with_min_tls_version(min_version)
        .with_max_connections(1);
    return pool_builder;
  }

  // Writes `message` on a fresh lease; true once s_server has printed it.
  bool server_receives(SecureChannelPool& pool, const std::string& message) {
    Lease lease = testing::acquire(pool);
    testing::throw_if(testing::operation_error([&](auto handler) {
                        async_write_all(lease, boost::asio::buffer(message), handler);
                      }),
                      "write");
    return server->wait_for_output(message, 10s);
  }

  // The refusal as the pool reports it; the server must have seen no application byte.
  void expect_refused(SecureChannelPool& pool, errc expected, const std::string& reason_part) {
    EXPECT_EQ(testing::acquire_error(pool), expected);
    const ConnectFailure failure = pool.last_connect_failure();
    EXPECT_NE(failure.describe().find(reason_part), std::string::npos) << failure.describe();
    EXPECT_EQ(pool.stats().errors_by_kind.at(std::string(error_name(expected))), 1u);
    EXPECT_EQ(pool.stats().connections_created, 0u) << "no connection was handed out";
  }

  demo::CertificateAuthority server_authority = demo::CertificateAuthority::create("upstream CA");
  demo::CertificateAuthority client_authority = demo::CertificateAuthority::create("client CA");
  demo::CertificateAuthority stranger_authority = demo::CertificateAuthority::create("stranger CA");
  demo::IssuedCertificate server_leaf = server_authority.issue("upstream");
  demo::IssuedCertificate client = client_authority.issue(
      "client", {.common_name = "mtls-client", .dns_names = {}, .ip_addresses = {}});
  demo::IssuedCertificate stranger = stranger_authority.issue(
      "stranger", {.common_name = "stranger-client", .dns_names = {}, .ip_addresses = {}});
  std::optional<testing::OpenSslServer> server;
  testing::IoThread io;
};

TEST_F(MutualTlsTest, OurCertificateGetsThroughAndTheServerSeesIt) {
  start_server();
  auto pool = builder()
                  .with_client_certificate(client.certificate_file.string(), client.key_file.string())
                  .build(io.executor());
  EXPECT_TRUE(server_receives(*pool, "hello over mTLS\n")) << server->diagnostics();
  EXPECT_NE(server->output().find("subject=CN = mtls-client"), std::string::npos)
      << "s_server verified and printed our certificate\n"
      << server->diagnostics();
  EXPECT_EQ(pool->stats().total_errors, 0u);
  testing::shutdown(*pool, 1s);
}

TEST_F(MutualTlsTest, TlsOneTwoServerAlsoAcceptsOurCertificate) {
  start_server("-tls1_2");
  auto pool = builder(TlsVersion::tls1_2)
                  .with_client_certificate(client.certificate_file.string(), client.key_file.string())
                  .build(io.executor());
  EXPECT_TRUE(server_receives(*pool, "hello over TLS 1.2 mTLS\n")) << server->diagnostics();
  EXPECT_NE(server->output().find("subject=CN = mtls-client"), std::string::npos) << server->diagnostics();
  testing::shutdown(*pool, 1s);
}

TEST_F(MutualTlsTest, AnEncryptedKeyWorksWithItsPassphrase) {
  start_server();
  const auto encrypted = testing::write_encrypted_key(client.key_file, "correct horse battery staple",
                                                      client_authority.directory() / "client-encrypted.key");
  auto pool = builder()
                  .with_client_certificate(client.certificate_file.string(), encrypted.string(),
                                           "correct horse battery staple")
                  .build(io.executor());
  EXPECT_TRUE(server_receives(*pool, "hello with a decrypted key\n")) << server->diagnostics();
  // The passphrase is kept for reload_tls(), in locked memory only (the builder wiped its string).
  const SharedSecret& kept = pool->tls_context()->options().client_key_passphrase;
  ASSERT_TRUE(kept);
  EXPECT_TRUE(kept->equals("correct horse battery staple"));
  EXPECT_EQ(kept, pool->config().tls.client_key_passphrase) << "one buffer, shared, not a copy";
  const std::optional<ConfigError> refused = pool->reload_tls();
  EXPECT_FALSE(refused) << refused->what() << ": the encrypted key is parsed again";
  EXPECT_TRUE(server_receives(*pool, "hello after the reload\n")) << server->diagnostics();

  std::string error;
  EXPECT_EQ(builder().with_client_certificate(client.certificate_file.string(), encrypted.string(), "wrong horse")
                .try_build(io.executor(), error),
            nullptr);
  EXPECT_EQ(error, "tls.client_key_file: wrong passphrase for '" + encrypted.string() + "' (tls.client_key_passphrase)");
  testing::shutdown(*pool, 1s);
}

// The whole TLS identity from a pool file (docs/CONFIG.md): trust, pins, our certificate and an
// encrypted key whose passphrase comes from a file, paths relative to the file's folder.
TEST_F(MutualTlsTest, APoolFileCarriesTheWholeTlsIdentity) {
  start_server();
  const std::filesystem::path folder = client_authority.directory();
  testing::write_encrypted_key(client.key_file, "correct horse battery staple", folder / "client-encrypted.key");
  std::ofstream(folder / "client.pass") << "correct horse battery staple\n";
  const auto write_pool_file = [&](const std::string& pins) {
    std::ofstream(folder / "pools.toml", std::ios::trunc)
        << "[[pool]]\nendpoint = \"" << server->endpoint() << "\"\nmax_connections = 1\n"
        << "[pool.tls]\nsystem_trust_store = false\n"
        << "ca_file = \"" << server_authority.ca_certificate_file().string() << "\"\n"
        << "pins = [" << pins << "]\n"
        << "client_certificate_file = \"" << client.certificate_file.filename().string() << "\"\n"
        << "client_key_file = \"client-encrypted.key\"\nclient_key_passphrase_file = \"client.pass\"\n";
    return (folder / "pools.toml").string();
  };
  const std::string backup_pin = "\"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"";
  const std::string server_pin = "\"" + testing::spki_pin_of(server_leaf.certificate_file) + "\"";

  auto pool = SecureChannelPool::create(io.executor(), load_pool_config_file(write_pool_file(backup_pin + ", " + server_pin)).at(0));
  EXPECT_TRUE(server_receives(*pool, "hello from a pool file\n")) << server->diagnostics();
  EXPECT_NE(server->output().find("subject=CN = mtls-client"), std::string::npos) << server->diagnostics();
  EXPECT_FALSE(pool->config().tls.client_key_passphrase) << "read from its file for the load, not kept";
  const std::optional<ConfigError> refused = pool->reload_tls();
  EXPECT_FALSE(refused) << refused->what() << ": the passphrase file is read again";
  testing::shutdown(*pool, 1s);

  // The file's pins are enforced: with only the backup pin the same server is refused.
  auto mispinned = SecureChannelPool::create(io.executor(), load_pool_config_file(write_pool_file(backup_pin)).at(0));
  EXPECT_EQ(testing::acquire_error(*mispinned), errc::certificate_pin_mismatch);
  EXPECT_EQ(server->output().find("hello from a pool file\nhello"), std::string::npos);
}

// With pins, the pin is checked while the server's certificate is verified, so a server whose
// key is not pinned aborts the handshake before our Certificate message leaves (TLS 1.3 sends it
// after the server's Finished, TLS 1.2 after ServerHelloDone): an impostor holding a certificate
// from a trusted CA learns nothing about us. s_server asks for a certificate without requiring
// one (-verify 1) and prints "depth=0 CN = <subject>" for every client certificate it receives.
TEST_F(MutualTlsTest, AServerWithAnUnpinnedKeyNeverReceivesOurCertificate) {
  const std::string wrong_pin = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  const std::string server_pin = testing::spki_pin_of(server_leaf.certificate_file);
  const std::string received = "depth=0 CN = mtls-client";
  for (const auto& [version, min_version] : {std::pair{"-tls1_3", TlsVersion::tls1_3}, std::pair{"-tls1_2", TlsVersion::tls1_2}}) {
    SCOPED_TRACE(version);
    server.emplace(testing::OpenSslServerOptions{.certificate_file = server_leaf.certificate_file,
                                                 .key_file = server_leaf.key_file,
                                                 .arguments = {version, "-verify", "1", "-verifyCAfile",
                                                               client_authority.ca_certificate_file().string()}});
    auto mispinned = builder(min_version)
                         .with_pin(wrong_pin)
                         .with_client_certificate(client.certificate_file.string(), client.key_file.string())
                         .build(io.executor());
    EXPECT_EQ(testing::acquire_error(*mispinned), errc::certificate_pin_mismatch);
    EXPECT_NE(mispinned->last_connect_failure().tls.reason.find(server_pin), std::string::npos)
        << "the server's actual key is named: " << mispinned->last_connect_failure().describe();
    // The control, on the same server: with its pin our certificate arrives. s_server serves
    // connections in order, so by the time it prints this one it has finished the refused one.
    auto pinned = builder(min_version)
                      .with_pin(server_pin)
                      .with_client_certificate(client.certificate_file.string(), client.key_file.string())
                      .build(io.executor());
    EXPECT_TRUE(server_receives(*pinned, "hello, pinned\n")) << server->diagnostics();
    const std::string seen = server->diagnostics();
    const std::size_t first = seen.find(received);
    ASSERT_NE(first, std::string::npos) << "the control shows what s_server prints\n" << seen;
    EXPECT_EQ(seen.find(received, first + 1), std::string::npos)
        << "s_server received our certificate from the refused connection too\n" << seen;
    testing::shutdown(*pinned, 1s);
  }
}

TEST_F(MutualTlsTest, WithoutACertificateTheAcquireFailsBeforeAnyByteIsSent) {
  start_server();
  auto pool = builder().build(io.executor());
  expect_refused(*pool, errc::client_certificate_required, "tls.client_certificate_file");
  EXPECT_NE(pool->last_connect_failure().tls.reason.find("certificate required"), std::string::npos)
      << "the server's alert is quoted: " << pool->last_connect_failure().describe();
}

TEST_F(MutualTlsTest, WithoutACertificateATlsOneTwoServerRefusesInsideTheHandshake) {
  start_server("-tls1_2");
  auto pool = builder(TlsVersion::tls1_2).build(io.executor());
  expect_refused(*pool, errc::client_certificate_required, "tls.client_certificate_file");
}

TEST_F(MutualTlsTest, ACertificateFromACaTheServerDoesNotTrustIsRejected) {
  start_server();
  auto pool = builder()
                  .with_client_certificate(stranger.certificate_file.string(), stranger.key_file.string())
                  .build(io.executor());
  expect_refused(*pool, errc::client_certificate_rejected, stranger.certificate_file.string());
  EXPECT_NE(pool->last_connect_failure().tls.reason.find("unknown ca"), std::string::npos)
      << pool->last_connect_failure().describe();
  EXPECT_EQ(server->output().find("subject=CN = stranger-client"), std::string::npos) << "never accepted";
}

TEST_F(MutualTlsTest, ACertificateFromACaTheServerDoesNotTrustIsRejectedOnTlsOneTwo) {
  start_server("-tls1_2");
  auto pool = builder(TlsVersion::tls1_2)
                  .with_client_certificate(stranger.certificate_file.string(), stranger.key_file.string())
                  .build(io.executor());
  expect_refused(*pool, errc::client_certificate_rejected, "unknown ca");
}

// SecureChannel directly: s_server serves one connection at a time, so the first must be closed
// before the second is accepted, which a pool holding its idle connection would not do.
error_code connect(SecureChannel& channel, std::uint16_t port) {
  std::promise<error_code> outcome;
  auto result = outcome.get_future();
  channel.async_connect("127.0.0.1", std::to_string(port), 10s, [&outcome](error_code error) { outcome.set_value(error); });
  return result.get();
}

// Sends close_notify and destroys the channel on the io thread, where its operations ran.
void close_on(testing::IoThread& io, std::unique_ptr<SecureChannel>& channel) {
  std::promise<void> closed;
  channel->async_shutdown(5s, [&](error_code) {
    // Not inside the channel's own completion: the destruction is posted.
    boost::asio::post(io.executor(), [&] {
      channel.reset();
      closed.set_value();
    });
  });
  closed.get_future().get();
}

TEST_F(MutualTlsTest, AResumedConnectionNeedsNoCertificateExchange) {
  start_server();
  TlsOptions options;
  options.use_system_trust_store = false;
  options.ca_file = server_authority.ca_certificate_file().string();
  options.client_certificate_file = client.certificate_file.string();
  options.client_key_file = client.key_file.string();
  std::optional<ConfigError> error;
  std::shared_ptr<const ClientTlsContext> context = ClientTlsContext::create(options, error);
  ASSERT_TRUE(context) << error->what();

  auto first = std::make_unique<SecureChannel>(io.executor(), context);
  ASSERT_FALSE(connect(*first, server->port())) << first->tls_failure().describe();
  EXPECT_FALSE(first->resumed_session());
  close_on(io, first);
  // s_server flushes "DONE" when it reads our close_notify, then accepts the next connection.
  ASSERT_TRUE(server->wait_for_output("\nDONE\n", 10s)) << server->diagnostics();

  auto second = std::make_unique<SecureChannel>(io.executor(), context);
  ASSERT_FALSE(connect(*second, server->port())) << second->tls_failure().describe();
  EXPECT_TRUE(second->resumed_session()) << "the first connection's ticket came after the server accepted us";
  EXPECT_TRUE(server->wait_for_output("Reused session-id", 10s)) << server->diagnostics();
  close_on(io, second);
}

}  // namespace
}  // namespace securechannel
