// `scpool status | health | connections | stats | endpoints` run as a program against a real
// MonitoringServer in this process (MonitoredPools over pools on our TLS echo server): the
// tables carry the pools' names and figures, --json is the JSON, and the exit code says
// healthy (0), unhealthy (1), or unreachable / refused / wrong (2) with one line on stderr.
#include "demo/child_process.hpp"
#include "demo/loopback_port.hpp"
#include "echo_upstream.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/monitored_pools.hpp"
#include "securechannel/monitoring_server.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace securechannel {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class ScpoolMonitorCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    relay = echo.builder_for(echo.server.endpoint()).with_namespace("relay").build(io.executor());
    std::string problem;
    ASSERT_TRUE(pools->add(relay, problem)) << problem;
    // Three connections with a round trip each, one of them still leased.
    std::vector<Lease> leases;
    for (int i = 0; i < 3; ++i) leases.push_back(testing::acquire(*relay));
    for (Lease& lease : leases) ASSERT_EQ(testing::echo_exchange(lease, "ping"), "ping");
    leases.pop_back();
    held = std::move(leases.back());
  }

  void TearDown() override {
    held = Lease();
    if (server) server->stop();
    if (relay) testing::shutdown(*relay, 0ms);
    if (down) testing::shutdown(*down, 0ms);
    std::filesystem::remove_all(directory);
  }

  void start_server(const std::string& token = "", std::shared_ptr<MonitoringTls> tls = nullptr) {
    MonitoringServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.tls = std::move(tls);
    if (!token.empty()) options.auth_token = make_shared_secret(token);
    boost::system::error_code error;
    server = MonitoringServer::create(
        io.executor(), std::move(options), [pools = pools](const MonitoringRequest& r) { return pools->handle(r); },
        error);
    ASSERT_TRUE(server) << error.message();
    server->start();
  }

  // A pool whose upstream refuses connections, after one failed acquire: unhealthy.
  void add_failing_pool() {
    down = echo.builder_for("127.0.0.1:" + std::to_string(demo::pick_free_tcp_port()))
               .with_namespace("backup")
               .build(io.executor());
    std::string problem;
    ASSERT_TRUE(pools->add(down, problem)) << problem;
    EXPECT_EQ(testing::acquire_error(*down), make_error_code(errc::connect_refused));
  }

  std::string write_file(const std::string& name, const std::string& content) {
    std::filesystem::create_directories(directory);
    const auto path = directory / name;
    std::ofstream(path) << content;
    return path.string();
  }

  demo::CompletedProcess scpool(std::vector<std::string> arguments, const std::string& url = "") {
    arguments.insert(arguments.begin(), SC_SCPOOL_BINARY);
    arguments.push_back("--url");
    arguments.push_back(url.empty() ? server->base_url() : url);
    arguments.push_back("--timeout");
    arguments.push_back("10");
    return demo::run_to_completion(arguments, "", 60s);
  }

  testing::EchoUpstream echo;
  testing::IoThread io;
  std::shared_ptr<MonitoredPools> pools = std::make_shared<MonitoredPools>();
  std::shared_ptr<SecureChannelPool> relay;
  std::shared_ptr<SecureChannelPool> down;
  Lease held;
  std::shared_ptr<MonitoringServer> server;
  std::filesystem::path directory =
      std::filesystem::temp_directory_path() / ("scpool_monitor_" + std::to_string(::getpid()));
};

TEST_F(ScpoolMonitorCommandsTest, TablesOfAHealthyPoolExitZero) {
  start_server();
  pools->set_service_identity("relay-gateway", std::chrono::system_clock::now() - 192s);
  // Shown with its scheme, as the dashboard shows it.
  const std::string endpoint = "https://" + echo.server.endpoint();

  // Each command exits 0 and prints every one of `expected` on stdout, nothing on stderr.
  const auto expect_table = [&](const std::vector<std::string>& command, const std::vector<std::string>& expected) {
    const auto run = scpool(command);
    EXPECT_EQ(run.exit_code(), 0) << command[0] << ": " << run.description() << "\n" << run.standard_error;
    EXPECT_EQ(run.standard_error, "") << command[0];
    for (const std::string& text : expected) {
      EXPECT_NE(run.standard_output.find(text), std::string::npos) << command[0] << ": no '" << text << "' in\n"
                                                                   << run.standard_output;
    }
  };
  // The uptime as Go prints it (3m12s, or some seconds more on a slow run, as under ASan).
  expect_table({"status"}, {"relay-gateway", "3m", "relay", endpoint, "healthy", " %"});
  expect_table({"health"}, {"healthy: 1 pool(s), 3 active connection(s)", endpoint, "closed"});
  // Ages and byte counts in human units (an age is "0s" or more, depending on the machine's speed).
  expect_table({"connections"}, {endpoint + ": 3 connection(s)", "leased", "idle", "TLSv1.3", " B ", "AGE", "s "});
  const auto list = json::parse(scpool({"connections", "--json"}).standard_output);
  const std::string id = std::to_string(list.at("connections").at(0).at("connection_id").get<std::uint64_t>());
  expect_table({"connections", id, "--pool", "relay"}, {"connection:", "leases:", " ms", "TLSv1.3"});
  expect_table({"stats"}, {"relay", endpoint, " ms", " %"});
  expect_table({"endpoints"}, {"POOL", "relay", endpoint, "healthy"});
}

TEST_F(ScpoolMonitorCommandsTest, JsonIsTheServersJson) {
  start_server();
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"status", "--json"}, {"health", "--json"}, {"connections", "--json"},
        {"stats", "--json"}, {"endpoints", "--json"}}) {
    const auto run = scpool(command);
    ASSERT_EQ(run.exit_code(), 0) << command[0] << ": " << run.standard_error;
    const json body = json::parse(run.standard_output, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << command[0] << ": " << run.standard_output;
    EXPECT_NE(run.standard_output.find("\n  "), std::string::npos) << "pretty-printed";
  }
  EXPECT_EQ(json::parse(scpool({"status", "--json"}).standard_output).at("secure_channel").at("active_connections"), 3);
  EXPECT_EQ(json::parse(scpool({"endpoints", "--json"}).standard_output).at("pools").at(0).at("namespace"), "relay");
  EXPECT_EQ(json::parse(scpool({"stats", "--json"}).standard_output).at(0).at("requests_total"), 3);
}

TEST_F(ScpoolMonitorCommandsTest, AnUnhealthyPoolExitsOne) {
  add_failing_pool();
  start_server();
  for (const char* command : {"status", "health", "endpoints"}) {
    const auto run = scpool({command});
    EXPECT_EQ(run.exit_code(), 1) << command << "\n" << run.standard_output << run.standard_error;
    EXPECT_NE(run.standard_output.find("backup"), std::string::npos) << command << "\n" << run.standard_output;
    EXPECT_NE(run.standard_output.find("unhealthy"), std::string::npos) << command << "\n" << run.standard_output;
  }
  const auto health = scpool({"health"});
  EXPECT_NE(health.standard_output.find("connect_refused"), std::string::npos) << health.standard_output;
}

TEST_F(ScpoolMonitorCommandsTest, UnreachableBadAndRefusedExitTwoWithOneLine) {
  const std::string closed = "http://127.0.0.1:" + std::to_string(demo::pick_free_tcp_port());
  auto run = scpool({"status"}, closed);
  EXPECT_EQ(run.exit_code(), 2) << run.description();
  EXPECT_EQ(run.standard_error, "scpool status: cannot reach " + closed + ": Connection refused\n");
  EXPECT_EQ(run.standard_output, "");

  run = scpool({"health"}, "ftp://127.0.0.1:9090");
  EXPECT_EQ(run.exit_code(), 2);
  EXPECT_EQ(run.standard_error,
            "scpool health: bad URL 'ftp://127.0.0.1:9090': expected http(s)://host[:port][/prefix]\n");

  start_server("s3cret");
  run = scpool({"stats"});
  EXPECT_EQ(run.exit_code(), 2) << run.description();
  EXPECT_NE(run.standard_error.find("scpool stats: " + server->base_url() + " refused the request (401)"),
            std::string::npos)
      << run.standard_error;
  run = scpool({"stats", "--token-file", write_file("wrong.token", "not-it\n")});
  EXPECT_EQ(run.exit_code(), 2) << run.description();
  EXPECT_NE(run.standard_error.find("(401)"), std::string::npos) << run.standard_error;

  run = scpool({"stats", "--token-file", write_file("right.token", "s3cret\n")});
  EXPECT_EQ(run.exit_code(), 0) << run.standard_output << run.standard_error;
  EXPECT_NE(run.standard_output.find("relay"), std::string::npos);

  run = scpool({"connections", "999999", "--token-file", write_file("right.token", "s3cret\n")});
  EXPECT_EQ(run.exit_code(), 2);
  EXPECT_EQ(run.standard_error, "scpool connections: " + server->base_url() +
                                    "/api/v1/secure-channel/connections/999999: HTTP 404: no connection 999999 in "
                                    "the pool for " + echo.server.endpoint() + "\n");
}

TEST_F(ScpoolMonitorCommandsTest, HttpsIsVerifiedAgainstTheCaFileAndARefusalSaysWhy) {
  const auto issued = echo.authority.issue("monitor");
  std::optional<ConfigError> problem;
  auto tls = MonitoringTls::load(issued.chain_file.string(), issued.key_file.string(), problem);
  ASSERT_TRUE(tls) << problem->what();
  start_server("s3cret", tls);
  const std::string url = server->base_url();
  ASSERT_TRUE(url.starts_with("https://")) << url;
  const std::string token_file = write_file("right.token", "s3cret\n");
  const std::string ca_file = echo.authority.ca_certificate_file().string();

  auto run = scpool({"health", "--ca-file", ca_file, "--token-file", token_file});
  EXPECT_EQ(run.exit_code(), 0) << run.description() << "\n" << run.standard_error;
  EXPECT_NE(run.standard_output.find("healthy: 1 pool(s)"), std::string::npos) << run.standard_output;

  // The system's trust store does not know the test CA: refused, with OpenSSL's reason.
  run = scpool({"health", "--token-file", token_file});
  EXPECT_EQ(run.exit_code(), 2) << run.description();
  EXPECT_NE(run.standard_error.find("scpool health: TLS handshake with " + url + " failed: certificate verify failed"),
            std::string::npos)
      << run.standard_error;
  EXPECT_NE(run.standard_error.find("local issuer certificate"), std::string::npos) << run.standard_error;

  // Plain HTTP to the HTTPS port: the server closes without an answer.
  run = scpool({"health"}, "http://" + url.substr(std::string_view("https://").size()));
  EXPECT_EQ(run.exit_code(), 2) << run.description();
  EXPECT_NE(run.standard_error.find("closed the connection without an answer"), std::string::npos)
      << run.standard_error;
  EXPECT_TRUE(testing::eventually([&] { return server->stats().tls_handshake_failures == 2; }));
}

TEST_F(ScpoolMonitorCommandsTest, WatchRedrawsUntilInterrupted) {
  start_server();
  // Not a terminal: no screen clearing, the rounds follow each other; the time limit ends it.
  // Long enough for two rounds of an ASan build on a loaded machine (2 s was not, beside a build).
  auto arguments = std::vector<std::string>{SC_SCPOOL_BINARY, "health", "--watch", "0.2", "--url", server->base_url()};
  const auto run = demo::run_to_completion(arguments, "", 6s);
  EXPECT_TRUE(run.timed_out);
  EXPECT_EQ(run.standard_output.find("\x1b["), std::string::npos);
  std::size_t rounds = 0;
  for (std::size_t at = 0; (at = run.standard_output.find("every 0.2s: scpool health", at)) != std::string::npos; ++at) {
    ++rounds;
  }
  EXPECT_GE(rounds, 2u) << run.standard_output;
}

}  // namespace
}  // namespace securechannel
