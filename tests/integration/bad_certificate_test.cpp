// Bad certificates and refused TLS configurations, against Debian's `openssl s_server` (a server
// we did not write, willing to offer what ours would refuse): the pool refuses each one with its
// own error, before any application byte is sent, and accepts the good ones (a full intermediate
// chain, TLS 1.2 with ECDHE + AEAD). Every attempt would send a marker if the pool handed out a
// lease, so a certificate accepted by mistake shows up in the server's output.
//
// Already covered elsewhere, not repeated here: expired (pool_echo_test, fixtures_test), wrong
// host name and unknown CA (pool_echo_test), pin mismatch and pin matches (public_key_pins_test),
// a TLS 1.2-only server against the default TLS 1.3 floor (pool_nginx_test).
#include "demo/certificate_authority.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/openssl_server.hpp"
#include "tls/public_key_pins.hpp"

#include <boost/asio/buffer.hpp>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>

namespace securechannel {
namespace {

namespace sct = securechannel::testing;
using namespace std::chrono_literals;

// The root every pool here trusts, and an intermediate under it.
struct Authorities {
  demo::CertificateAuthority root = demo::CertificateAuthority::create("securechannel test CA");
  demo::CertificateAuthority intermediate = root.issue_intermediate("securechannel test intermediate");
};

// s_server needs security level 0 to even load an RSA-1024 or SHA-1 certificate, or to speak
// TLS 1.1 and 1.0; the refusal we test is the client's.
const std::vector<std::string> anything_goes = {"-cipher", "DEFAULT:@SECLEVEL=0"};

std::vector<std::string> joined(std::vector<std::string> first, const std::vector<std::string>& second) {
  first.insert(first.end(), second.begin(), second.end());
  return first;
}

std::string pin_of_certificate_file(const std::filesystem::path& file) {
  std::unique_ptr<FILE, int (*)(FILE*)> stream(std::fopen(file.c_str(), "r"), std::fclose);
  if (!stream) throw std::runtime_error("cannot open " + file.string());
  std::unique_ptr<X509, void (*)(X509*)> certificate(PEM_read_X509(stream.get(), nullptr, nullptr, nullptr), X509_free);
  return detail::format_pin(detail::spki_digest(certificate.get()).value());
}

// A client that accepts what the pool refuses (any version from TLS 1.0, `ciphers`, no
// verification): it proves that the server really offers what the pool turned down. Returns
// the negotiated version ("TLSv1.1"), or OpenSSL's reason when the handshake failed.
std::string legacy_client_handshake(std::uint16_t port, const std::string& ciphers) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  SSL_CTX_set_security_level(context.get(), 0);
  SSL_CTX_set_min_proto_version(context.get(), TLS1_VERSION);
  if (SSL_CTX_set_cipher_list(context.get(), ciphers.c_str()) != 1) return "bad cipher list " + ciphers;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const timeval timeout{10, 0};  // bounds every read and write of the handshake
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return "connect failed";
  }
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(context.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  std::string outcome;
  if (SSL_connect(ssl.get()) == 1) {
    outcome = SSL_get_version(ssl.get());
    SSL_shutdown(ssl.get());
  } else {
    const unsigned long error = ERR_get_error();
    outcome = std::string("handshake failed: ") + (error ? ERR_reason_error_string(error) : "no reason");
  }
  ERR_clear_error();
  ssl.reset();
  ::close(fd);
  return outcome;
}

struct Attempt {
  boost::system::error_code error;
  ConnectFailure failure;
  std::string tls_version;  // negotiated, when a connection was handed out
};

// What an application would do: acquire, then send `marker`. A lease handed out for a bad
// certificate would put the marker in the server's output.
Attempt acquire_and_send(SecureChannelPool& pool, const std::string& marker) {
  sct::AcquireOutcome outcome = sct::acquire_outcome(pool);
  std::string tls_version;
  if (!outcome.error) {
    tls_version = outcome.lease.channel().negotiated_protocol_version();
    outcome.error = sct::operation_error(
        [&](auto handler) { async_write_all(outcome.lease, boost::asio::buffer(marker), handler); });
  }
  // s_server answers nothing: the lease ends with its write unanswered, and the pool closes the
  // connection (abandoned) rather than hand it on.
  return {outcome.error, pool.last_connect_failure(), tls_version};
}

struct RefusalCase {
  std::string name;
  // The upstream: its certificate, made by one of the authorities, and s_server's settings.
  std::function<sct::OpenSslServerOptions(Authorities&)> server;
  TlsVersion pool_min_version;
  errc expected;
  long verify_result;  // X509_V_OK when X509 verification is not what refuses it
  std::string reason;  // part of ConnectFailure::describe()
  // When set, a permissive client first proves the server offers what the pool refuses: it must
  // negotiate this version with these ciphers.
  std::optional<std::pair<std::string, std::string>> legacy_control = std::nullopt;
};

std::ostream& operator<<(std::ostream& out, const RefusalCase& refusal) { return out << refusal.name; }

sct::OpenSslServerOptions leaf_server(demo::CertificateAuthority& issuer, const std::string& name,
                                      const demo::CertificateOptions& options = {},
                                      std::vector<std::string> arguments = {}) {
  const demo::IssuedCertificate leaf = issuer.issue(name, options);
  return {.certificate_file = leaf.certificate_file, .key_file = leaf.key_file, .arguments = std::move(arguments)};
}

const demo::CertificateOptions rsa_2048{.key = demo::KeyKind::rsa_2048};

// The server's alert, and what the pool adds to say what it meant.
const std::string no_common_suite =
    "sslv3 alert handshake failure (in answer to our ClientHello: the server accepts none of the cipher suites";

const std::vector<RefusalCase> refusals = {
    {"SelfSignedLeaf",
     [](Authorities& a) { return leaf_server(a.root, "self-signed", {.self_signed = true}); },
     TlsVersion::tls1_3, errc::certificate_verify_failed, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
     "self-signed certificate; the server sent 1 certificate: [0] CN=localhost, issued by CN=localhost"},
    {"MissingIntermediate",  // the server sends its leaf alone; the client trusts only the root
     [](Authorities& a) { return leaf_server(a.intermediate, "leaf-only"); },
     TlsVersion::tls1_3, errc::certificate_verify_failed, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
     "unable to get local issuer certificate; the server sent 1 certificate: [0] CN=localhost, "
     "issued by CN=securechannel test intermediate"},
    {"NotYetValid",
     [](Authorities& a) {
       return leaf_server(a.root, "future", {.valid_from_offset = 24h, .valid_until_offset = 48h});
     },
     TlsVersion::tls1_3, errc::certificate_verify_failed, X509_V_ERR_CERT_NOT_YET_VALID,
     "certificate is not yet valid"},
    {"Rsa1024Leaf",
     [](Authorities& a) { return leaf_server(a.root, "rsa-1024", {.key = demo::KeyKind::rsa_1024}, anything_goes); },
     TlsVersion::tls1_3, errc::certificate_key_too_weak, X509_V_ERR_EE_KEY_TOO_SMALL, "EE certificate key too weak"},
    {"Sha1Signature",
     [](Authorities& a) { return leaf_server(a.root, "sha-1", {.digest = demo::SignatureDigest::sha1}, anything_goes); },
     TlsVersion::tls1_3, errc::certificate_signature_algorithm_insecure, X509_V_ERR_CA_MD_TOO_WEAK,
     "CA signature digest algorithm too weak"},
    {"OnlyTls11",
     [](Authorities& a) { return leaf_server(a.root, "tls11", {}, joined({"-tls1_1"}, anything_goes)); },
     TlsVersion::tls1_2, errc::protocol_version_unsupported, X509_V_OK, "protocol version",
     std::pair<std::string, std::string>{"DEFAULT:@SECLEVEL=0", "TLSv1.1"}},
    {"OnlyTls10",
     [](Authorities& a) { return leaf_server(a.root, "tls10", {}, joined({"-tls1"}, anything_goes)); },
     TlsVersion::tls1_2, errc::protocol_version_unsupported, X509_V_OK, "protocol version",
     std::pair<std::string, std::string>{"DEFAULT:@SECLEVEL=0", "TLSv1"}},
    // TLS 1.2 allowed, but only ECDHE + AEAD suites: each server below offers one suite that
    // lacks forward secrecy, AEAD, or both (RSA certificate: these suites need one).
    {"Tls12RsaKeyExchangeCbc",
     [](Authorities& a) { return leaf_server(a.root, "aes128-sha", rsa_2048, {"-tls1_2", "-cipher", "AES128-SHA"}); },
     TlsVersion::tls1_2, errc::tls_handshake_failed, X509_V_OK, no_common_suite,
     std::pair<std::string, std::string>{"AES128-SHA", "TLSv1.2"}},
    {"Tls12RsaKeyExchangeGcm",
     [](Authorities& a) {
       return leaf_server(a.root, "aes128-gcm", rsa_2048, {"-tls1_2", "-cipher", "AES128-GCM-SHA256"});
     },
     TlsVersion::tls1_2, errc::tls_handshake_failed, X509_V_OK, no_common_suite,
     std::pair<std::string, std::string>{"AES128-GCM-SHA256", "TLSv1.2"}},
    {"Tls12EcdheCbc",
     [](Authorities& a) {
       return leaf_server(a.root, "ecdhe-cbc", rsa_2048, {"-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"});
     },
     TlsVersion::tls1_2, errc::tls_handshake_failed, X509_V_OK, no_common_suite,
     std::pair<std::string, std::string>{"ECDHE-RSA-AES128-SHA", "TLSv1.2"}},
};

class BadCertificateTest : public ::testing::TestWithParam<RefusalCase> {
 protected:
  void SetUp() override {
    if (!sct::OpenSslServer::available()) GTEST_SKIP() << "/usr/bin/openssl is not installed";
  }

  PoolBuilder builder_for(const sct::OpenSslServer& server, TlsVersion min_version) {
    PoolBuilder builder(server.endpoint());
    builder.with_system_trust_store(false)
        .with_ca_file(authorities.root.ca_certificate_file().string())
        .with_min_tls_version(min_version);
    return builder;
  }

  Authorities authorities;
  sct::IoThread io;
};

TEST_P(BadCertificateTest, IsRefusedWithItsOwnErrorBeforeAnyApplicationByte) {
  const RefusalCase& refusal = GetParam();
  sct::OpenSslServer server(refusal.server(authorities));
  std::size_t control_handshakes = 0;
  if (refusal.legacy_control) {
    const auto& [ciphers, version] = *refusal.legacy_control;
    ASSERT_EQ(legacy_client_handshake(server.port(), ciphers), version) << server.diagnostics();
    control_handshakes = 1;
  }

  auto pool = builder_for(server, refusal.pool_min_version).build(io.executor());
  const std::string marker = "application-bytes-" + refusal.name;
  const Attempt attempt = acquire_and_send(*pool, marker);

  EXPECT_EQ(attempt.error, make_error_code(refusal.expected)) << attempt.failure.describe();
  EXPECT_EQ(attempt.failure.tls.verify_result, refusal.verify_result) << attempt.failure.describe();
  EXPECT_NE(attempt.failure.describe().find(refusal.reason), std::string::npos) << attempt.failure.describe();
  EXPECT_EQ(pool->stats().errors_by_kind[std::string(error_name(refusal.expected))], 1u);
  EXPECT_EQ(pool->stats().connections_created, 0u);
  // The server never finished a handshake with the pool, so no application data could reach it.
  EXPECT_EQ(server.completed_handshakes(), control_handshakes) << server.diagnostics();
  EXPECT_EQ(server.output().find(marker), std::string::npos) << server.diagnostics();
}

INSTANTIATE_TEST_SUITE_P(Matrix, BadCertificateTest, ::testing::ValuesIn(refusals),
                         [](const ::testing::TestParamInfo<RefusalCase>& refusal) { return refusal.param.name; });

// The positive cases, through the same harness: here the marker must arrive.
class GoodCertificateTest : public BadCertificateTest {};

TEST_F(GoodCertificateTest, AFullIntermediateChainVerifiesAgainstTheRootAlone) {
  const demo::IssuedCertificate leaf = authorities.intermediate.issue("chained");
  sct::OpenSslServer server({.certificate_file = leaf.certificate_file,
                             .key_file = leaf.key_file,
                             .chain_file = authorities.intermediate.ca_certificate_file()});
  auto pool = builder_for(server, TlsVersion::tls1_3).build(io.executor());
  const Attempt attempt = acquire_and_send(*pool, "through-the-intermediate");
  ASSERT_FALSE(attempt.error) << attempt.failure.describe() << "\n" << server.diagnostics();
  EXPECT_TRUE(server.wait_for_output("through-the-intermediate", 10s)) << server.diagnostics();
  EXPECT_EQ(server.completed_handshakes(), 1u);
}

TEST_F(GoodCertificateTest, PinsMatchAKeyOfTheIntermediateChainPrimaryOrBackup) {
  // The intermediate's key pinned first, or an unrelated primary with the intermediate as backup.
  const demo::IssuedCertificate leaf = authorities.intermediate.issue("chained");
  sct::OpenSslServer server({.certificate_file = leaf.certificate_file,
                             .key_file = leaf.key_file,
                             .chain_file = authorities.intermediate.ca_certificate_file()});
  const std::string unrelated = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  const std::string intermediate_pin = pin_of_certificate_file(authorities.intermediate.ca_certificate_file());
  for (const auto& pins : {std::vector<std::string>{intermediate_pin}, std::vector<std::string>{unrelated, intermediate_pin}}) {
    PoolBuilder builder = builder_for(server, TlsVersion::tls1_3);
    for (const std::string& one : pins) builder.with_pin(one);
    auto pool = builder.build(io.executor());
    const std::string marker = "pinned-" + std::to_string(pins.size());
    const Attempt attempt = acquire_and_send(*pool, marker);
    ASSERT_FALSE(attempt.error) << attempt.failure.describe();
    EXPECT_TRUE(server.wait_for_output(marker, 10s)) << server.diagnostics();
    // s_server serves one connection at a time: the next pool's turns only once this one closed.
    sct::shutdown(*pool, 1s);
  }
  // The same pins without the intermediate's key: the control that shows they are checked.
  auto mismatch = builder_for(server, TlsVersion::tls1_3).with_pin(unrelated).build(io.executor());
  EXPECT_EQ(acquire_and_send(*mismatch, "unpinned").error, make_error_code(errc::certificate_pin_mismatch));
  EXPECT_EQ(server.output().find("unpinned"), std::string::npos);
}

TEST_F(GoodCertificateTest, Tls12WithEcdheAndAeadIsAccepted) {
  // The control for the TLS 1.2 suite refusals above: same RSA certificate, same protocol.
  sct::OpenSslServer server(leaf_server(authorities.root, "ecdhe-gcm", rsa_2048,
                                        {"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"}));
  auto pool = builder_for(server, TlsVersion::tls1_2).build(io.executor());
  const Attempt attempt = acquire_and_send(*pool, "tls12-aead");
  ASSERT_FALSE(attempt.error) << attempt.failure.describe() << "\n" << server.diagnostics();
  EXPECT_TRUE(server.wait_for_output("tls12-aead", 10s)) << server.diagnostics();
  EXPECT_EQ(attempt.tls_version, "TLSv1.2");
  EXPECT_NE(server.output().find("CIPHER is ECDHE-RSA-AES128-GCM-SHA256"), std::string::npos);
}

}  // namespace
}  // namespace securechannel
