// Proves the fixtures bad_certificate_test relies on before it relies on them, with plain
// OpenSSL (no securechannel code): the CertificateAuthority's intermediates, weak keys, SHA-1
// signatures and self-signed leaves are what they claim, and OpenSslServer starts on a port of
// its own, shows what it receives, takes terminal commands and leaves nothing behind.
#include "demo/certificate_authority.hpp"
#include "testing/openssl_server.hpp"
#include "testing/process_info.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>

namespace {

namespace fs = std::filesystem;
namespace sct = securechannel::testing;
namespace demo = securechannel::demo;
using namespace std::chrono_literals;

using Certificate = std::unique_ptr<X509, decltype(&X509_free)>;
using Certificates = std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)>;

void free_certificates(STACK_OF(X509)* certificates) { sk_X509_pop_free(certificates, X509_free); }

// Every certificate of a PEM file, in order.
Certificates load_all(const fs::path& path) {
  Certificates all(sk_X509_new_null(), free_certificates);
  std::unique_ptr<BIO, decltype(&BIO_free)> file(BIO_new_file(path.c_str(), "r"), BIO_free);
  if (!file) throw std::runtime_error("cannot open " + path.string());
  while (X509* certificate = PEM_read_bio_X509(file.get(), nullptr, nullptr, nullptr)) sk_X509_push(all.get(), certificate);
  ERR_clear_error();  // the end of the file reads as an error
  return all;
}

Certificate load_first(const fs::path& path) {
  Certificates all = load_all(path);
  if (sk_X509_num(all.get()) == 0) throw std::runtime_error("no certificate in " + path.string());
  X509* first = sk_X509_value(all.get(), 0);
  X509_up_ref(first);
  return Certificate(first, X509_free);
}

// X509_verify_cert against `root` with the rest of `chain_file` as untrusted intermediates;
// returns the verify result.
int verify(const fs::path& chain_file, const fs::path& root, int security_level = 0) {
  Certificates chain = load_all(chain_file);
  Certificate leaf(sk_X509_shift(chain.get()), X509_free);
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  X509_STORE_add_cert(store.get(), load_first(root).get());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> context(X509_STORE_CTX_new(), X509_STORE_CTX_free);
  X509_STORE_CTX_init(context.get(), store.get(), leaf.get(), chain.get());
  X509_VERIFY_PARAM_set_auth_level(X509_STORE_CTX_get0_param(context.get()), security_level);
  X509_verify_cert(context.get());
  return X509_STORE_CTX_get_error(context.get());
}

TEST(CertificateAuthorityVariants, AnIntermediateChainVerifiesAgainstTheRootOnlyWithTheIntermediate) {
  auto root = demo::CertificateAuthority::create("root CA");
  auto intermediate = root.issue_intermediate("middle CA");
  const demo::IssuedCertificate leaf = intermediate.issue("leaf");
  EXPECT_EQ(sk_X509_num(load_all(leaf.chain_file).get()), 2) << "leaf, then the intermediate";
  EXPECT_EQ(verify(leaf.chain_file, root.ca_certificate_file()), X509_V_OK);
  EXPECT_EQ(verify(leaf.certificate_file, root.ca_certificate_file()), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  const Certificate middle = load_first(intermediate.ca_certificate_file());
  EXPECT_EQ(X509_check_ca(middle.get()), 1);
  EXPECT_NE(X509_get_pathlen(middle.get()), -1) << "pathlen:0, so it cannot sign further CAs";
  EXPECT_EQ(sk_X509_num(load_all(root.issue("direct").chain_file).get()), 1) << "a root-issued leaf stands alone";
}

TEST(CertificateAuthorityVariants, WeakKeysAndSha1AreWhatTheyClaim) {
  auto ca = demo::CertificateAuthority::create();
  const Certificate rsa_1024 = load_first(ca.issue("rsa-1024", {.key = demo::KeyKind::rsa_1024}).certificate_file);
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(rsa_1024.get())), 1024);
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(rsa_1024.get())), EVP_PKEY_RSA);
  const Certificate rsa_2048 = load_first(ca.issue("rsa-2048", {.key = demo::KeyKind::rsa_2048}).certificate_file);
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(rsa_2048.get())), 2048);
  const demo::IssuedCertificate sha1 = ca.issue("sha-1", {.digest = demo::SignatureDigest::sha1});
  EXPECT_EQ(X509_get_signature_nid(load_first(sha1.certificate_file).get()), NID_ecdsa_with_SHA1);
  // Valid at security level 0, refused at 2 by the same check the pool's handshake makes.
  EXPECT_EQ(verify(sha1.chain_file, ca.ca_certificate_file()), X509_V_OK);
  EXPECT_EQ(verify(sha1.chain_file, ca.ca_certificate_file(), 2), X509_V_ERR_CA_MD_TOO_WEAK);
}

TEST(CertificateAuthorityVariants, ASelfSignedLeafIsItsOwnIssuer) {
  auto ca = demo::CertificateAuthority::create();
  const demo::IssuedCertificate self = ca.issue("self", {.self_signed = true});
  const Certificate leaf = load_first(self.certificate_file);
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(leaf.get()), X509_get_issuer_name(leaf.get())), 0);
  EXPECT_EQ(X509_check_ca(leaf.get()), 0);
  EXPECT_EQ(verify(self.chain_file, ca.ca_certificate_file()), X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
}

// A TCP client that sends `text` in the clear and closes: enough to see that s_server reports
// the connection (a failed handshake) without printing the bytes as application data.
void send_plaintext(std::uint16_t port, const std::string& text) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    [[maybe_unused]] const auto sent = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  }
  ::close(fd);
}

// A TLS client that trusts `ca`, sends `text` and closes; returns the negotiated version.
std::string send_over_tls(std::uint16_t port, const fs::path& ca, const std::string& text) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  SSL_CTX_load_verify_file(context.get(), ca.c_str());
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  std::string version;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(context.get()), SSL_free);
    SSL_set_fd(ssl.get(), fd);
    if (SSL_connect(ssl.get()) == 1 && SSL_write(ssl.get(), text.data(), static_cast<int>(text.size())) > 0) {
      version = SSL_get_version(ssl.get());
      SSL_shutdown(ssl.get());
    }
  }
  ERR_clear_error();
  ::close(fd);
  return version;
}

class OpenSslServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!sct::OpenSslServer::available()) GTEST_SKIP() << "/usr/bin/openssl is not installed";
  }
  demo::CertificateAuthority ca = demo::CertificateAuthority::create();
  demo::IssuedCertificate leaf = ca.issue("s_server");
};

TEST_F(OpenSslServerTest, ListensOnItsOwnPortAndShowsWhatItReceives) {
  sct::OpenSslServer first({.certificate_file = leaf.certificate_file, .key_file = leaf.key_file});
  sct::OpenSslServer second({.certificate_file = leaf.certificate_file, .key_file = leaf.key_file,
                             .arguments = {"-tls1_2"}});
  EXPECT_NE(first.port(), 0);
  EXPECT_NE(first.port(), second.port());
  EXPECT_EQ(first.endpoint(), "127.0.0.1:" + std::to_string(first.port()));

  EXPECT_EQ(send_over_tls(first.port(), ca.ca_certificate_file(), "over-tls-1.3"), "TLSv1.3");
  EXPECT_TRUE(first.wait_for_output("over-tls-1.3", 10s)) << first.diagnostics();
  EXPECT_EQ(send_over_tls(second.port(), ca.ca_certificate_file(), "over-tls-1.2"), "TLSv1.2") << "-tls1_2 applied";
  EXPECT_TRUE(second.wait_for_output("over-tls-1.2", 10s)) << second.diagnostics();
  EXPECT_EQ(first.completed_handshakes(), 1u);

  // Bytes that never made it through a handshake are not application data.
  send_plaintext(first.port(), "plaintext-marker\n");
  EXPECT_EQ(send_over_tls(first.port(), ca.ca_certificate_file(), "after"), "TLSv1.3") << "it serves on";
  EXPECT_TRUE(first.wait_for_output("after", 10s));
  EXPECT_EQ(first.output().find("plaintext-marker"), std::string::npos) << first.diagnostics();
  EXPECT_EQ(first.completed_handshakes(), 2u);
}

TEST_F(OpenSslServerTest, ThrowsWithItsOwnWordsWhenItCannotStart) {
  const demo::IssuedCertificate weak = ca.issue("weak", {.key = demo::KeyKind::rsa_1024});
  try {
    sct::OpenSslServer refused({.certificate_file = weak.certificate_file, .key_file = weak.key_file});
    FAIL() << "s_server loaded an RSA-1024 certificate at the default security level";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("ee key too small"), std::string::npos) << error.what();
  }
  // The same certificate loads once the server is told to accept anything.
  sct::OpenSslServer accepted({.certificate_file = weak.certificate_file, .key_file = weak.key_file,
                               .arguments = {"-cipher", "DEFAULT:@SECLEVEL=0"}});
  EXPECT_NE(accepted.port(), 0);
}

TEST_F(OpenSslServerTest, TypedLinesReachTheClient) {
  sct::OpenSslServer server({.certificate_file = leaf.certificate_file, .key_file = leaf.key_file});
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(server.port());
  ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(context.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  ASSERT_EQ(SSL_connect(ssl.get()), 1);
  server.type_line("typed-at-the-terminal");
  std::string received;
  char buffer[256];
  // Bounded by SO_RCVTIMEO; TLS 1.3 session tickets come first and are consumed by SSL_read.
  while (received.find('\n') == std::string::npos) {
    const int got = SSL_read(ssl.get(), buffer, sizeof buffer);
    if (got <= 0) break;
    received.append(buffer, static_cast<std::size_t>(got));
  }
  EXPECT_EQ(received, "typed-at-the-terminal\n");
  ssl.reset();
  ::close(fd);
}

TEST_F(OpenSslServerTest, LeavesNoDescriptorsOrProcessesBehind) {
  const auto use = [&] {
    sct::OpenSslServer server({.certificate_file = leaf.certificate_file, .key_file = leaf.key_file});
    EXPECT_EQ(send_over_tls(server.port(), ca.ca_certificate_file(), "x"), "TLSv1.3");
    return server.port();
  };
  use();  // first use may open lasting descriptors in libraries
  const std::size_t descriptors = sct::count_open_file_descriptors();
  const std::uint16_t port = use();
  EXPECT_EQ(sct::count_open_file_descriptors(), descriptors);
  // Nobody listens on its port any more: the server is gone.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  EXPECT_NE(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  ::close(fd);
}

}  // namespace
