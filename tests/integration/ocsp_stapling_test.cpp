// OCSP stapling against `openssl s_server -status_file`, with responses made by `openssl ocsp` as
// the CA's responder (docs/TLS.md, "Revocation"): a good staple passes, a revoked one fails the
// acquire with certificate_revoked and its reason on TLS 1.3 and 1.2, a staple signed by another
// CA, of unknown status or out of date is refused, a missing staple passes unless tls.ocsp is "require", and
// "off" ignores even a revoked one.
#include "demo/certificate_authority.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/openssl_server.hpp"
#include "testing/revocation.hpp"

#include <gtest/gtest.h>

#include <optional>

namespace securechannel {
namespace {

using testing::OcspStatus;

// No skip without /usr/bin/openssl or /usr/bin/faketime: scripts/bootstrap installs both, and
// the fixtures fail naming the program that is missing.
class OcspStaplingTest : public ::testing::Test {
 protected:
  // s_server stapling `staple` (none when empty) over `version`.
  void start_server(const std::filesystem::path& staple, const std::string& version = "-tls1_3") {
    std::vector<std::string> arguments{version};
    if (!staple.empty()) arguments.insert(arguments.end(), {"-status_file", staple.string()});
    server.emplace(testing::OpenSslServerOptions{
        .certificate_file = leaf.certificate_file, .key_file = leaf.key_file, .arguments = arguments});
  }

  std::shared_ptr<SecureChannelPool> pool(OcspPolicy policy, TlsVersion min_version = TlsVersion::tls1_3) {
    return PoolBuilder(server->endpoint())
        .with_system_trust_store(false)
        .with_ca_file(authority.ca_certificate_file().string())
        .with_min_tls_version(min_version)
        .with_ocsp(policy)
        .with_session_resumption(false)
        .with_max_connections(1)
        .build(io.executor());
  }

  std::filesystem::path response(const demo::CertificateAuthority& signer, OcspStatus status, const char* name,
                                 int signed_days_ago = 0) {
    return testing::write_ocsp_response(signer, leaf, status, authority.directory() / name, signed_days_ago);
  }

  demo::CertificateAuthority authority = demo::CertificateAuthority::create("OCSP test CA");
  demo::CertificateAuthority stranger = demo::CertificateAuthority::create("stranger CA");
  demo::IssuedCertificate leaf = authority.issue("upstream");
  std::optional<testing::OpenSslServer> server;
  testing::IoThread io;
};

TEST_F(OcspStaplingTest, AGoodStapleLetsTheConnectionThrough) {
  start_server(response(authority, OcspStatus::good, "good.der"));
  auto checked = pool(OcspPolicy::require);
  EXPECT_FALSE(testing::acquire_error(*checked)) << checked->last_connect_failure().describe();
}

TEST_F(OcspStaplingTest, ARevokedStapleFailsTheAcquireWithItsReason) {
  const auto revoked = response(authority, OcspStatus::revoked, "revoked.der");
  for (const auto& [version, min_version] : {std::pair{"-tls1_3", TlsVersion::tls1_3}, std::pair{"-tls1_2", TlsVersion::tls1_2}}) {
    SCOPED_TRACE(version);
    start_server(revoked, version);
    auto checked = pool(OcspPolicy::if_stapled, min_version);
    EXPECT_EQ(testing::acquire_error(*checked), errc::certificate_revoked);
    const std::string reason = checked->last_connect_failure().describe();
    EXPECT_NE(reason.find("the server's certificate is revoked (keyCompromise) since "), std::string::npos) << reason;
    EXPECT_EQ(checked->stats().errors_by_kind.at("certificate_revoked"), 1u);
  }
}

TEST_F(OcspStaplingTest, AStapleSignedByAnotherCaOrOfUnknownStatusIsRefused) {
  start_server(response(stranger, OcspStatus::good, "stranger.der"));
  auto checked = pool(OcspPolicy::if_stapled);
  EXPECT_EQ(testing::acquire_error(*checked), errc::certificate_verify_failed);
  EXPECT_NE(checked->last_connect_failure().describe().find("not signed by the certificate's issuer"), std::string::npos)
      << checked->last_connect_failure().describe();

  start_server(response(authority, OcspStatus::unknown, "unknown.der"));
  auto unknown = pool(OcspPolicy::if_stapled);
  EXPECT_EQ(testing::acquire_error(*unknown), errc::certificate_verify_failed);
  EXPECT_NE(unknown->last_connect_failure().describe().find("status as unknown"), std::string::npos)
      << unknown->last_connect_failure().describe();
}

TEST_F(OcspStaplingTest, AnExpiredStapleIsRefused) {
  // Signed two days ago, valid for one: its next update passed a day ago, far beyond the skew.
  start_server(response(authority, OcspStatus::good, "expired.der", 2));
  auto checked = pool(OcspPolicy::if_stapled);
  EXPECT_EQ(testing::acquire_error(*checked), errc::certificate_verify_failed);
  EXPECT_NE(checked->last_connect_failure().describe().find("the stapled OCSP response is out of date"), std::string::npos)
      << checked->last_connect_failure().describe();
}

TEST_F(OcspStaplingTest, WithoutAStapleIfStapledPassesAndRequireRefuses) {
  start_server({});
  auto lenient = pool(OcspPolicy::if_stapled);
  EXPECT_FALSE(testing::acquire_error(*lenient)) << lenient->last_connect_failure().describe();
  testing::shutdown(*lenient, std::chrono::seconds(1));
  auto strict = pool(OcspPolicy::require);
  EXPECT_EQ(testing::acquire_error(*strict), errc::certificate_verify_failed);
  EXPECT_NE(strict->last_connect_failure().describe().find("stapled no OCSP response"), std::string::npos)
      << strict->last_connect_failure().describe();
}

TEST_F(OcspStaplingTest, ACrlThatListsTheCertificateRefusesIt) {
  start_server({});
  const auto crl = testing::write_crl(authority, leaf, authority.directory() / "crl.pem");
  auto checked = PoolBuilder(server->endpoint())
                     .with_system_trust_store(false)
                     .with_ca_file(authority.ca_certificate_file().string())
                     .with_crl_file(crl.string())
                     .build(io.executor());
  EXPECT_EQ(testing::acquire_error(*checked), errc::certificate_revoked);
  EXPECT_NE(checked->last_connect_failure().describe().find("certificate revoked"), std::string::npos)
      << checked->last_connect_failure().describe();

  // Another certificate of the same CA is not on the list.
  const demo::IssuedCertificate other = authority.issue("other");
  server.emplace(testing::OpenSslServerOptions{.certificate_file = other.certificate_file, .key_file = other.key_file});
  auto fine = PoolBuilder(server->endpoint())
                  .with_system_trust_store(false)
                  .with_ca_file(authority.ca_certificate_file().string())
                  .with_crl_file(crl.string())
                  .build(io.executor());
  EXPECT_FALSE(testing::acquire_error(*fine)) << fine->last_connect_failure().describe();

  std::string error;
  EXPECT_EQ(PoolBuilder(server->endpoint()).with_crl_file("/etc/hostname").try_build(io.executor(), error), nullptr);
  EXPECT_EQ(error, "tls.crl_file: cannot read a CRL (PEM) from '/etc/hostname'");
}

TEST_F(OcspStaplingTest, OffIgnoresEvenARevokedStaple) {
  start_server(response(authority, OcspStatus::revoked, "revoked.der"));
  auto unchecked = pool(OcspPolicy::off);
  EXPECT_FALSE(testing::acquire_error(*unchecked)) << unchecked->last_connect_failure().describe();
}

}  // namespace
}  // namespace securechannel
