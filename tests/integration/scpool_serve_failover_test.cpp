// `scpool serve` with several endpoints and a backup pool, against real upstreams that die
// mid-load: idempotent requests through the http listener see no failure while one of two nginx
// servers goes away, and that endpoint is ejected; a pool whose only endpoint dies hands its tcp
// listener's connections to its backup, and takes them back once a probe finds the endpoint
// again. What the daemon did is read from its /api/v1/secure-channel/endpoints.
#include "demo/certificate_authority.hpp"
#include "demo/loopback_port.hpp"
#include "demo/nginx_server.hpp"
#include "demo/serve_process.hpp"
#include "demo/tls_echo_server.hpp"
#include "echo_through.hpp"
#include "http_test_client.hpp"
#include "io_thread.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <fmt/format.h>

namespace securechannel {
namespace {

namespace fs = std::filesystem;
namespace sct = securechannel::testing;
using namespace std::chrono_literals;
using nlohmann::json;

using sct::echo_through;

class ScpoolServeFailoverTest : public ::testing::Test {
 protected:
  // The endpoints JSON of the running daemon: {"pools": [{"namespace", "endpoints": [...]}]}.
  json endpoints(const demo::ServeProcess& serve) {
    sct::HttpTestConnection monitoring(demo::port_of(serve.monitoring_url()));
    return json::parse(monitoring.get("/api/v1/secure-channel/endpoints").body());
  }

  static const json& pool(const json& report, const std::string& name) {
    for (const json& entry : report["pools"]) {
      if (entry["namespace"] == name) return entry;
    }
    throw std::runtime_error("no pool " + name + " in " + report.dump());
  }

  std::string tls_table() const {
    return "[pool.tls]\nsystem_trust_store = false\nca_file = \"" + authority.ca_certificate_file().string() + "\"\n";
  }

  demo::TemporaryDirectory directory{"securechannel-failover"};
  demo::CertificateAuthority authority = demo::CertificateAuthority::create("failover test CA");
  demo::IssuedCertificate leaf = authority.issue("localhost");
};

TEST_F(ScpoolServeFailoverTest, IdempotentRequestsSeeNoFailureWhenOneOfTwoEndpointsDies) {
  // nginx is one of the test peers scripts/bootstrap installs: its absence fails, never skips.
  ASSERT_TRUE(demo::NginxServer::available()) << "nginx is not installed (scripts/bootstrap installs it)";
  const demo::NginxOptions options{.certificate_file = leaf.certificate_file, .key_file = leaf.key_file};
  auto doomed = std::make_unique<demo::NginxServer>(options);
  demo::NginxServer survivor(options);
  const std::string doomed_endpoint = doomed->endpoint();
  const std::string config = fmt::format(R"([monitor]
listen = "127.0.0.1:0"
[[pool]]
namespace = "web"
endpoints = ["{}", "{}"]
balancing = "round_robin"
max_connections = 2
[pool.outlier_detection]
consecutive_failures = 2
base_ejection_time = "60s"
{}alpn = ["h2", "http/1.1"]
[[pool.listener]]
mode = "http"
listen = "127.0.0.1:0"
)",
                                         doomed_endpoint, survivor.endpoint(), tls_table());
  demo::ServeProcess serve(SC_SCPOOL_BINARY, directory.path(), config);
  ASSERT_TRUE(serve.started()) << serve.diagnostics();

  sct::HttpTestConnection local(demo::port_of(serve.listener("http")));
  std::size_t failures = 0;
  std::string first_failure;
  for (int i = 0; i < 300; ++i) {
    if (i == 100) doomed.reset();  // nginx stops (SIGQUIT, then gone): refused from now on
    const sct::HttpTestReply reply = local.get("/", {{"Host", "localhost"}});
    if (reply.result_int() != 200) {
      ++failures;
      if (first_failure.empty()) first_failure = std::to_string(reply.result_int()) + " " + reply.body();
    }
  }
  EXPECT_EQ(failures, 0u) << first_failure << "\n" << serve.diagnostics();
  const json web = pool(endpoints(serve), "web");
  EXPECT_EQ(web["scheme"], "https");
  EXPECT_EQ(web["endpoints"][0]["endpoint"], doomed_endpoint);
  EXPECT_TRUE(web["endpoints"][0]["ejected"].get<bool>()) << web.dump();
  EXPECT_FALSE(web["endpoints"][1]["ejected"].get<bool>()) << web.dump();
  // The same through the command line: one endpoint ejected, the other not.
  const demo::CompletedProcess table =
      demo::run_to_completion({SC_SCPOOL_BINARY, "endpoints", "--url", serve.monitoring_url()}, "", 30s);
  EXPECT_NE(table.standard_output.find("EJECTED"), std::string::npos) << table.standard_output << table.standard_error;
  EXPECT_NE(table.standard_output.find(" left)"), std::string::npos) << table.standard_output;
  ASSERT_TRUE(serve.signal(SIGTERM));
  EXPECT_EQ(serve.wait_for_exit(20s), "exited with status 0") << serve.diagnostics();
}

TEST_F(ScpoolServeFailoverTest, TheBackupServesWhileThePrimaryIsDownAndHandsBack) {
  auto primary = std::make_unique<demo::TlsEchoServer>(
      demo::TlsEchoServerOptions{.certificate_file = leaf.certificate_file, .key_file = leaf.key_file});
  demo::TlsEchoServer spare({.certificate_file = leaf.certificate_file, .key_file = leaf.key_file});
  const std::uint16_t primary_port = primary->port();
  const std::string config = fmt::format(R"([monitor]
listen = "127.0.0.1:0"
[[pool]]
namespace = "primary"
endpoints = ["{}"]
backup = "spare"
connect_timeout = "2s"
[pool.outlier_detection]
consecutive_failures = 1
base_ejection_time = "1s"
{}[[pool.listener]]
mode = "tcp"
listen = "127.0.0.1:0"
[[pool]]
namespace = "spare"
endpoints = ["{}"]
{})",
                                         primary->endpoint(), tls_table(), spare.endpoint(), tls_table());
  demo::ServeProcess serve(SC_SCPOOL_BINARY, directory.path(), config);
  ASSERT_TRUE(serve.started()) << serve.diagnostics();
  const std::uint16_t port = demo::port_of(serve.listener("tcp"));

  ASSERT_EQ(echo_through(port, "one"), "one") << serve.diagnostics();
  EXPECT_EQ(primary->accepted_connections(), 1u);
  EXPECT_EQ(spare.accepted_connections(), 0u);

  primary.reset();  // the primary's only endpoint is gone: the next connect fails and ejects it
  EXPECT_TRUE(sct::eventually([&] { return echo_through(port, "two") == "two"; }, 20s)) << serve.diagnostics();
  EXPECT_GE(spare.accepted_connections(), 1u) << "served by the backup";
  EXPECT_GE(pool(endpoints(serve), "primary")["failovers"].get<std::uint64_t>(), 1u);

  // Back on its port: after the ejection time a probe finds it, and connections go home.
  primary = std::make_unique<demo::TlsEchoServer>(demo::TlsEchoServerOptions{
      .certificate_file = leaf.certificate_file, .key_file = leaf.key_file, .port = primary_port});
  EXPECT_TRUE(sct::eventually(
      [&] {
        echo_through(port, "three");
        return primary->accepted_connections() >= 2;  // the probe, then a local connection
      },
      20s))
      << serve.diagnostics();
  const json report = pool(endpoints(serve), "primary");
  EXPECT_FALSE(report["endpoints"][0]["ejected"].get<bool>()) << report.dump();
  EXPECT_GE(report["endpoints"][0]["ejections"].get<std::uint64_t>(), 1u) << report.dump();
  ASSERT_TRUE(serve.signal(SIGTERM));
  EXPECT_EQ(serve.wait_for_exit(20s), "exited with status 0") << serve.diagnostics();
}

}  // namespace
}  // namespace securechannel
