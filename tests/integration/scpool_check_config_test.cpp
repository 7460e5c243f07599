// `scpool check-config FILE` run as a program: a good pool file is reported pool by pool, and
// each kind of mistake (a key, a file the TLS context cannot load, a passphrase that does not
// open the key) exits with 2 and names the pool and the field.
#include "demo/certificate_authority.hpp"
#include "demo/child_process.hpp"
#include "testing/encrypted_key.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

class ScpoolCheckConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_encrypted_key(client.key_file, "correct horse", authority.directory() / "client-encrypted.key");
    std::ofstream(authority.directory() / "client.pass") << "correct horse\n";
    std::ofstream(authority.directory() / "wrong.pass") << "battery staple\n";
  }

  demo::CompletedProcess check(const std::string& pool_text) {
    const auto file = authority.directory() / "pools.toml";
    std::ofstream(file, std::ios::trunc) << pool_text;
    return demo::run_to_completion({SC_SCPOOL_BINARY, "check-config", file.string()}, "", 60s);
  }

  std::string file() const { return (authority.directory() / "pools.toml").string(); }

  demo::CertificateAuthority authority = demo::CertificateAuthority::create();
  demo::IssuedCertificate client = authority.issue("client");
  const std::string mtls_pool =
      "[[pool]]\nendpoint = \"relay.example.com:443\"\nnamespace = \"relay\"\nmax_connections = 4\n"
      "[pool.tls]\nsystem_trust_store = false\nca_file = \"ca.pem\"\nalpn = [\"h2\"]\n"
      "client_certificate_file = \"client.pem\"\nclient_key_file = \"client-encrypted.key\"\n";
};

TEST_F(ScpoolCheckConfigTest, AGoodFileIsReportedPoolByPool) {
  const auto run = check(mtls_pool + "client_key_passphrase_file = \"client.pass\"\n" +
                         "[[pool]]\nendpoint = \"127.0.0.1:8443\"\n");
  ASSERT_EQ(run.exit_code(), 0) << run.description() << "\n" << run.standard_error;
  EXPECT_EQ(run.standard_output,
            "pool[0] relay relay.example.com:443: ok (max_connections 4, min_idle 0, TLS 1.3+, custom CA only, "
            "client certificate, ALPN h2)\n"
            "pool[1] securechannel 127.0.0.1:8443: ok (max_connections 100, min_idle 0, TLS 1.3+)\n");
}

// A plain pool has no TLS version to report: its line says plain TCP, not the TLS defaults.
TEST_F(ScpoolCheckConfigTest, APlainPoolIsReportedAsPlainTcp) {
  const auto run = check("[[pool]]\nendpoint = \"127.0.0.1:8080\"\ntls = false\n"
                         "[[pool]]\nendpoint = \"127.0.0.1:8081\"\ntls = false\nhttp2_prior_knowledge = true\n");
  ASSERT_EQ(run.exit_code(), 0) << run.description() << "\n" << run.standard_error;
  EXPECT_EQ(run.standard_output,
            "pool[0] securechannel 127.0.0.1:8080: ok (max_connections 100, min_idle 0, plain TCP)\n"
            "pool[1] securechannel 127.0.0.1:8081: ok (max_connections 100, min_idle 0, plain TCP, HTTP/2 by prior "
            "knowledge)\n");
}

TEST_F(ScpoolCheckConfigTest, APassphraseThatDoesNotOpenTheKeyNamesTheField) {
  const auto run = check(mtls_pool + "client_key_passphrase_file = \"wrong.pass\"\n");
  EXPECT_EQ(run.exit_code(), 2) << run.description();
  EXPECT_NE(run.standard_error.find(": pool[0].tls.client_key_file: wrong passphrase for '"), std::string::npos)
      << run.standard_error;
  EXPECT_TRUE(run.standard_output.empty()) << run.standard_output;
}

TEST_F(ScpoolCheckConfigTest, AMissingCaFileNamesTheField) {
  const auto run = check("[[pool]]\nendpoint = \"a:1\"\n[pool.tls]\nca_file = \"missing.pem\"\n");
  EXPECT_EQ(run.exit_code(), 2) << run.description();
  EXPECT_NE(run.standard_error.find("pool[0].tls.ca_file"), std::string::npos) << run.standard_error;
  EXPECT_NE(run.standard_error.find("missing.pem"), std::string::npos) << run.standard_error;
}

TEST_F(ScpoolCheckConfigTest, AMistakeInTheFileNamesTheKeyAndLine) {
  const auto run = check("[[pool]]\nendpoint = \"a:1\"\nconnect_timeout = 5\n");
  EXPECT_EQ(run.exit_code(), 2) << run.description();
  EXPECT_NE(run.standard_error.find("pool[0].connect_timeout: needs a unit: write \"5ms\" or \"5s\" (" + file() +
                                    ":3:19)"),
            std::string::npos)
      << run.standard_error;

  const auto missing = demo::run_to_completion({SC_SCPOOL_BINARY, "check-config", file() + ".nope"}, "", 60s);
  EXPECT_EQ(missing.exit_code(), 2);
  EXPECT_NE(missing.standard_error.find("No such file or directory"), std::string::npos) << missing.standard_error;
}

TEST_F(ScpoolCheckConfigTest, TheExampleDaemonFileIsGood) {
  const auto run = demo::run_to_completion(
      {SC_SCPOOL_BINARY, "check-config", std::string(SC_SOURCE_DIR) + "/packaging/scpool.toml"}, "", 60s);
  ASSERT_EQ(run.exit_code(), 0) << run.description() << "\n" << run.standard_error;
  EXPECT_EQ(run.standard_output,
            "pool[0] relay relay.example.com:443: ok (max_connections 16, min_idle 2, TLS 1.3+, ALPN h2 http/1.1; "
            "2 listeners)\nmonitor 127.0.0.1:9090\n");
}

TEST_F(ScpoolCheckConfigTest, ADaemonFileIsCheckedAsTheDaemonReadsIt) {
  const auto run = check("[monitor]\nlisten = \"127.0.0.1:0\"\n[[pool]]\nnamespace = \"relay\"\n"
                         "endpoints = [\"a.example:443\", \"b.example:443\"]\nmin_idle = -1\n"
                         "[[pool.listener]]\nmode = \"udp\"\nlisten = \"127.0.0.1:0\"\n");
  EXPECT_EQ(run.exit_code(), 2) << run.description();
  for (const char* expected : {"pool[0].min_idle: must be from 0 to", ":6:", "pool[0].listener[0].mode: 'udp' is not one of",
                               ":8:"}) {
    EXPECT_NE(run.standard_error.find(expected), std::string::npos) << expected << " in:\n" << run.standard_error;
  }
  const auto good = check("[monitor]\nlisten = \"127.0.0.1:0\"\n[[pool]]\nnamespace = \"relay\"\n"
                          "endpoints = [\"a.example:443\", \"b.example:443\"]\n");
  ASSERT_EQ(good.exit_code(), 0) << good.standard_error;
  EXPECT_NE(good.standard_output.find("pool[0] relay b.example:443: ok"), std::string::npos) << good.standard_output;
}

}  // namespace
}  // namespace securechannel
