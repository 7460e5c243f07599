// docs/MONITORING.md, "Exposure": beyond loopback the monitoring server needs a token or TLS (or
// allow_insecure_bind; what stays open is said in the log), a token may come as X-Auth-Token or a Bearer
// credential, and an address that keeps presenting wrong tokens is slowed to one try per
// interval with 429 and Retry-After. Over real loopback sockets.
#include "captured_log.hpp"
#include "demo/certificate_authority.hpp"
#include "http_test_client.hpp"
#include "io_thread.hpp"
#include "monitoring_servers.hpp"
#include "securechannel/error.hpp"
#include "securechannel/monitored_pools.hpp"
#include "securechannel/monitoring_server.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <memory>
#include <string>

namespace securechannel {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;
using testing::HttpTestConnection;
using testing::HttpTestReply;

constexpr std::string_view token = "exposure-test-token";

class MonitoringExposureTest : public ::testing::Test {
 protected:
  std::shared_ptr<MonitoringServer> create(MonitoringServerOptions options, boost::system::error_code& error) {
    return servers.try_create(std::move(options), error);
  }
  std::shared_ptr<MonitoringServer> start(MonitoringServerOptions options) { return servers.start(std::move(options)); }
  static MonitoringServerOptions with_token() { return testing::MonitoringServers::with_token(token); }

  std::atomic<int> calls{0};
  testing::IoThread io;
  testing::MonitoringServers servers{io, [this](const MonitoringRequest&) {
                                       calls.fetch_add(1);
                                       MonitoringResponse response;
                                       response.body = R"({"ok":true})";
                                       return response;
                                     }};
};

// The servers made here with a wildcard address are never started: create() binds and listens
// (so that bind errors surface), start() would accept. Each is stopped at once.
TEST_F(MonitoringExposureTest, BeyondLoopbackTheServerNeedsATokenOrTls) {
  auto authority = demo::CertificateAuthority::create();
  const auto issued = authority.issue("monitor");
  std::optional<ConfigError> load_error;
  const auto tls = MonitoringTls::load(issued.chain_file.string(), issued.key_file.string(), load_error);
  ASSERT_TRUE(tls) << load_error->what();

  struct Case {
    const char* name;
    bool token;
    bool tls;
    bool allow;
    const char* warning;  // null: refused; empty: created without a warning
  };
  for (const Case& c : {Case{"neither", false, false, false, nullptr},
                        Case{"token only", true, false, false, "without TLS: the token crosses the network in clear text"},
                        Case{"TLS only", false, true, false, "without an auth token: anyone who reaches it reads it, over TLS"},
                        Case{"token and TLS", true, true, false, ""},
                        Case{"allowed without either", false, false, true,
                             "without an auth token or TLS (allow_insecure_bind): anyone who reaches it reads it"}}) {
    SCOPED_TRACE(c.name);
    MonitoringServerOptions options;
    options.host = "0.0.0.0";
    if (c.token) options.auth_token = make_shared_secret(token);
    if (c.tls) options.tls = tls;
    options.allow_insecure_bind = c.allow;
    testing::CapturedLog log;
    boost::system::error_code error;
    auto server = create(options, error);
    if (c.warning == nullptr) {
      EXPECT_FALSE(server);
      EXPECT_EQ(error, errc::insecure_bind);
      EXPECT_EQ(error_kind(error), "insecure_bind");
      continue;
    }
    ASSERT_TRUE(server) << error.message();
    server->stop();
    if (*c.warning == '\0') {
      EXPECT_EQ(log.text(), "");
    } else {
      EXPECT_EQ(log.text(), std::string("monitoring server on 0.0.0.0: listening beyond loopback ") + c.warning + "\n");
    }
  }

  // Loopback in any spelling needs neither.
  for (const char* loopback : {"127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"}) {
    MonitoringServerOptions options;
    options.host = loopback;
    boost::system::error_code error;
    auto server = create(options, error);
    EXPECT_TRUE(server) << loopback << ": " << error.message();
  }
}

TEST_F(MonitoringExposureTest, ABearerCredentialIsATokenToo) {
  auto server = start(with_token());
  for (const std::string& authorization : {"Bearer " + std::string(token), "bearer  " + std::string(token)}) {
    HttpTestConnection connection(server->port());
    EXPECT_EQ(connection.get("/metrics", {{"Authorization", authorization}}).result_int(), 200) << authorization;
  }
  for (const std::string& authorization :
       {std::string(token), "Basic " + std::string(token), std::string("Bearer"), "Bearer wrong-" + std::string(token)}) {
    HttpTestConnection connection(server->port());
    const HttpTestReply reply = connection.get("/metrics", {{"Authorization", authorization}});
    EXPECT_EQ(reply.result_int(), 401) << authorization;
    EXPECT_EQ(reply["WWW-Authenticate"], "Bearer") << "a 401 names the scheme it takes";
  }
  // Either header may carry it: a proxy adding a stale X-Auth-Token does not hide the Bearer one.
  HttpTestConnection both(server->port());
  EXPECT_EQ(both.get("/metrics", {{"X-Auth-Token", "stale"}, {"Authorization", "Bearer " + std::string(token)}})
                .result_int(),
            200);
  EXPECT_EQ(calls.load(), 3);
}

TEST_F(MonitoringExposureTest, AnAddressThatKeepsGuessingIsSlowedToOneTryPerInterval) {
  MonitoringServerOptions options = with_token();
  options.auth_failures_allowed = 3;
  options.auth_failure_interval = 60s;  // long enough that no try opens during the test
  auto server = start(options);
  // No token at all is not a guess (a page before its user typed one): never limited.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(HttpTestConnection(server->port()).get("/metrics").result_int(), 401);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(HttpTestConnection(server->port()).get("/metrics", {{"X-Auth-Token", "guess"}}).result_int(), 401);
  }
  // Over the allowance: refused before the token is looked at, even the right one.
  HttpTestConnection limited(server->port());
  const HttpTestReply reply = limited.get("/metrics", {{"X-Auth-Token", std::string(token)}});
  EXPECT_EQ(reply.result_int(), 429);
  EXPECT_EQ(reply[http::field::retry_after], "60");
  const auto body = nlohmann::json::parse(reply.body());
  EXPECT_EQ(body.at("error"), "too_many_requests");
  EXPECT_EQ(body.at("message"), "too many wrong tokens from this address: the next try is accepted in 60 s");
  EXPECT_TRUE(limited.closed_by_server());
  EXPECT_EQ(calls.load(), 0);
  // Probe paths need no token and are not limited.
  EXPECT_EQ(HttpTestConnection(server->port()).get("/healthz").result_int(), 200);
  EXPECT_EQ(server->stats().rejected_unauthorized, 8u);
  EXPECT_EQ(server->stats().rejected_rate_limited, 1u);
}

TEST_F(MonitoringExposureTest, AfterTheIntervalTheRightTokenIsAcceptedAgain) {
  MonitoringServerOptions options = with_token();
  options.auth_failures_allowed = 1;
  options.auth_failure_interval = 300ms;
  auto server = start(options);
  EXPECT_EQ(HttpTestConnection(server->port()).get("/metrics", {{"X-Auth-Token", "guess"}}).result_int(), 401);
  const HttpTestReply limited = HttpTestConnection(server->port()).get("/metrics", {{"X-Auth-Token", "guess"}});
  ASSERT_EQ(limited.result_int(), 429);
  EXPECT_EQ(limited[http::field::retry_after], "1") << "whole seconds, rounded up";
  EXPECT_TRUE(testing::eventually([&] {
    return HttpTestConnection(server->port()).get("/metrics", {{"X-Auth-Token", std::string(token)}}).result_int() ==
           200;
  }));
}

TEST_F(MonitoringExposureTest, RefusalsAreExportedByReason) {
  MonitoringServerOptions options = with_token();
  options.auth_failures_allowed = 1;
  options.auth_failure_interval = 60s;
  auto server = start(options);
  auto pools = std::make_shared<MonitoredPools>();
  ASSERT_TRUE(pools->export_server_metrics(server, "exposure"));
  EXPECT_EQ(HttpTestConnection(server->port()).get("/metrics", {{"X-Auth-Token", "guess"}}).result_int(), 401);
  EXPECT_EQ(HttpTestConnection(server->port()).get("/metrics", {{"X-Auth-Token", "guess"}}).result_int(), 429);
  const std::string text = pools->handle({.method = "GET", .target = "/metrics"}).body;
  EXPECT_NE(text.find("exposure_monitoring_rejected_total{server=\"" + server->base_url() +
                      "\",reason=\"rate_limited\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("reason=\"unauthorized\"} 1"), std::string::npos) << text;
}

}  // namespace
}  // namespace securechannel
