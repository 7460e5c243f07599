// Our /metrics against the tools it is written for: promtool's parser and linter, and a real
// Prometheus scraping a real MonitoringServer in front of real pools. Both binaries come from
// scripts/bootstrap. A missing one fails the test instead of skipping it: a skip would turn a
// broken setup into a green run.
#include "demo/certificate_authority.hpp"
#include "demo/child_process.hpp"
#include "demo/loopback_port.hpp"
#include "demo/tls_echo_server.hpp"
#include "echo_upstream.hpp"
#include "http_test_client.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/monitored_pools.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"
#include "testing/prometheus_server.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace securechannel {
namespace {

using namespace std::chrono_literals;
using testing::PrometheusServer;
using testing::PrometheusSample;

constexpr const char* promtool = "/usr/bin/promtool";
constexpr std::string_view token = "prometheus-scrape-token";
// Prometheus scrapes every second; the first scrape comes within one interval of its start.
constexpr auto scrape_wait_limit = 60s;
constexpr auto scrape_poll_interval = 200ms;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// The family a sample line belongs to: its metric name, or for a histogram's series the name
// without _bucket, _sum or _count when that is a declared family.
std::string family_of(const std::string& sample_line, const std::set<std::string>& families) {
  const std::string name = sample_line.substr(0, sample_line.find_first_of("{ "));
  if (families.contains(name)) return name;
  for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
    if (name.ends_with(suffix) && families.contains(name.substr(0, name.size() - suffix.size()))) {
      return name.substr(0, name.size() - suffix.size());
    }
  }
  return name;
}

// Each family: one HELP and one TYPE line, before its samples, and its lines together (two pools
// in one namespace must share one family, not repeat it).
void expect_well_formed_families(const std::string& exposition) {
  std::map<std::string, int> help_lines;
  std::map<std::string, int> type_lines;
  std::set<std::string> declared;
  std::set<std::string> finished;  // families whose lines have ended
  std::string current;
  for (const std::string& line : lines_of(exposition)) {
    std::string family;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      family = line.substr(7, line.find(' ', 7) - 7);
      ++(line[2] == 'H' ? help_lines : type_lines)[family];
      declared.insert(family);
    } else if (line.starts_with("#")) {
      continue;
    } else {
      family = family_of(line, declared);
      EXPECT_TRUE(type_lines.contains(family)) << "sample before its TYPE line: " << line;
    }
    if (family != current) {
      EXPECT_FALSE(finished.contains(family)) << "family " << family << " is split: " << line;
      if (!current.empty()) finished.insert(current);
      current = family;
    }
  }
  for (const std::string& family : declared) {
    EXPECT_EQ(help_lines[family], 1) << "HELP lines of " << family;
    EXPECT_EQ(type_lines[family], 1) << "TYPE lines of " << family;
  }
}

class PrometheusScrapeTest : public ::testing::Test {
 protected:

  std::shared_ptr<SecureChannelPool> add_pool(const std::string& metric_namespace, const std::string& endpoint) {
    auto pool = echo.builder_for(endpoint).with_namespace(metric_namespace).build(io.executor());
    std::string problem;
    if (!pools->add(pool, problem)) throw std::runtime_error("MonitoredPools::add: " + problem);
    return pool;
  }

  // Three leases at once force three connections; `sequential` more exchanges reuse them.
  void exercise(SecureChannelPool& pool, int sequential) {
    {
      std::vector<Lease> leases;
      for (int i = 0; i < 3; ++i) leases.push_back(testing::acquire(pool));
      for (Lease& lease : leases) EXPECT_EQ(testing::echo_exchange(lease, "ping"), "ping");
    }
    for (int i = 0; i < sequential; ++i) {
      Lease lease = testing::acquire(pool);
      EXPECT_EQ(testing::echo_exchange(lease, "ping"), "ping");
    }
  }

  std::shared_ptr<MonitoringServer> start_server(MonitoringServerOptions options = {}) {
    options.port = 0;
    boost::system::error_code error;
    server = MonitoringServer::create(
        io.executor(), std::move(options),
        [pools = pools](const MonitoringRequest& request) { return pools->handle(request); }, error);
    if (!server) throw std::runtime_error("MonitoringServer::create: " + error.message());
    server->start();
    return server;
  }

  void TearDown() override {
    if (server) server->stop();
  }

  // Polls `promql` every 200 ms until it returns a sample; nullopt after the limit.
  static std::optional<PrometheusSample> wait_for_sample(const PrometheusServer& prometheus, const std::string& promql) {
    std::optional<PrometheusSample> found;
    const auto deadline = std::chrono::steady_clock::now() + scrape_wait_limit;
    while (!found && std::chrono::steady_clock::now() < deadline) {
      const std::vector<PrometheusSample> samples = prometheus.query(promql);
      if (!samples.empty()) {
        found = samples.front();
      } else {
        std::this_thread::sleep_for(scrape_poll_interval);
      }
    }
    return found;
  }

  static double value_of(const PrometheusServer& prometheus, const std::string& promql) {
    const std::vector<PrometheusSample> samples = prometheus.query(promql);
    if (samples.size() != 1) {
      throw std::runtime_error(promql + ": " + std::to_string(samples.size()) + " samples instead of one");
    }
    return samples.front().value;
  }

  testing::EchoUpstream echo;
  testing::IoThread io;
  std::shared_ptr<MonitoredPools> pools = std::make_shared<MonitoredPools>();
  std::shared_ptr<MonitoringServer> server;
};

TEST_F(PrometheusScrapeTest, PromtoolAcceptsOurExposition) {
  ASSERT_EQ(::access(promtool, X_OK), 0) << promtool << " is missing: scripts/bootstrap installs it (Debian's "
                                         << "prometheus package); this test fails rather than skip";
  // Two namespaces; "relay" holds two pools with different endpoints, one of them refused, so
  // that a family carries several series and errors_total has a kind.
  const std::string closed_endpoint = "127.0.0.1:" + std::to_string(demo::pick_free_tcp_port());
  auto relay = add_pool("relay", echo.server.endpoint());
  auto relay_down = add_pool("relay", closed_endpoint);
  auto backup = add_pool("backup", echo.server.endpoint());
  exercise(*relay, 4);
  exercise(*backup, 1);
  EXPECT_EQ(testing::acquire_error(*relay_down), make_error_code(errc::connect_refused));

  start_server();
  testing::HttpTestConnection connection(server->port());
  const testing::HttpTestReply reply = connection.get("/metrics");
  ASSERT_EQ(reply.result_int(), 200);
  const std::string exposition = reply.body();
  EXPECT_NE(exposition.find("relay_errors_total{endpoint=\"" + closed_endpoint + "\",kind=\"connect_refused\"} "),
            std::string::npos)
      << exposition;

  const demo::CompletedProcess check = demo::run_to_completion({promtool, "check", "metrics"}, exposition, 30s);
  const std::string output = check.standard_output + check.standard_error;
  // promtool exits 1 on a parse error and 3 on lint findings. The one finding we accept is the
  // contract's seed name <ns>_latency_ms ("abbreviated units"), once per namespace: anything
  // else, or a parse error, is ours to fix.
  const std::vector<std::string> expected_findings = {
      "backup_latency_ms metric names should not contain abbreviated units",
      "relay_latency_ms metric names should not contain abbreviated units"};
  std::vector<std::string> findings = lines_of(output);
  std::sort(findings.begin(), findings.end());
  EXPECT_EQ(findings, expected_findings) << "promtool " << check.description() << ":\n" << output;
  EXPECT_EQ(check.exit_code(), 3) << "promtool " << check.description() << ":\n" << output;

  // Label values with quotes, backslashes or newlines would need escaping, but an endpoint
  // cannot contain them; the unit tests of prometheus_text cover escaping.
  expect_well_formed_families(exposition);
}

TEST_F(PrometheusScrapeTest, RealPrometheusScrapesOurEndpoint) {
  ASSERT_TRUE(PrometheusServer::available()) << PrometheusServer::binary << " is missing: scripts/bootstrap "
                                             << "installs it; this test fails rather than skip";
  constexpr int exchanges = 7;
  auto pool = add_pool("relay", echo.server.endpoint());
  exercise(*pool, exchanges - 3);
  start_server();

  PrometheusServer prometheus({.target = "127.0.0.1:" + std::to_string(server->port())});
  const std::string series = "{endpoint=\"" + echo.server.endpoint() + "\"}";
  const std::optional<PrometheusSample> requests = wait_for_sample(prometheus, "relay_requests_total" + series);
  ASSERT_TRUE(requests) << "no relay_requests_total scraped within " << scrape_wait_limit.count() << " s\n"
                        << prometheus.log();
  EXPECT_EQ(requests->labels.at("job"), prometheus.options().job);
  EXPECT_EQ(requests->labels.at("instance"), "127.0.0.1:" + std::to_string(server->port()));

  const PoolStats stats = pool->stats();
  EXPECT_EQ(requests->value, static_cast<double>(stats.acquires));
  EXPECT_EQ(requests->value, exchanges);
  EXPECT_EQ(value_of(prometheus, "up{job=\"" + prometheus.options().job + "\"}"), 1);
  EXPECT_EQ(value_of(prometheus, "relay_active_connections" + series),
            static_cast<double>(stats.idle_connections + stats.leased_connections));
  EXPECT_EQ(value_of(prometheus, "relay_active_connections" + series), 3);
  EXPECT_EQ(value_of(prometheus, "relay_latency_ms_count" + series), exchanges);
  EXPECT_GT(server->stats().requests_served, 0u);
}

// A token-protected endpoint: Prometheus sends the token as a Bearer credential (its
// `authorization` setting; 2.42 cannot send our X-Auth-Token header) and scrapes; without it, the
// target is down and nothing leaks.
TEST_F(PrometheusScrapeTest, RealPrometheusScrapesWithTheTokenAndIsRefusedWithout) {
  ASSERT_TRUE(PrometheusServer::available()) << PrometheusServer::binary << " is missing: scripts/bootstrap "
                                             << "installs it; this test fails rather than skip";
  auto pool = add_pool("relay", echo.server.endpoint());
  exercise(*pool, 0);
  MonitoringServerOptions options;
  options.auth_token = make_shared_secret(token);
  start_server(options);
  const std::string target = "127.0.0.1:" + std::to_string(server->port());

  PrometheusServer with_token({.target = target, .bearer_token = std::string(token)});
  const std::string series = "{endpoint=\"" + echo.server.endpoint() + "\"}";
  const std::optional<PrometheusSample> requests = wait_for_sample(with_token, "relay_requests_total" + series);
  ASSERT_TRUE(requests) << "no scrape with the token within " << scrape_wait_limit.count() << " s\n" << with_token.log();
  EXPECT_EQ(requests->value, static_cast<double>(pool->stats().acquires));
  EXPECT_EQ(server->stats().rejected_unauthorized, 0u);

  PrometheusServer without_token({.target = target});
  const std::optional<PrometheusSample> up = wait_for_sample(without_token, "up{job=\"" + without_token.options().job + "\"}");
  ASSERT_TRUE(up) << "no scrape recorded within " << scrape_wait_limit.count() << " s\n" << without_token.log();
  EXPECT_EQ(up->value, 0) << "a scrape without the token must fail";
  EXPECT_GT(server->stats().rejected_unauthorized, 0u) << "the scrape reached us and was refused with 401";
  EXPECT_TRUE(without_token.query("relay_requests_total").empty()) << "no series may leak past the token";
}

}  // namespace
}  // namespace securechannel
