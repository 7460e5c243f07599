// ClientTlsContext with a client certificate: what it accepts, the error naming the field for
// everything it refuses, and that the key file's bytes (and a passphrase read from its file)
// pass through SecureBuffers that are gone (wiped) once create() returns.
#include "demo/certificate_authority.hpp"
#include "securechannel/client_tls_context.hpp"
#include "securechannel/pool_builder.hpp"
#include "securechannel/secure_buffer.hpp"
#include "securechannel/secure_channel_pool.hpp"
#include "testing/encrypted_key.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <memory>

namespace securechannel {
namespace {

class ClientCertificateTest : public ::testing::Test {
 protected:
  TlsOptions options_with(const demo::IssuedCertificate& certificate) const {
    TlsOptions options;
    options.use_system_trust_store = false;
    options.ca_file = authority.ca_certificate_file().string();
    options.client_certificate_file = certificate.certificate_file.string();
    options.client_key_file = certificate.key_file.string();
    return options;
  }

  // The error create() reports, or "" when it succeeds.
  static std::string create_error(const TlsOptions& options) {
    std::optional<ConfigError> error;
    return ClientTlsContext::create(options, error) ? "" : error->what();
  }

  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate client = authority.issue("client", {.common_name = "mtls-client", .dns_names = {},
                                                                 .ip_addresses = {}});
};

TEST_F(ClientCertificateTest, LoadsTheChainAndKeyIntoTheContext) {
  std::optional<ConfigError> error;
  const auto context = ClientTlsContext::create(options_with(client), error);
  ASSERT_TRUE(context) << error->what();
  X509* certificate = SSL_CTX_get0_certificate(context->native_handle());
  ASSERT_NE(certificate, nullptr);
  char subject[256];
  X509_NAME_oneline(X509_get_subject_name(certificate), subject, sizeof subject);
  EXPECT_STREQ(subject, "/CN=mtls-client");
  EXPECT_NE(SSL_CTX_get0_privatekey(context->native_handle()), nullptr);
}

TEST_F(ClientCertificateTest, AnEncryptedKeyNeedsItsPassphraseAndSharesIt) {
  TlsOptions options = options_with(client);
  options.client_key_file =
      testing::write_encrypted_key(client.key_file, "correct horse", authority.directory() / "client-encrypted.key")
          .string();
  EXPECT_EQ(create_error(options), "tls.client_key_file: '" + options.client_key_file +
                                       "' is encrypted and no passphrase is given (tls.client_key_passphrase)");
  options.client_key_passphrase = make_shared_secret("battery staple");
  EXPECT_EQ(create_error(options),
            "tls.client_key_file: wrong passphrase for '" + options.client_key_file + "' (tls.client_key_passphrase)");
  options.client_key_passphrase = make_shared_secret("correct horse");
  std::optional<ConfigError> error;
  const auto context = ClientTlsContext::create(options, error);
  ASSERT_TRUE(context) << error->what();
  EXPECT_EQ(context->options().client_key_passphrase, options.client_key_passphrase)
      << "the context shares the locked passphrase; it makes no copy of its own";
  EXPECT_EQ(context->options().client_key_file, options.client_key_file);
}

TEST_F(ClientCertificateTest, AKeyOfAnotherCertificateIsRefusedNamingBothFiles) {
  const demo::IssuedCertificate other = authority.issue("other");
  TlsOptions options = options_with(client);
  options.client_key_file = other.key_file.string();
  const std::string error = create_error(options);
  EXPECT_EQ(error.rfind("tls.client_certificate_file: '" + options.client_certificate_file +
                            "' does not match the private key in '" + options.client_key_file +
                            "' (tls.client_key_file): ",
                        0),
            0u)
      << error;
  EXPECT_NE(error.find("key values mismatch"), std::string::npos) << "OpenSSL's reason: " << error;
}

TEST_F(ClientCertificateTest, IncompleteOrUnreadableSettingsNameTheField) {
  TlsOptions options = options_with(client);
  options.client_key_file.clear();
  EXPECT_EQ(create_error(options), "tls.client_key_file: required with tls.client_certificate_file");

  options = options_with(client);
  options.client_certificate_file.clear();
  EXPECT_EQ(create_error(options), "tls.client_certificate_file: required with tls.client_key_file");

  options = options_with(client);
  options.client_certificate_file.clear();
  options.client_key_file.clear();
  options.client_key_passphrase = make_shared_secret("orphan");
  EXPECT_EQ(create_error(options), "tls.client_key_passphrase: given without tls.client_key_file");

  options = options_with(client);
  options.client_key_file = (authority.directory() / "missing.key").string();
  EXPECT_EQ(create_error(options),
            "tls.client_key_file: cannot read " + options.client_key_file + ": No such file or directory");

  options = options_with(client);
  options.client_certificate_file = (authority.directory() / "missing.pem").string();
  EXPECT_EQ(create_error(options).rfind("tls.client_certificate_file: cannot load '" +
                                            options.client_certificate_file + "': ",
                                        0),
            0u)
      << create_error(options);

  // A certificate where the key should be: no PEM private key in it.
  options = options_with(client);
  options.client_key_file = client.certificate_file.string();
  EXPECT_EQ(create_error(options).rfind("tls.client_key_file: '" + options.client_key_file +
                                            "' holds no PEM private key (",
                                        0),
            0u)
      << create_error(options);
}

// The inspector sees the pages of every SecureBuffer destroyed meanwhile (create() runs on this
// thread alone): how many, and whether each was all zero.
std::atomic<int> wiped_buffers{0};
std::atomic<bool> all_wiped{true};
void count_wiped(std::span<const std::byte> pages) {
  ++wiped_buffers;
  if (!std::all_of(pages.begin(), pages.end(), [](std::byte byte) { return byte == std::byte{0}; })) all_wiped = false;
}

// create() with the inspector watching: wiped_buffers and all_wiped then tell what it wiped.
std::shared_ptr<const ClientTlsContext> create_watching_wipes(const TlsOptions& options) {
  wiped_buffers = 0;
  all_wiped = true;
  detail::set_wipe_inspector(count_wiped);
  std::optional<ConfigError> error;
  auto context = ClientTlsContext::create(options, error);
  detail::set_wipe_inspector(nullptr);
  EXPECT_TRUE(context) << error->what();
  return context;
}

TEST_F(ClientCertificateTest, TheKeyBytesAreWipedOnceLoadedAndThePassphraseStaysLocked) {
  TlsOptions options = options_with(client);
  options.client_key_file =
      testing::write_encrypted_key(client.key_file, "correct horse", authority.directory() / "client-encrypted.key")
          .string();
  options.client_key_passphrase = make_shared_secret("correct horse");
  const std::size_t buffers_before = memory_protection_status().buffers;
  const auto context = create_watching_wipes(options);
  ASSERT_TRUE(context);
  EXPECT_EQ(wiped_buffers, 1) << "the key file's bytes";
  EXPECT_TRUE(all_wiped);
  EXPECT_EQ(memory_protection_status().buffers, buffers_before)
      << "no secret outlives create() but the passphrase the options already held";
  EXPECT_TRUE(options.client_key_passphrase->locked() || !memory_protection_status().enabled);
  options.client_key_passphrase.reset();
  EXPECT_EQ(context->options().client_key_passphrase->size(), std::string("correct horse").size())
      << "the context's options share the buffer";
}

TEST_F(ClientCertificateTest, APassphraseFileIsReadForTheLoadAndWipedAfterIt) {
  TlsOptions options = options_with(client);
  options.client_key_file =
      testing::write_encrypted_key(client.key_file, "correct horse", authority.directory() / "client-encrypted.key")
          .string();
  options.client_key_passphrase_file = (authority.directory() / "client.pass").string();
  EXPECT_EQ(create_error(options), "tls.client_key_passphrase_file: cannot read " +
                                       options.client_key_passphrase_file + ": No such file or directory");
  std::ofstream(options.client_key_passphrase_file) << "battery staple\n";
  EXPECT_EQ(create_error(options), "tls.client_key_file: wrong passphrase for '" + options.client_key_file +
                                       "' (tls.client_key_passphrase_file)");
  std::ofstream(options.client_key_passphrase_file, std::ios::trunc) << "correct horse\r\n";  // line end ignored

  const std::size_t buffers_before = memory_protection_status().buffers;
  const auto context = create_watching_wipes(options);
  ASSERT_TRUE(context);
  EXPECT_EQ(wiped_buffers, 3) << "the key file's bytes, the passphrase file's, and the passphrase without its line end";
  EXPECT_TRUE(all_wiped);
  EXPECT_EQ(memory_protection_status().buffers, buffers_before) << "no secret outlives create()";
  EXPECT_FALSE(context->options().client_key_passphrase);

  options.client_key_passphrase = make_shared_secret("correct horse");
  EXPECT_EQ(create_error(options), "tls.client_key_passphrase_file: given with tls.client_key_passphrase (give one of them)");
  options.client_key_passphrase.reset();
  options.client_key_file.clear();
  options.client_certificate_file.clear();
  EXPECT_EQ(create_error(options), "tls.client_key_passphrase_file: given without tls.client_key_file");
}

TEST_F(ClientCertificateTest, ThePoolReportsKeyErrorsAsConfigErrorsNamingTheField) {
  boost::asio::io_context io;
  const std::string encrypted =
      testing::write_encrypted_key(client.key_file, "correct horse", authority.directory() / "client-encrypted.key")
          .string();
  auto builder = SecureChannelPool::builder("127.0.0.1:1");
  builder.with_system_trust_store(false).with_ca_file(authority.ca_certificate_file().string());
  builder.with_client_certificate(client.certificate_file.string(), encrypted, "correct horse");
  const auto pool = builder.build(io.get_executor());
  ASSERT_TRUE(pool->tls_context()->options().client_key_passphrase);
  EXPECT_TRUE(pool->tls_context()->options().client_key_passphrase->equals("correct horse"));
  EXPECT_EQ(pool->tls_context()->options().client_key_file, encrypted);

  builder.with_client_certificate(client.certificate_file.string(), encrypted, "wrong");
  try {
    builder.build(io.get_executor());
    ADD_FAILURE() << "a wrong passphrase must not build";
  } catch (const ConfigError& problem) {
    EXPECT_EQ(problem.field(), "tls.client_key_file");
    EXPECT_NE(std::string(problem.what()).find("wrong passphrase"), std::string::npos) << problem.what();
  }
}

}  // namespace
}  // namespace securechannel
