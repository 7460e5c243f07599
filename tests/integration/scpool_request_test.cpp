// `scpool request`, the curl-like command (issue #4), run as a program against nginx: exit codes,
// the reuse report, and the errors a user sees for a bad URL, a refused connection and a server
// whose certificate we do not trust.
#include "demo/certificate_authority.hpp"
#include "demo/child_process.hpp"
#include "demo/nginx_server.hpp"
#include "testing/spki_pin.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include <memory>
#include <string>
#include <vector>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

class ScpoolRequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!demo::NginxServer::available()) GTEST_SKIP() << "nginx is not installed (scripts/bootstrap installs it)";
    options.certificate_file = leaf.certificate_file;
    options.key_file = leaf.key_file;
    nginx = std::make_unique<demo::NginxServer>(options);
  }

  demo::CompletedProcess scpool(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), {SC_SCPOOL_BINARY, "request"});
    return demo::run_to_completion(arguments, "", 60s);
  }

  std::string url(const std::string& path = "/") const { return "https://" + nginx->endpoint() + path; }
  std::string ca() const { return authority.ca_certificate_file().string(); }

  // A pool file for nginx's endpoint that trusts only our CA and pins `pin`.
  std::string pool_file(const std::string& pin) const {
    const auto file = authority.directory() / "pools.toml";
    std::ofstream(file, std::ios::trunc) << "[[pool]]\nendpoint = \"" << nginx->endpoint() << "\"\n"
                                         << "[pool.tls]\nsystem_trust_store = false\nca_file = \"ca.pem\"\n"
                                         << "pins = [\"" << pin << "\"]\n";
    return file.string();
  }

  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate leaf = authority.issue("localhost");
  demo::NginxOptions options;
  std::unique_ptr<demo::NginxServer> nginx;
};

TEST_F(ScpoolRequestTest, OneRequestPrintsTheBody) {
  const auto run = scpool({url(), "--ca", ca()});
  ASSERT_EQ(run.exit_code(), 0) << run.description() << "\n" << run.standard_error;
  EXPECT_EQ(run.standard_output, "hello\n");
}

TEST_F(ScpoolRequestTest, RepeatedRequestsReportStatusesTimingsAndReuse) {
  for (const char* protocol : {"--http1.1", "--http2"}) {
    const auto run = scpool({url(), "--ca", ca(), protocol, "-n", "40", "-c", "4"});
    ASSERT_EQ(run.exit_code(), 0) << protocol << ": " << run.description() << "\n" << run.standard_error;
    EXPECT_NE(run.standard_output.find("40 requests in"), std::string::npos) << run.standard_output;
    EXPECT_NE(run.standard_output.find("status 200: 40"), std::string::npos) << run.standard_output;
    EXPECT_NE(run.standard_output.find("time per request: p50"), std::string::npos) << run.standard_output;
    // 4 in flight: at most 4 connections (HTTP/1.1) or 1 (HTTP/2), the rest reused.
    EXPECT_NE(run.standard_output.find("reuse ratio: 0.9"), std::string::npos) << run.standard_output;
  }
}

TEST_F(ScpoolRequestTest, IncludeShowsStatusLineAndHeaders) {
  const auto run = scpool({url(), "--ca", ca(), "-i", "--http1.1"});
  ASSERT_EQ(run.exit_code(), 0) << run.standard_error;
  EXPECT_EQ(run.standard_output.rfind("HTTP 200 OK\n", 0), 0u) << run.standard_output;
  EXPECT_NE(run.standard_output.find("\n\nhello\n"), std::string::npos) << run.standard_output;
}

TEST_F(ScpoolRequestTest, VerboseTellsHowTheResponseCame) {
  for (const char* protocol : {"--http1.1", "--http2"}) {
    const auto run = scpool({url(), "--ca", ca(), "-v", protocol});
    ASSERT_EQ(run.exit_code(), 0) << protocol << ": " << run.standard_error;
    EXPECT_EQ(run.standard_output, "hello\n") << "stdout keeps only the body";
    const std::string expected_protocol = std::string(protocol) == "--http2" ? "HTTP/2" : "HTTP/1.1";
    EXPECT_NE(run.standard_error.find("* connection 1 (new), " + expected_protocol + ", 1 attempt\n"), std::string::npos)
        << run.standard_error;
    EXPECT_NE(run.standard_error.find("* to a connection "), std::string::npos) << run.standard_error;
    EXPECT_NE(run.standard_error.find(" ms, to the first byte "), std::string::npos) << run.standard_error;
  }
  const auto load = scpool({url(), "--ca", ca(), "-v", "-n", "20", "-c", "2"});
  ASSERT_EQ(load.exit_code(), 0) << load.standard_error;
  EXPECT_NE(load.standard_error.find("* to a connection: p50 "), std::string::npos) << load.standard_error;
  EXPECT_NE(load.standard_error.find("* to the first byte: p50 "), std::string::npos) << load.standard_error;
}

TEST_F(ScpoolRequestTest, AnAffinityKeyIsSentAndToldAndAKeyTooLongRefused) {
  const auto run = scpool({url(), "--ca", ca(), "-v", "--affinity", "relay-session-1"});
  ASSERT_EQ(run.exit_code(), 0) << run.standard_error;
  EXPECT_NE(run.standard_error.find("* affinity key: new_key\n"), std::string::npos) << run.standard_error;
  const auto refused = scpool({url(), "--ca", ca(), "--affinity", std::string(257, 'k')});
  EXPECT_NE(refused.exit_code(), 0) << refused.description();
  EXPECT_NE(refused.standard_error.find("at most 256 bytes"), std::string::npos) << refused.standard_error;
}

TEST_F(ScpoolRequestTest, BadUrlExitsWithTwoAndNamesTheUrl) {
  const auto run = scpool({"ftp://" + nginx->endpoint() + "/", "--ca", ca()});
  EXPECT_EQ(run.exit_code(), 2) << run.description();
  EXPECT_NE(run.standard_error.find("bad URL 'ftp://"), std::string::npos) << run.standard_error;
}

TEST_F(ScpoolRequestTest, AnHttpUrlGoesOverAPlainPoolHttp11OrH2cAndRefusesTlsOptions) {
  demo::NginxOptions plain_options;
  plain_options.plain = true;
  plain_options.http2 = false;
  demo::NginxServer plain(plain_options);
  const std::string plain_url = "http://" + plain.endpoint() + "/";
  const auto run = scpool({plain_url, "-v"});
  ASSERT_EQ(run.exit_code(), 0) << run.standard_error;
  EXPECT_EQ(run.standard_output, "hello\n");
  EXPECT_NE(run.standard_error.find("* connection 1 (new), HTTP/1.1, 1 attempt\n"), std::string::npos)
      << run.standard_error;

  plain_options.http2 = true;  // h2c only: HTTP/2 with prior knowledge
  demo::NginxServer h2c(plain_options);
  const auto multiplexed = scpool({"http://" + h2c.endpoint() + "/", "-v", "--http2"});
  ASSERT_EQ(multiplexed.exit_code(), 0) << multiplexed.standard_error;
  EXPECT_EQ(multiplexed.standard_output, "hello\n");
  EXPECT_NE(multiplexed.standard_error.find("HTTP/2, 1 attempt"), std::string::npos) << multiplexed.standard_error;

  const auto with_ca = scpool({plain_url, "--ca", ca()});
  EXPECT_EQ(with_ca.exit_code(), 2) << with_ca.description();
  EXPECT_NE(with_ca.standard_error.find("tls.ca_file: needs TLS"), std::string::npos) << with_ca.standard_error;
  // And a TLS server is not spoken to in the clear by mistake: an https URL stays TLS.
  const auto tls_to_plain = scpool({"https://" + plain.endpoint() + "/", "--ca", ca(), "--timeout", "5"});
  EXPECT_EQ(tls_to_plain.exit_code(), 1) << tls_to_plain.description();
  EXPECT_NE(tls_to_plain.standard_error.find("tls_handshake_failed"), std::string::npos) << tls_to_plain.standard_error;
}

TEST_F(ScpoolRequestTest, UntrustedCertificateExitsWithOneAndSaysWhy) {
  // Only the system store: our test CA is not in it.
  const auto run = scpool({url()});
  EXPECT_EQ(run.exit_code(), 1) << run.description();
  EXPECT_NE(run.standard_error.find("certificate"), std::string::npos) << run.standard_error;
  EXPECT_TRUE(run.standard_output.empty()) << run.standard_output;
}

TEST_F(ScpoolRequestTest, RefusedConnectionExitsWithOneAndSaysSo) {
  const std::string target = url();
  nginx.reset();  // nothing listens on the port now
  const auto run = scpool({target, "--ca", ca(), "--timeout", "5"});
  EXPECT_EQ(run.exit_code(), 1) << run.description();
  EXPECT_NE(run.standard_error.find("refused"), std::string::npos) << run.standard_error;
  // Named, and said once: the socket's reason is the error's own message here.
  EXPECT_NE(run.standard_error.find("scpool request: connect_refused: connection refused or unreachable at every "
                                    "resolved address\n"),
            std::string::npos)
      << run.standard_error;
}

TEST_F(ScpoolRequestTest, APoolFileGivesTheTrustAndPinsOfTheUrlsEndpoint) {
  const auto run = scpool({url(), "--config", pool_file(testing::spki_pin_of(leaf.certificate_file))});
  ASSERT_EQ(run.exit_code(), 0) << run.description() << "\n" << run.standard_error;
  EXPECT_EQ(run.standard_output, "hello\n");

  const auto mispinned = scpool({url(), "--config", pool_file("sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")});
  EXPECT_EQ(mispinned.exit_code(), 1) << mispinned.description();
  EXPECT_NE(mispinned.standard_error.find("certificate_pin_mismatch"), std::string::npos) << mispinned.standard_error;
  EXPECT_TRUE(mispinned.standard_output.empty());
}

TEST_F(ScpoolRequestTest, APoolFileWithoutThatEndpointOrWithAMistakeExitsWithTwo) {
  const std::string file = pool_file(testing::spki_pin_of(leaf.certificate_file));
  const auto elsewhere = scpool({"https://127.0.0.1:1/", "--config", file});
  EXPECT_EQ(elsewhere.exit_code(), 2) << elsewhere.description();
  EXPECT_NE(elsewhere.standard_error.find("has no [[pool]] with endpoint = \"127.0.0.1:1\""), std::string::npos)
      << elsewhere.standard_error;

  std::ofstream(file, std::ios::app) << "max_connections = 0\n";  // lands in [pool.tls]: an unknown key there
  const auto mistaken = scpool({url(), "--config", file});
  EXPECT_EQ(mistaken.exit_code(), 2) << mistaken.description();
  EXPECT_NE(mistaken.standard_error.find("pool[0].tls.max_connections: unknown key (" + file + ":7:1)"),
            std::string::npos)
      << mistaken.standard_error;
}

}  // namespace
}  // namespace securechannel
