// The system store loads tolerantly: bad entries are skipped and counted, never fatal.
#include "demo/certificate_authority.hpp"
#include "securechannel/client_tls_context.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <fstream>
#include <sstream>

namespace securechannel {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) previous_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnvironment() {
    if (previous_) ::setenv(name_, previous_->c_str(), 1); else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> previous_;
};

TEST(TrustStoreTest, BadEntriesInTheSystemBundleAreSkippedAndCounted) {
  auto first = demo::CertificateAuthority::create("first root");
  auto second = demo::CertificateAuthority::create("second root");
  const auto bundle = first.directory() / "bundle.pem";
  {
    std::ofstream out(bundle);
    out << read_file(first.ca_certificate_file());
    out << "-----BEGIN CERTIFICATE-----\nMIIBroken/notbase64!!\n-----END CERTIFICATE-----\n";
    out << read_file(second.ca_certificate_file());
  }
  ScopedEnvironment environment("SSL_CERT_FILE", bundle.string());
  std::optional<ConfigError> error;
  auto context = ClientTlsContext::create(TlsOptions{}, error);
  ASSERT_NE(context, nullptr) << error->what();
  EXPECT_EQ(context->trust_report().system_store_source, bundle.string());
  EXPECT_EQ(context->trust_report().system_certificates_loaded, 2u);
  EXPECT_EQ(context->trust_report().system_certificates_skipped, 1u);
}

TEST(TrustStoreTest, EmptySystemStoreWithoutCaFileIsAnError) {
  auto authority = demo::CertificateAuthority::create();
  const auto empty = authority.directory() / "empty.pem";
  std::ofstream(empty).close();
  ScopedEnvironment file("SSL_CERT_FILE", empty.string());
  ScopedEnvironment directory("SSL_CERT_DIR", (authority.directory() / "no-such-dir").string());
  std::optional<ConfigError> error;
  EXPECT_EQ(ClientTlsContext::create(TlsOptions{}, error), nullptr);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->field(), "tls");
  EXPECT_NE(std::string(error->what()).find("system trust store is empty"), std::string::npos) << error->what();

  TlsOptions with_ca;
  with_ca.ca_file = authority.ca_certificate_file().string();
  auto context = ClientTlsContext::create(with_ca, error);
  ASSERT_NE(context, nullptr) << error->what();
  EXPECT_EQ(context->trust_report().ca_file_certificates, 1u);
}

TEST(TrustStoreTest, DebianSystemStoreLoads) {
  std::optional<ConfigError> error;
  auto context = ClientTlsContext::create(TlsOptions{}, error);
  ASSERT_NE(context, nullptr) << error->what();
  EXPECT_GT(context->trust_report().system_certificates_loaded, 50u);
}

}  // namespace
}  // namespace securechannel
