// Which error a refused handshake gets (src/tls/handshake_refusal.hpp). The integration matrix
// (bad_certificate_test) reaches most of these through real servers; this covers every mapping.
#include "tls/handshake_refusal.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

namespace securechannel {
namespace {

TEST(HandshakeRefusalTest, SecurityLevelVerifyResultsGetTheirOwnCodes) {
  EXPECT_EQ(detail::verify_result_error(X509_V_ERR_EE_KEY_TOO_SMALL), errc::certificate_key_too_weak);
  EXPECT_EQ(detail::verify_result_error(X509_V_ERR_CA_KEY_TOO_SMALL), errc::certificate_key_too_weak);
  EXPECT_EQ(detail::verify_result_error(X509_V_ERR_CA_MD_TOO_WEAK), errc::certificate_signature_algorithm_insecure);
}

TEST(HandshakeRefusalTest, OtherVerifyResultsAreCertificateVerifyFailed) {
  for (long result : {X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_HOSTNAME_MISMATCH,
                      X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY}) {
    EXPECT_EQ(detail::verify_result_error(result), errc::certificate_verify_failed) << result;
  }
}

TEST(HandshakeRefusalTest, VersionNegotiationAndSecurityLevelErrorsAreNamed) {
  const auto ssl_error = [](int reason) { return ERR_PACK(ERR_LIB_SSL, 0, reason); };
  for (int reason : {SSL_R_TLSV1_ALERT_PROTOCOL_VERSION, SSL_R_UNSUPPORTED_PROTOCOL, SSL_R_VERSION_TOO_LOW,
                     SSL_R_WRONG_SSL_VERSION}) {
    EXPECT_EQ(detail::handshake_error_for(ssl_error(reason)), errc::protocol_version_unsupported) << reason;
  }
  EXPECT_EQ(detail::handshake_error_for(ssl_error(SSL_R_EE_KEY_TOO_SMALL)), errc::certificate_key_too_weak);
  EXPECT_EQ(detail::handshake_error_for(ssl_error(SSL_R_CA_MD_TOO_WEAK)), errc::certificate_signature_algorithm_insecure);
  // A handshake_failure alert has many causes (no shared suite, a client certificate demanded):
  // it stays the generic code, with OpenSSL's reason beside it.
  EXPECT_EQ(detail::handshake_error_for(ssl_error(SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE)), std::nullopt);
  EXPECT_EQ(detail::handshake_error_for(ERR_PACK(ERR_LIB_X509, 0, SSL_R_UNSUPPORTED_PROTOCOL)), std::nullopt);
}

TEST(HandshakeRefusalTest, AHandshakeFailureAnsweringOurClientHelloIsExplained) {
  const std::string note = detail::client_hello_refusal_note(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE));
  EXPECT_NE(note.find("accepts none of the cipher suites"), std::string::npos) << note;
  EXPECT_STREQ(detail::client_hello_refusal_note(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_UNEXPECTED_EOF_WHILE_READING)), "");
}

TEST(HandshakeRefusalTest, NameMismatchesDoNotListTheChain) {
  EXPECT_FALSE(detail::verify_result_concerns_chain(X509_V_ERR_HOSTNAME_MISMATCH));
  EXPECT_FALSE(detail::verify_result_concerns_chain(X509_V_ERR_IP_ADDRESS_MISMATCH));
  EXPECT_TRUE(detail::verify_result_concerns_chain(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY));
}

}  // namespace
}  // namespace securechannel
