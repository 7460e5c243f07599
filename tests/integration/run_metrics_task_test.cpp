// run_metrics_task(pool): the seeds' one-call monitoring for one pool, over real HTTP, with the
// pool's metrics host, port and token, and the server's own counters in /metrics.
#include "echo_upstream.hpp"
#include "http_test_client.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/run_metrics_task.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace securechannel {
namespace {

TEST(RunMetricsTaskTest, ServesThePoolWithItsTokenAndCountsRejections) {
  testing::EchoUpstream echo;
  testing::IoThread io;
  auto pool = echo.builder_for(echo.server.endpoint())
                  .with_namespace("relay")
                  .with_metrics_port(0)
                  .with_metrics_auth_token("s3cret")
                  .build(io.executor());
  {
    Lease lease = testing::acquire(*pool);
    EXPECT_EQ(testing::echo_exchange(lease, "ping"), "ping");
  }
  boost::system::error_code error;
  auto server = run_metrics_task(pool, error);
  ASSERT_TRUE(server) << error.message();

  EXPECT_EQ(testing::HttpTestConnection(server->port()).get("/metrics").result_int(), 401);
  testing::HttpTestConnection connection(server->port());
  EXPECT_EQ(connection.get("/healthz").result_int(), 200) << "probes need no token";
  const auto metrics = connection.get("/metrics", {{"X-Auth-Token", "s3cret"}});
  ASSERT_EQ(metrics.result_int(), 200);
  const std::string& text = metrics.body();
  EXPECT_NE(text.find("relay_requests_total{endpoint=\"" + echo.server.endpoint() + "\"} 1\n"), std::string::npos)
      << text;
  const std::string server_label = "server=\"" + server->base_url() + "\"";
  EXPECT_NE(text.find("relay_monitoring_rejected_total{" + server_label + ",reason=\"unauthorized\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("relay_monitoring_requests_total{" + server_label + "}"), std::string::npos);
  EXPECT_NE(text.find("relay_monitoring_open_connections{" + server_label + "} 1\n"), std::string::npos);

  // The token is the one secret this process holds, in a SecureBuffer the status reports.
  const auto status = connection.get("/api/v1/secure-channel/status", {{"X-Auth-Token", "s3cret"}});
  ASSERT_EQ(status.result_int(), 200);
  const auto protection = nlohmann::json::parse(status.body()).at("memory_protection");
  EXPECT_EQ(protection.at("buffers"), 1);
  EXPECT_EQ(protection.at("secure_buffers"), true);
  EXPECT_EQ(protection.at("enabled"), true);
  EXPECT_EQ(protection.at("self_check"), true);
  EXPECT_EQ(protection.at("locked_bytes"), sysconf(_SC_PAGESIZE));
  EXPECT_EQ(protection.at("mlock_failures"), 0);

  // The configured port is honoured: a second task on the same port fails with an error code.
  auto same_port = echo.builder_for(echo.server.endpoint())
                       .with_namespace("other")
                       .with_metrics_port(server->port())
                       .build(io.executor());
  EXPECT_FALSE(run_metrics_task(same_port, error));
  EXPECT_EQ(error, boost::asio::error::address_in_use);

  server->stop();
  EXPECT_TRUE(testing::eventually([&] { return server->open_connections() == 0; }));
  testing::shutdown(*pool, std::chrono::milliseconds(0));
}

}  // namespace
}  // namespace securechannel
