// The dashboard's server side over real HTTP (run_metrics_task with a token): the page's files
// without a token and with a strict Content-Security-Policy, the API behind the token, the
// dashboard JSON matching the pool, its history, and the connection table's pages.
#include "echo_upstream.hpp"
#include "http_test_client.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/run_metrics_task.hpp"
#include "securechannel/securechannel.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace securechannel {
namespace {

using nlohmann::json;
const testing::HttpTestHeaders with_token = {{"X-Auth-Token", "s3cret"}};

class DashboardEndpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool = echo.builder_for(echo.server.endpoint())
               .with_namespace("relay")
               .with_metrics_port(0)
               .with_metrics_auth_token("s3cret")
               .build(io.executor());
    // Three leases at once: three connections, one round trip each.
    std::vector<Lease> leases;
    for (int i = 0; i < 3; ++i) leases.push_back(testing::acquire(*pool));
    for (Lease& lease : leases) EXPECT_EQ(testing::echo_exchange(lease, "ping"), "ping");
    boost::system::error_code error;
    server = run_metrics_task(pool, error);
    ASSERT_TRUE(server) << error.message();
  }
  void TearDown() override {
    if (server) server->stop();
    testing::shutdown(*pool, std::chrono::milliseconds(0));
  }

  json get_json(const std::string& target) {
    const auto reply = testing::HttpTestConnection(server->port()).get(target, with_token);
    EXPECT_EQ(reply.result_int(), 200) << target << ": " << reply.body();
    return json::parse(reply.body());
  }

  testing::EchoUpstream echo;
  testing::IoThread io;
  std::shared_ptr<SecureChannelPool> pool;
  std::shared_ptr<MonitoringServer> server;
};

TEST_F(DashboardEndpointsTest, ThePageIsServedWithoutATokenAndLoadsOnlyFromThisServer) {
  testing::HttpTestConnection connection(server->port());
  const auto root = connection.get("/");
  ASSERT_EQ(root.result_int(), 200);
  EXPECT_EQ(root[boost::beast::http::field::content_type], "text/html; charset=utf-8");
  EXPECT_NE(root.body().find("<script src=\"/dashboard/app.js\" defer></script>"), std::string::npos);
  const std::string policy(root["Content-Security-Policy"]);
  EXPECT_NE(policy.find("default-src 'none'"), std::string::npos) << policy;
  EXPECT_NE(policy.find("script-src 'self'"), std::string::npos) << policy;
  EXPECT_EQ(root["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(connection.get("/dashboard").body(), root.body());

  const auto script = connection.get("/dashboard/app.js");
  ASSERT_EQ(script.result_int(), 200);
  EXPECT_EQ(script[boost::beast::http::field::content_type], "text/javascript; charset=utf-8");
  EXPECT_NE(script.body().find("X-Auth-Token"), std::string::npos);
  const auto style = connection.get("/dashboard/style.css");
  ASSERT_EQ(style.result_int(), 200);
  EXPECT_EQ(style[boost::beast::http::field::content_type], "text/css; charset=utf-8");

  EXPECT_EQ(connection.request("POST", "/dashboard").result_int(), 405);
  EXPECT_EQ(testing::HttpTestConnection(server->port()).get("/api/v1/secure-channel/dashboard").result_int(), 401)
      << "the data stays behind the token";
  EXPECT_EQ(testing::HttpTestConnection(server->port()).get("/dashboard/other.js").result_int(), 401)
      << "only the page's own files are open";
}

TEST_F(DashboardEndpointsTest, TheDashboardJsonIsThePoolsFiguresWithTheirHistory) {
  const json body = get_json("/api/v1/secure-channel/dashboard");
  ASSERT_EQ(body["pools"].size(), 1u);
  const json& relay = body["pools"][0];
  EXPECT_EQ(relay["namespace"], "relay");
  EXPECT_EQ(relay["endpoint"], echo.server.endpoint());
  EXPECT_EQ(relay["connections"]["active"], 3);
  EXPECT_EQ(relay["connections"]["idle"], 3);
  EXPECT_EQ(relay["connections"]["max"], pool->limits().max_connections);
  EXPECT_EQ(relay["requests_total"], 3);
  EXPECT_EQ(relay["circuit_breaker"], "closed");
  EXPECT_TRUE(relay["circuit_breaker_since_unix_ms"].is_null()) << "closed since the start";
  EXPECT_EQ(relay["latency_ms"]["samples"], 3);
  EXPECT_GT(relay["latency_ms"]["p99"].get<double>(), 0.0);
  EXPECT_TRUE(relay["upstream_certificate_not_after_unix_ms"].is_number_integer());
  EXPECT_EQ(relay["certificate_expiry_warning_ms"], pool->config().certificate_expiry_warning.count());
  EXPECT_FALSE(relay.contains("http")) << "no HttpClient is exported for this pool";
  ASSERT_EQ(relay["history"].size(), 1u) << "the request itself takes the first sample";
  const json& first = relay["history"][0];
  EXPECT_EQ(first["requests_total"], 3);
  EXPECT_EQ(first["idle"], 3);
  EXPECT_EQ(first["round_trips"], 3) << "the first sample covers the pool's life so far";
  EXPECT_GT(first["p99_ms"].get<double>(), 0.0);
}

TEST_F(DashboardEndpointsTest, TheConnectionTablePagesAndSortsOnTheServer) {
  const json all = get_json("/api/v1/secure-channel/connections?pool=relay");
  EXPECT_EQ(all["count"], 3);
  EXPECT_EQ(all["connections"].size(), 3u);
  EXPECT_FALSE(all.contains("offset"));

  const json first = get_json("/api/v1/secure-channel/connections?pool=relay&sort=connection_id&order=desc&limit=2");
  EXPECT_EQ(first["count"], 3) << "the count is the pool's, not the page's";
  ASSERT_EQ(first["connections"].size(), 2u);
  EXPECT_GT(first["connections"][0]["connection_id"], first["connections"][1]["connection_id"]);
  EXPECT_EQ(first["limit"], 2);
  const json rest = get_json("/api/v1/secure-channel/connections?pool=relay&sort=connection_id&order=desc&offset=2&limit=2");
  ASSERT_EQ(rest["connections"].size(), 1u);
  EXPECT_LT(rest["connections"][0]["connection_id"], first["connections"][1]["connection_id"]);

  const auto bad = testing::HttpTestConnection(server->port())
                       .get("/api/v1/secure-channel/connections?sort=secret", with_token);
  EXPECT_EQ(bad.result_int(), 400);
  EXPECT_NE(bad.body().find("sort must be one of"), std::string::npos) << bad.body();
}

}  // namespace
}  // namespace securechannel
