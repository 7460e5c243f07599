// The content of the monitoring endpoints, straight from MonitoredPools::handle against real
// pools on our TLS echo server: contract field names and types, every connection listed,
// health turning 503 when the upstream is down, several pools side by side.
#include "demo/certificate_authority.hpp"
#include "demo/loopback_port.hpp"
#include "demo/tls_echo_server.hpp"
#include "echo_upstream.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/monitored_pools.hpp"
#include "securechannel/secure_buffer.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <regex>

namespace securechannel {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::regex rfc3339_utc(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)");

class MonitoredPoolsTest : public ::testing::Test {
 protected:
  MonitoringResponse get(const std::string& target) const { return pools.handle({"GET", target}); }
  json get_json(const std::string& target, unsigned expected_status = 200) const {
    const MonitoringResponse response = get(target);
    EXPECT_EQ(response.status, expected_status) << target << ": " << response.body;
    EXPECT_EQ(response.content_type, "application/json") << target;
    return json::parse(response.body);
  }

  // Three leases at once force three connections; one echo on each records a round trip.
  void exercise(SecureChannelPool& pool) {
    std::vector<Lease> leases;
    for (int i = 0; i < 3; ++i) leases.push_back(testing::acquire(pool));
    for (Lease& lease : leases) EXPECT_EQ(testing::echo_exchange(lease, "ping"), "ping");
  }

  testing::EchoUpstream echo;
  testing::IoThread io;
  MonitoredPools pools;
};

TEST_F(MonitoredPoolsTest, StatusListsEveryConnectionWithContractFields) {
  auto pool = echo.builder_for(echo.server.endpoint()).with_namespace("relay").build(io.executor());
  std::string problem;
  ASSERT_TRUE(pools.add(pool, problem)) << problem;
  exercise(*pool);

  for (const std::string target : {"/api/v1/secure-channel/status", "/status/connections"}) {
    const json status = get_json(target);
    EXPECT_EQ(status["endpoint"], echo.server.endpoint());
    EXPECT_TRUE(status["active_connections"].is_number_integer());
    EXPECT_EQ(status["active_connections"], 3);
    EXPECT_TRUE(status["total_reconnects"].is_number_integer());
    EXPECT_TRUE(status["total_errors"].is_number_integer());
    EXPECT_TRUE(status["pool_p95_latency_ms"].is_number_integer());
    EXPECT_TRUE(std::regex_match(status["last_updated"].get<std::string>(), rfc3339_utc));
    ASSERT_EQ(status["connections"].size(), 3u) << "every connection, not only the first";
    std::set<std::uint64_t> ids;
    for (const json& connection : status["connections"]) {
      ids.insert(connection["connection_id"].get<std::uint64_t>());
      EXPECT_TRUE(std::regex_match(connection["last_activity"].get<std::string>(), rfc3339_utc));
      EXPECT_TRUE(connection["reconnects"].is_number_integer());
      EXPECT_TRUE(connection["errors"].is_number_integer());
      EXPECT_TRUE(connection["p95_latency_ms"].is_number_integer());
      EXPECT_TRUE(connection["is_healthy"].is_boolean());
      EXPECT_EQ(connection["round_trips"], 1);
      EXPECT_EQ(connection["tls_version"], "TLSv1.3");
    }
    EXPECT_EQ(ids.size(), 3u);
  }
}

TEST_F(MonitoredPoolsTest, StatusCarriesTheProcessMemoryProtection) {
  auto pool = echo.builder_for(echo.server.endpoint()).build(io.executor());
  std::string problem;
  ASSERT_TRUE(pools.add(pool, problem)) << problem;
  const std::size_t buffers_before = memory_protection_status().buffers;
  const SecureBuffer secret = SecureBuffer::copy_of("a secret this process holds");
  const json protection = get_json("/api/v1/secure-channel/status")["memory_protection"];
  EXPECT_EQ(protection["buffers"], buffers_before + 1);
  EXPECT_EQ(protection["secure_buffers"], true);
  EXPECT_EQ(protection["enabled"], true);
  EXPECT_EQ(protection["self_check"], true);
  EXPECT_GE(protection["locked_bytes"].get<std::size_t>(), static_cast<std::size_t>(sysconf(_SC_PAGESIZE)));
  EXPECT_TRUE(protection["mlock_failures"].is_number_integer());

  // A damaged canary shows in the status: the check reads the buffers, not a flag.
  SecureBuffer damaged = SecureBuffer::copy_of("overrun");
  damaged.write([](std::span<std::byte> bytes) { bytes.data()[bytes.size()] ^= std::byte{0xFF}; });
  EXPECT_EQ(get_json("/status/connections")["memory_protection"]["self_check"], false);
  EXPECT_EQ(get_json("/status/connections")["memory_protection"]["buffers"], buffers_before + 2);
}

TEST_F(MonitoredPoolsTest, ConnectionsByIdAndUnknownIds) {
  auto pool = echo.builder_for(echo.server.endpoint()).build(io.executor());
  std::string problem;
  ASSERT_TRUE(pools.add(pool, problem)) << problem;
  exercise(*pool);
  const json list = get_json("/api/v1/secure-channel/connections");
  ASSERT_EQ(list["count"], 3);
  const auto id = list["connections"][1]["connection_id"].get<std::uint64_t>();
  const json one = get_json("/api/v1/secure-channel/connections/" + std::to_string(id));
  EXPECT_EQ(one["connection_id"], id);
  const json missing = get_json("/api/v1/secure-channel/connections/999999", 404);
  EXPECT_EQ(missing["error"], "not_found");
  const json bad = get_json("/api/v1/secure-channel/connections/abc", 400);
  EXPECT_EQ(bad["error"], "bad_request");
}

TEST_F(MonitoredPoolsTest, StatsAggregateReuseAndLatency) {
  auto pool = echo.builder_for(echo.server.endpoint()).build(io.executor());
  std::string problem;
  ASSERT_TRUE(pools.add(pool, problem)) << problem;
  for (int i = 0; i < 10; ++i) {
    Lease lease = testing::acquire(*pool);
    EXPECT_EQ(testing::echo_exchange(lease, "ping"), "ping");
  }
  const json stats = get_json("/api/v1/secure-channel/stats");
  EXPECT_EQ(stats["requests_total"], 10);
  EXPECT_DOUBLE_EQ(stats["reuse_ratio"].get<double>(), 0.9);
  EXPECT_DOUBLE_EQ(stats["error_rate_percent"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(stats["utilization_percent"].get<double>(), 0.0) << "nothing leased right now";
  EXPECT_GT(stats["avg_latency_ms"].get<double>(), 0.0);
  EXPECT_GT(stats["p95_latency_ms"].get<double>(), 0.0);
  EXPECT_EQ(stats["recent_latency_ms"]["samples"], 10);
}

TEST_F(MonitoredPoolsTest, HealthIs503WhileTheUpstreamIsDown) {
  const std::uint16_t closed_port = demo::pick_free_tcp_port();
  auto healthy = echo.builder_for(echo.server.endpoint()).with_namespace("primary").build(io.executor());
  auto down = echo.builder_for("127.0.0.1:" + std::to_string(closed_port))
                  .with_namespace("backup")
                  .with_circuit_breaker_failure_threshold(2)
                  .build(io.executor());
  std::string problem;
  ASSERT_TRUE(pools.add(healthy, problem)) << problem;
  ASSERT_TRUE(pools.add(down, problem)) << problem;
  exercise(*healthy);

  json health = get_json("/healthz");
  EXPECT_EQ(health["status"], "healthy");
  EXPECT_EQ(health["pool_healthy"], true);
  EXPECT_EQ(health["active_connections"], 3);
  EXPECT_TRUE(std::regex_match(health["timestamp"].get<std::string>(), rfc3339_utc));

  EXPECT_EQ(testing::acquire_error(*down), make_error_code(errc::connect_refused));
  health = get_json("/healthz", 503);
  EXPECT_EQ(health["status"], "unhealthy");
  EXPECT_EQ(health["pool_healthy"], false);
  const json backup = get_json("/api/v1/secure-channel/health?pool=backup", 503);
  EXPECT_EQ(backup["pool_healthy"], false);
  EXPECT_NE(backup["last_connect_error"].get<std::string>().find("connect_refused"), std::string::npos);
  EXPECT_EQ(get_json("/api/v1/secure-channel/health?pool=primary")["pool_healthy"], true);
  EXPECT_EQ(get_json("/readyz", 503)["status"], "not_ready");

  // The breaker opens after the second failure: the gauge says so.
  EXPECT_EQ(testing::acquire_error(*down), make_error_code(errc::connect_refused));
  const MonitoringResponse metrics = get("/metrics");
  EXPECT_NE(metrics.body.find("backup_circuit_breaker_state{endpoint=\"127.0.0.1:" + std::to_string(closed_port) +
                              "\"} 2"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("backup_errors_total{endpoint=\"127.0.0.1:" + std::to_string(closed_port) +
                              "\",kind=\"connect_refused\"} 2"),
            std::string::npos);
}

TEST_F(MonitoredPoolsTest, AnUnusedPoolIsHealthyAndOneWhoseConnectsFailIsNot) {
  // min_idle = 0 and never used: no connection, nothing attempted, nothing wrong.
  auto unused = echo.builder_for(echo.server.endpoint()).with_namespace("unused").build(io.executor());
  auto failing = echo.builder_for("127.0.0.1:" + std::to_string(demo::pick_free_tcp_port()))
                     .with_namespace("failing")
                     .build(io.executor());
  std::string problem;
  ASSERT_TRUE(pools.add(unused, problem)) << problem;
  ASSERT_TRUE(pools.add(failing, problem)) << problem;
  json health = get_json("/api/v1/secure-channel/health?pool=unused");
  EXPECT_EQ(health["pool_healthy"], true);
  EXPECT_EQ(health["ready"], true);
  EXPECT_EQ(health["active_connections"], 0);
  EXPECT_EQ(get_json("/api/v1/secure-channel/health?pool=failing")["pool_healthy"], true) << "nothing tried yet";

  // One failed connect, and the pool is left with no connection and no waiter: still unhealthy.
  EXPECT_EQ(testing::acquire_error(*failing), make_error_code(errc::connect_refused));
  health = get_json("/api/v1/secure-channel/health?pool=failing", 503);
  EXPECT_EQ(health["pool_healthy"], false);
  EXPECT_EQ(health["active_connections"], 0);
  EXPECT_EQ(health["pending_acquires"], 0);
  EXPECT_EQ(health["circuit_breaker"], "closed") << "one failure is below the breaker's threshold";
  EXPECT_EQ(get_json("/api/v1/secure-channel/status?pool=failing")["pool_healthy"], false);
  EXPECT_EQ(get_json("/api/v1/secure-channel/health?pool=unused")["pool_healthy"], true);
}

TEST_F(MonitoredPoolsTest, EnhancedStatusHasTheSeedFieldsOverEveryPool) {
  const std::string enhanced = "/api/v1/secure-channel/status/enhanced";
  // No pool: down, 503, and still the whole document.
  json status = get_json(enhanced, 503);
  EXPECT_EQ(status["status"], "down");
  EXPECT_EQ(status["secure_channel"]["pool_healthy"], false);
  EXPECT_EQ(status["service"], "securechannel");

  const auto started = std::chrono::system_clock::now() - (2h + 30min + 15s);
  pools.set_service_identity("Bitcoin Sprint", started);
  auto primary = echo.builder_for(echo.server.endpoint()).with_namespace("primary").build(io.executor());
  std::string problem;
  ASSERT_TRUE(pools.add(primary, problem)) << problem;
  exercise(*primary);
  Lease held = testing::acquire(*primary);

  status = get_json(enhanced);
  EXPECT_EQ(status["service"], "Bitcoin Sprint");
  EXPECT_EQ(status["status"], "ok");
  EXPECT_TRUE(std::regex_match(status["version"].get<std::string>(), std::regex(R"(\d+\.\d+\.\d+)")));
  EXPECT_TRUE(std::regex_match(status["timestamp"].get<std::string>(), rfc3339_utc));
  // Go's Duration.String of whole seconds; a slow run may have ticked a second or two on.
  EXPECT_TRUE(std::regex_match(status["uptime"].get<std::string>(), std::regex(R"(2h30m1[5-9]s)")))
      << status["uptime"];
  for (const char* key : {"enabled", "self_check", "secure_buffers", "rust_integrity"}) {
    EXPECT_TRUE(status["memory_protection"][key].is_boolean()) << key;
  }
  const json& channel = status["secure_channel"];
  EXPECT_EQ(channel["status"], "healthy");
  EXPECT_EQ(channel["pool_healthy"], true);
  EXPECT_EQ(channel["active_connections"], 3);
  EXPECT_EQ(channel["error_rate"], 0.0);
  EXPECT_GT(channel["avg_latency_ms"].get<double>(), 0.0);
  const json& performance = status["performance"];
  EXPECT_DOUBLE_EQ(performance["connection_pool_utilization"].get<double>(),
                   100.0 / static_cast<double>(primary->config().max_connections));
  EXPECT_EQ(performance["avg_response_time_ms"], channel["avg_latency_ms"]);
  EXPECT_EQ(performance["error_rate_percent"], 0.0);
  ASSERT_EQ(status["pools"].size(), 1u);
  EXPECT_EQ(status["pools"][0]["namespace"], "primary");

  // A second pool whose upstream is down: degraded, still 200, and its errors count.
  auto backup = echo.builder_for("127.0.0.1:" + std::to_string(demo::pick_free_tcp_port()))
                    .with_namespace("backup")
                    .build(io.executor());
  ASSERT_TRUE(pools.add(backup, problem)) << problem;
  EXPECT_EQ(testing::acquire_error(*backup), make_error_code(errc::connect_refused));
  status = get_json(enhanced);
  EXPECT_EQ(status["status"], "degraded");
  EXPECT_EQ(status["secure_channel"]["status"], "degraded");
  EXPECT_EQ(status["secure_channel"]["pool_healthy"], false);
  EXPECT_GT(status["performance"]["error_rate_percent"].get<double>(), 0.0);
  EXPECT_EQ(status["pools"][1]["status"], "unhealthy");

  // Only the failing pool left: down.
  pools.remove(*primary);
  status = get_json(enhanced, 503);
  EXPECT_EQ(status["status"], "down");
  EXPECT_EQ(status["secure_channel"]["status"], "unhealthy");
}

TEST_F(MonitoredPoolsTest, EnhancedIntegrityIsNeverVacuouslyTrue) {
  const std::string enhanced = "/api/v1/secure-channel/status/enhanced";
  // With no SecureBuffer in the process there is nothing to vouch for.
  if (memory_protection_status().buffers == 0) {
    EXPECT_EQ(get_json(enhanced, 503)["memory_protection"]["rust_integrity"], false);
  }
  const SecureBuffer secret = SecureBuffer::copy_of("a secret this process holds");
  EXPECT_EQ(get_json(enhanced, 503)["memory_protection"]["rust_integrity"], true);
  SecureBuffer damaged = SecureBuffer::copy_of("overrun");
  damaged.write([](std::span<std::byte> bytes) { bytes.data()[bytes.size()] ^= std::byte{0xFF}; });
  const json protection = get_json(enhanced, 503)["memory_protection"];
  EXPECT_EQ(protection["rust_integrity"], false);
  EXPECT_EQ(protection["self_check"], false);
}

TEST_F(MonitoredPoolsTest, PoolsAreRegisteredOnceAndSelectedByQuery) {
  auto first = echo.builder_for(echo.server.endpoint()).with_namespace("relay").build(io.executor());
  auto same_series = echo.builder_for(echo.server.endpoint()).with_namespace("relay").build(io.executor());
  auto other = echo.builder_for(echo.server.endpoint()).with_namespace("relay_backup").build(io.executor());
  std::string problem;
  ASSERT_TRUE(pools.add(first, problem));
  EXPECT_FALSE(pools.add(first, problem));
  EXPECT_NE(problem.find("already monitored"), std::string::npos);
  EXPECT_FALSE(pools.add(same_series, problem)) << "same namespace and endpoint would collide";
  EXPECT_NE(problem.find("relay"), std::string::npos);
  ASSERT_TRUE(pools.add(other, problem)) << problem;
  EXPECT_EQ(pools.size(), 2u);

  const json list = get_json("/api/v1/secure-channel/pools");
  ASSERT_EQ(list["pools"].size(), 2u);
  EXPECT_EQ(get_json("/api/v1/secure-channel/status?pool=relay_backup")["namespace"], "relay_backup");
  EXPECT_EQ(get_json("/api/v1/secure-channel/status")["namespace"], "relay") << "first pool by default";
  EXPECT_EQ(get_json("/api/v1/secure-channel/status?pool=nope", 404)["error"], "not_found");

  const std::string text = pools.metrics_text();
  EXPECT_EQ(text.find("# TYPE relay_active_connections gauge"), text.rfind("# TYPE relay_active_connections gauge"));
  EXPECT_NE(text.find("relay_backup_active_connections{"), std::string::npos);

  // A destroyed pool disappears from every endpoint.
  other.reset();
  EXPECT_EQ(pools.size(), 1u);
  EXPECT_EQ(pools.metrics_text().find("relay_backup_"), std::string::npos);
}

TEST_F(MonitoredPoolsTest, UnknownPathsAndMethodsAreJsonErrors) {
  const MonitoringResponse missing = get("/nope");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_EQ(json::parse(missing.body)["error"], "not_found");
  const MonitoringResponse post = pools.handle({"POST", "/metrics"});
  EXPECT_EQ(post.status, 405u);
  EXPECT_EQ(json::parse(post.body)["error"], "method_not_allowed");
  ASSERT_EQ(post.headers.size(), 1u);
  EXPECT_EQ(post.headers[0].first, "Allow");
  EXPECT_EQ(get_json("/healthz", 503)["message"], "no pool is monitored");
}

TEST_F(MonitoredPoolsTest, MetricsCarryTheContractSeries) {
  auto pool = echo.builder_for(echo.server.endpoint()).with_namespace("relay").build(io.executor());
  std::string problem;
  ASSERT_TRUE(pools.add(pool, problem)) << problem;
  exercise(*pool);
  const MonitoringResponse response = get("/api/v1/secure-channel/metrics");
  EXPECT_EQ(response.content_type, std::string(prometheus_content_type));
  const std::string label = "{endpoint=\"" + echo.server.endpoint() + "\"}";
  for (const std::string series :
       {"relay_active_connections", "relay_idle_connections", "relay_pending_acquires",
        "relay_connections_created_total", "relay_reconnects_total", "relay_circuit_breaker_state",
        "relay_requests_total", "relay_connection_reuses_total", "relay_latency_ms_count",
        "relay_acquire_wait_seconds_count", "relay_tls_handshake_seconds_count"}) {
    EXPECT_NE(response.body.find(series + label), std::string::npos) << series << "\n" << response.body;
  }
  EXPECT_NE(response.body.find("relay_latency_ms_count" + label + " 3\n"), std::string::npos);
  EXPECT_NE(response.body.find("relay_connections_created_total" + label + " 3\n"), std::string::npos);
  EXPECT_NE(response.body.find("# TYPE relay_errors_total counter"), std::string::npos);
}

}  // namespace
}  // namespace securechannel
