// `scpool request`, the curl-like command (issue #4), run as a program against nginx: exit codes,
// the reuse report, and the errors a user sees for a bad URL, a refused connection and a server
// whose certificate we do not trust.
#include "testing/certificate_authority.hpp"
#include "testing/child_process.hpp"
#include "testing/nginx_server.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

class ScpoolRequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::NginxServer::available()) GTEST_SKIP() << "nginx is not installed (scripts/bootstrap installs it)";
    options.certificate_file = leaf.certificate_file;
    options.key_file = leaf.key_file;
    nginx = std::make_unique<testing::NginxServer>(options);
  }

  testing::CompletedProcess scpool(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), {SC_SCPOOL_BINARY, "request"});
    return testing::run_to_completion(arguments, "", 60s);
  }

  std::string url(const std::string& path = "/") const { return "https://" + nginx->endpoint() + path; }
  std::string ca() const { return authority.ca_certificate_file().string(); }

  testing::CertificateAuthority authority = testing::CertificateAuthority::create();
  testing::IssuedCertificate leaf = authority.issue("localhost");
  testing::NginxOptions options;
  std::unique_ptr<testing::NginxServer> nginx;
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

TEST_F(ScpoolRequestTest, BadUrlExitsWithTwoAndNamesTheUrl) {
  const auto run = scpool({"http://" + nginx->endpoint() + "/", "--ca", ca()});
  EXPECT_EQ(run.exit_code(), 2) << run.description();
  EXPECT_NE(run.standard_error.find("bad URL 'http://"), std::string::npos) << run.standard_error;
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
}

}  // namespace
}  // namespace securechannel
