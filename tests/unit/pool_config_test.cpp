// Every invalid knob is refused at build() with an error that names it.
#include "securechannel/pool_builder.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <cmath>

#include <functional>

namespace securechannel {
namespace {

using namespace std::chrono_literals;

struct InvalidKnob {
  std::string name;
  std::function<void(PoolBuilder&)> apply;
  std::string field;
};

// Test names stay readable in ctest's listing.
void PrintTo(const InvalidKnob& knob, std::ostream* out) { *out << knob.name; }

class PoolConfigValidationTest : public ::testing::TestWithParam<InvalidKnob> {};

TEST_P(PoolConfigValidationTest, BuildNamesTheField) {
  boost::asio::io_context io;
  PoolBuilder builder("127.0.0.1:8443");
  GetParam().apply(builder);
  try {
    builder.build(io.get_executor());
    FAIL() << "build() accepted " << GetParam().name;
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.field(), GetParam().field);
    EXPECT_EQ(std::string(error.what()).rfind(GetParam().field + ": ", 0), 0u) << error.what();
  }
  std::string message;
  EXPECT_EQ(builder.try_build(io.get_executor(), message), nullptr);
  EXPECT_NE(message.find(GetParam().field), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    EveryKnob, PoolConfigValidationTest,
    ::testing::Values(
        InvalidKnob{"no_port", [](PoolBuilder& b) { b = PoolBuilder("relay.example.com"); }, "endpoint"},
        InvalidKnob{"port_zero", [](PoolBuilder& b) { b = PoolBuilder("relay.example.com:0"); }, "endpoint"},
        InvalidKnob{"port_too_big", [](PoolBuilder& b) { b = PoolBuilder("relay.example.com:65536"); }, "endpoint"},
        InvalidKnob{"port_not_number", [](PoolBuilder& b) { b = PoolBuilder("relay.example.com:https"); }, "endpoint"},
        InvalidKnob{"empty_host", [](PoolBuilder& b) { b = PoolBuilder(":443"); }, "endpoint"},
        InvalidKnob{"unbracketed_ipv6", [](PoolBuilder& b) { b = PoolBuilder("::1:443"); }, "endpoint"},
        InvalidKnob{"bad_bracket", [](PoolBuilder& b) { b = PoolBuilder("[::1:443"); }, "endpoint"},
        InvalidKnob{"namespace", [](PoolBuilder& b) { b.with_namespace("btc-prod"); }, "namespace"},
        InvalidKnob{"empty_namespace", [](PoolBuilder& b) { b.with_namespace(""); }, "namespace"},
        InvalidKnob{"max_connections", [](PoolBuilder& b) { b.with_max_connections(0); }, "max_connections"},
        InvalidKnob{"min_idle", [](PoolBuilder& b) { b.with_max_connections(2).with_min_idle(3); }, "min_idle"},
        InvalidKnob{"latency", [](PoolBuilder& b) { b.with_max_latency_ms(0); }, "latency_threshold"},
        InvalidKnob{"cleanup", [](PoolBuilder& b) { b.with_cleanup_interval(0ms); }, "cleanup_interval"},
        InvalidKnob{"idle_timeout", [](PoolBuilder& b) { b.with_idle_timeout(0ms); }, "idle_timeout"},
        InvalidKnob{"max_lifetime", [](PoolBuilder& b) { b.with_max_lifetime(-1ms); }, "max_lifetime"},
        InvalidKnob{"connect_timeout", [](PoolBuilder& b) { b.with_connect_timeout(0ms); }, "connect_timeout"},
        InvalidKnob{"lifetime_jitter", [](PoolBuilder& b) { b.with_max_lifetime_jitter(0.6); }, "max_lifetime_jitter"},
        InvalidKnob{"lifetime_jitter_nan", [](PoolBuilder& b) { b.with_max_lifetime_jitter(std::nan("")); },
                    "max_lifetime_jitter"},
        InvalidKnob{"max_connecting", [](PoolBuilder& b) { b.with_max_connecting(0); }, "max_connecting"},
        InvalidKnob{"ping_after", [](PoolBuilder& b) { b.with_http2_ping(-1ms, 5s); }, "http2_ping_after"},
        InvalidKnob{"ping_timeout", [](PoolBuilder& b) { b.with_http2_ping(15s, 0ms); }, "http2_ping_timeout"},
        InvalidKnob{"user_timeout", [](PoolBuilder& b) { b.with_tcp_user_timeout(-1ms); }, "tcp_user_timeout"},
        InvalidKnob{"user_timeout_huge", [](PoolBuilder& b) { b.with_tcp_user_timeout(std::chrono::hours(24 * 365)); },
                    "tcp_user_timeout"},
        InvalidKnob{"keepalive_idle", [](PoolBuilder& b) { b.with_tcp_keepalive(500ms, 10s, 3); }, "tcp_keepalive_idle"},
        InvalidKnob{"keepalive_interval", [](PoolBuilder& b) { b.with_tcp_keepalive(30s, 0ms, 3); },
                    "tcp_keepalive_interval"},
        InvalidKnob{"keepalive_count", [](PoolBuilder& b) { b.with_tcp_keepalive(30s, 10s, 0); }, "tcp_keepalive_count"},
        InvalidKnob{"acquire_timeout", [](PoolBuilder& b) { b.with_acquire_timeout(0ms); }, "acquire_timeout"},
        InvalidKnob{"validate", [](PoolBuilder& b) { b.with_validate_after_inactivity(-5ms); },
                    "validate_after_inactivity"},
        InvalidKnob{"threshold", [](PoolBuilder& b) { b.with_circuit_breaker_failure_threshold(0); },
                    "circuit_breaker_failure_threshold"},
        InvalidKnob{"cooldown", [](PoolBuilder& b) { b.with_circuit_breaker_cooldown(0ms); }, "circuit_breaker_cooldown"},
        InvalidKnob{"backoff_base", [](PoolBuilder& b) { b.with_reconnect_backoff(0ms, 1s); }, "reconnect_backoff_base"},
        InvalidKnob{"backoff_max", [](PoolBuilder& b) { b.with_reconnect_backoff(2s, 1s); }, "reconnect_backoff_max"},
        InvalidKnob{"rotation", [](PoolBuilder& b) { b.with_histogram_rotation_interval(0ms); },
                    "histogram_rotation_interval"},
        InvalidKnob{"metrics_host", [](PoolBuilder& b) { b.with_metrics_host(""); }, "metrics_host"},
        InvalidKnob{"metrics_host_name", [](PoolBuilder& b) { b.with_metrics_host("localhost"); }, "metrics_host"},
        InvalidKnob{"metrics_host_beyond_loopback", [](PoolBuilder& b) { b.with_metrics_host("0.0.0.0"); },
                    "metrics_host"},
        InvalidKnob{"expiry_warning", [](PoolBuilder& b) { b.with_certificate_expiry_warning(-1ms); },
                    "certificate_expiry_warning"},
        InvalidKnob{"server_name", [](PoolBuilder& b) { b.with_server_name("bad name"); }, "tls.server_name"},
        InvalidKnob{"missing_ca_file", [](PoolBuilder& b) { b.with_ca_file("/nonexistent/ca.pem"); }, "tls.ca_file"},
        InvalidKnob{"not_a_ca_file", [](PoolBuilder& b) { b.with_ca_file("/etc/hostname"); }, "tls.ca_file"},
        InvalidKnob{"missing_ca_dir", [](PoolBuilder& b) { b.with_ca_directory("/nonexistent/certs"); },
                    "tls.ca_directory"},
        InvalidKnob{"no_roots", [](PoolBuilder& b) { b.with_system_trust_store(false); }, "tls"},
        InvalidKnob{"alpn", [](PoolBuilder& b) { b.with_alpn({""}); }, "tls.alpn"}),
    [](const auto& knob) { return knob.param.name; });

TEST(PoolConfigTest, DefaultsMatchTheArchitecture) {
  const PoolConfig config;
  EXPECT_EQ(config.metric_namespace, "securechannel");
  EXPECT_EQ(config.max_connections, 100u);
  EXPECT_EQ(config.min_idle, 0u);
  EXPECT_EQ(config.max_pending, 1024u);
  EXPECT_EQ(config.latency_threshold, 300ms);
  EXPECT_EQ(config.cleanup_interval, 60s);
  EXPECT_EQ(config.idle_timeout, 300s);
  EXPECT_EQ(config.max_lifetime, 3600s);
  EXPECT_EQ(config.connect_timeout, 5s);
  EXPECT_EQ(config.acquire_timeout, 5s);
  EXPECT_EQ(config.circuit_breaker_failure_threshold, 5u);
  EXPECT_EQ(config.circuit_breaker_cooldown, 60s);
  EXPECT_EQ(config.histogram_rotation_interval, 1800s);
  EXPECT_EQ(config.metrics_host, "127.0.0.1");
  EXPECT_EQ(config.metrics_port, 9090);
  EXPECT_EQ(config.tls.min_version, TlsVersion::tls1_3);
  EXPECT_EQ(config.certificate_expiry_warning, std::chrono::hours(14 * 24));
  EXPECT_EQ(config.max_lifetime_jitter, 0.10);
  EXPECT_EQ(config.max_connecting, 8u);
  EXPECT_EQ(config.http2_ping_after, 15s);
  EXPECT_EQ(config.http2_ping_timeout, 5s);
  EXPECT_EQ(config.tcp_user_timeout, 15s);
  EXPECT_EQ(config.tcp_keepalive_idle, 30s);
  EXPECT_EQ(config.tcp_keepalive_interval, 10s);
  EXPECT_EQ(config.tcp_keepalive_count, 3u);
}

TEST(PoolConfigTest, ValidBuildStartsNothing) {
  boost::asio::io_context io;
  auto pool = SecureChannelPool::builder("localhost:443").with_max_connections(5).build(io.get_executor());
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->stats().total_connections, 0u);
  EXPECT_EQ(io.poll(), 0u) << "building a pool must not queue any work";
}

TEST(EndpointParseTest, AcceptsNamesIpv4AndBracketedIpv6) {
  std::string host, port, problem;
  ASSERT_TRUE(parse_endpoint("relay.example.com:443", host, port, problem));
  EXPECT_EQ(host, "relay.example.com");
  EXPECT_EQ(port, "443");
  ASSERT_TRUE(parse_endpoint("127.0.0.1:8443", host, port, problem));
  EXPECT_EQ(host, "127.0.0.1");
  ASSERT_TRUE(parse_endpoint("[::1]:65535", host, port, problem));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, "65535");
}

}  // namespace
}  // namespace securechannel

namespace securechannel {
namespace {

// Beyond loopback the metrics need a token, or the explicit allowance (docs/MONITORING.md).
TEST(PoolConfigTest, AMetricsHostBeyondLoopbackNeedsMetricsInsecureBind) {
  const auto problem = [](const PoolBuilder& builder) {
    PoolConfig config = builder.config();
    const std::optional<ConfigError> error = validate(config);
    return error ? std::string(error->what()) : std::string();
  };
  const std::string refused = problem(PoolBuilder("a:1").with_metrics_host("0.0.0.0"));
  EXPECT_EQ(refused, "metrics_host: 0.0.0.0 is not a loopback address: beyond loopback the metrics need "
                     "metrics_auth_token (they are served over plain HTTP: scpool serve's [monitor.tls] adds TLS), or "
                     "metrics_allow_insecure_bind");
  EXPECT_EQ(problem(PoolBuilder("a:1").with_metrics_host("0.0.0.0").with_metrics_auth_token("t0ken")), "");
  EXPECT_EQ(problem(PoolBuilder("a:1").with_metrics_host("localhost")),
            "metrics_host: 'localhost' is not an IP address (the metrics server binds an address, not a name)");
  EXPECT_EQ(problem(PoolBuilder("a:1").with_metrics_host("0.0.0.0").with_metrics_insecure_bind()), "");
  EXPECT_EQ(problem(PoolBuilder("a:1").with_metrics_host("::1")), "");
  EXPECT_EQ(problem(PoolBuilder("a:1").with_metrics_host("127.0.0.2")), "");
}

}  // namespace
}  // namespace securechannel
