// The policy every pool's TLS context enforces (issue #5, docs/TLS.md): TLS 1.3, or TLS 1.2 with
// ECDHE + AEAD suites only; no compression, no renegotiation; OpenSSL security level 2 at least.
// Read back from the SSL_CTX itself, so a regression in client_tls_context.cpp shows here.
#include "demo/certificate_authority.hpp"
#include "securechannel/client_tls_context.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <memory>

namespace securechannel {

// Readable parameters in gtest's output (found by argument-dependent lookup).
static void PrintTo(TlsVersion version, std::ostream* out) {
  *out << (version == TlsVersion::tls1_2 ? "TLS 1.2 floor" : "TLS 1.3 floor");
}

namespace {

std::shared_ptr<ClientTlsContext> context_with(TlsVersion min_version, const demo::CertificateAuthority& ca) {
  TlsOptions options;
  options.use_system_trust_store = false;
  options.ca_file = ca.ca_certificate_file().string();
  options.min_version = min_version;
  std::optional<ConfigError> error;
  auto context = ClientTlsContext::create(options, error);
  if (!context) throw *error;
  return context;
}

struct Offered {
  int tls13_suites = 0;
  int tls12_suites = 0;
  std::vector<std::string> outside_policy;  // TLS 1.2 suites without ECDHE or without AEAD
};

// The suites a ClientHello from this context offers (SSL_get1_supported_ciphers: enabled and
// usable with the enabled protocol versions).
Offered offered_suites(const ClientTlsContext& context) {
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(context.native_handle()), SSL_free);
  STACK_OF(SSL_CIPHER)* suites = SSL_get1_supported_ciphers(ssl.get());
  Offered offered;
  for (int i = 0; i < sk_SSL_CIPHER_num(suites); ++i) {
    const SSL_CIPHER* suite = sk_SSL_CIPHER_value(suites, i);
    if (SSL_CIPHER_get_protocol_id(suite) >> 8 == 0x13) {  // TLS 1.3 suites are 0x13xx
      ++offered.tls13_suites;
      continue;
    }
    ++offered.tls12_suites;
    if (SSL_CIPHER_get_kx_nid(suite) != NID_kx_ecdhe || SSL_CIPHER_is_aead(suite) != 1) {
      offered.outside_policy.push_back(SSL_CIPHER_get_name(suite));
    }
  }
  sk_SSL_CIPHER_free(suites);
  return offered;
}

class ClientTlsPolicyTest : public ::testing::TestWithParam<TlsVersion> {
 protected:
  demo::CertificateAuthority ca = demo::CertificateAuthority::create();
};

TEST_P(ClientTlsPolicyTest, NoCompressionNoRenegotiationSecurityLevelTwo) {
  const auto context = context_with(GetParam(), ca);
  SSL_CTX* native = context->native_handle();
  EXPECT_NE(SSL_CTX_get_options(native) & SSL_OP_NO_COMPRESSION, 0u);
  EXPECT_NE(SSL_CTX_get_options(native) & SSL_OP_NO_RENEGOTIATION, 0u);
  EXPECT_GE(SSL_CTX_get_security_level(native), 2);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(native), GetParam() == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_verify_mode(native) & SSL_VERIFY_PEER, SSL_VERIFY_PEER);
}

TEST_P(ClientTlsPolicyTest, OffersTls13SuitesAndTls12OnlyWithEcdheAndAead) {
  const Offered offered = offered_suites(*context_with(GetParam(), ca));
  EXPECT_EQ(offered.tls13_suites, 3);  // the three of TlsOptions::tls13_ciphersuites
  if (GetParam() == TlsVersion::tls1_3) {
    EXPECT_EQ(offered.tls12_suites, 0) << "a TLS 1.3 floor offers no TLS 1.2 suite";
  } else {
    EXPECT_GT(offered.tls12_suites, 0);
  }
  EXPECT_TRUE(offered.outside_policy.empty()) << ::testing::PrintToString(offered.outside_policy);
}

INSTANTIATE_TEST_SUITE_P(MinimumVersion, ClientTlsPolicyTest, ::testing::Values(TlsVersion::tls1_2, TlsVersion::tls1_3),
                         [](const ::testing::TestParamInfo<TlsVersion>& version) {
                           return version.param == TlsVersion::tls1_2 ? std::string("Tls12") : std::string("Tls13");
                         });

}  // namespace
}  // namespace securechannel
