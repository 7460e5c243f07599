// The daemon's file: monitor, log, daemon settings, pools with their listeners; environment
// overrides on top; and every mistake of a file reported at once, each with its key and place.
#include "daemon/daemon_config.hpp"
#include "demo/certificate_authority.hpp"
#include "demo/child_process.hpp"
#include "securechannel/pool_config_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace securechannel::daemon {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

const std::string relay_pool = R"(
[[pool]]
namespace = "relay"
endpoints = ["relay.example:443"]
max_connections = 8
[pool.tls]
alpn = ["h2", "http/1.1"]
[[pool.listener]]
mode = "tcp"
listen = "127.0.0.1:7000"
[[pool.listener]]
mode = "http"
listen = "[::1]:0"
max_body_bytes = 1024
request_timeout = "2s"
affinity_header = "X-Relay-Session"
)";

class DaemonConfigTest : public ::testing::Test {
 protected:
  DaemonConfig parse(const std::string& text, const Environment& environment = {}) {
    return parse_daemon_config(text, "scpool.toml", directory.path().string(), environment);
  }

  // Every ConfigError `text` raises, as "field: message" lines.
  std::vector<std::string> refusals(const std::string& text, const Environment& environment = {}) {
    std::vector<std::string> lines;
    try {
      parse(text, environment);
      ADD_FAILURE() << "accepted:\n" << text;
    } catch (const ConfigErrors& errors) {
      for (const ConfigError& error : errors.errors()) lines.emplace_back(error.what());
    } catch (const ConfigError& error) {
      lines.emplace_back(error.what());
    }
    return lines;
  }

  demo::TemporaryDirectory directory{"securechannel-daemon-config"};
};

TEST_F(DaemonConfigTest, ReadsMonitorLogPoolsAndListeners) {
  std::ofstream(directory.path() / "monitor.token") << "s3cret\n";
  const DaemonConfig config = parse(R"(
[monitor]
listen = "127.0.0.1:0"
token_file = "monitor.token"
auth_failures_allowed = 0
auth_failure_interval = "5s"
[log]
format = "json"
level = "debug"
[daemon]
drain_grace = "3s"
)" + relay_pool);
  EXPECT_EQ(config.monitor.host, "127.0.0.1");
  EXPECT_EQ(config.monitor.port, 0);
  ASSERT_TRUE(config.monitor.token);
  EXPECT_TRUE(config.monitor.token->equals("s3cret"));
  EXPECT_EQ(config.monitor.auth_failures_allowed, 0u);
  EXPECT_EQ(config.monitor.auth_failure_interval, 5s);
  EXPECT_EQ(config.log.format, LogFormat::json);
  EXPECT_EQ(config.log.level, spdlog::level::debug);
  EXPECT_EQ(config.drain_grace, 3s);
  ASSERT_EQ(config.pools.size(), 1u);
  const DaemonPoolConfig& pool = config.pools[0];
  EXPECT_EQ(pool.pool.endpoint, "relay.example:443");
  EXPECT_EQ(pool.pool.metric_namespace, "relay");
  EXPECT_EQ(pool.pool.max_connections, 8u);
  ASSERT_EQ(pool.listeners.size(), 2u);
  EXPECT_EQ(pool.listeners[0].mode, ListenerMode::tcp);
  EXPECT_EQ(pool.listeners[0].address(), "127.0.0.1:7000");
  EXPECT_EQ(pool.listeners[1].mode, ListenerMode::http);
  EXPECT_EQ(pool.listeners[1].address(), "[::1]:0");
  EXPECT_EQ(pool.listeners[1].limits.max_body_bytes, 1024u);
  EXPECT_EQ(pool.listeners[1].request_timeout, 2s);
  EXPECT_EQ(pool.listeners[1].affinity_header, "X-Relay-Session");
}

TEST_F(DaemonConfigTest, AnAffinityHeaderMustBeAHeaderNameOnAnHttpListener) {
  const auto lines = refusals(R"([[pool]]
endpoint = "relay.example:443"
[[pool.listener]]
mode = "http"
listen = "127.0.0.1:0"
affinity_header = "X Relay"
[[pool.listener]]
mode = "tcp"
listen = "127.0.0.1:0"
affinity_header = "X-Relay-Session"
)");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("pool[0].listener[0].affinity_header: \"X Relay\" is not an HTTP header name (scpool.toml:6"));
  EXPECT_THAT(lines[1], HasSubstr("pool[0].listener[1].affinity_header: is for mode = \"http\" listeners"));
}

TEST_F(DaemonConfigTest, APlainPoolSaysTlsFalseAndKeepsItsListeners) {
  const DaemonConfig config = parse(R"([[pool]]
endpoints = ["10.0.0.7:8080", "10.0.0.8:8080"]
tls = false
http2_prior_knowledge = true
[[pool.listener]]
mode = "http"
listen = "127.0.0.1:0"
[[pool.listener]]
mode = "tcp"
listen = "127.0.0.1:0"
)");
  const DaemonPoolConfig& pool = config.pools.at(0);
  EXPECT_FALSE(pool.pool.tls.enabled);
  EXPECT_TRUE(pool.pool.tls.http2_prior_knowledge);
  EXPECT_EQ(scheme_of(pool.pool), "http");
  EXPECT_EQ(pool.listeners.size(), 2u);
  EXPECT_TRUE(parse("[[pool]]\nendpoint = \"127.0.0.1:8443\"\n").pools.at(0).pool.tls.enabled) << "TLS unless said";
  const auto lines = refusals("[[pool]]\nendpoint = \"127.0.0.1:8443\"\nhttp2_prior_knowledge = true\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("pool[0].http2_prior_knowledge: is for plain connections (tls = false)"));
}

TEST_F(DaemonConfigTest, NeitherABackupNorAVariableChangesWhetherBytesAreEncrypted) {
  const auto backup = refusals(R"([[pool]]
namespace = "relay"
endpoint = "relay.example:443"
backup = "local"
[[pool]]
namespace = "local"
endpoint = "10.0.0.7:8080"
tls = false
)");
  ASSERT_EQ(backup.size(), 1u);
  EXPECT_THAT(backup[0], HasSubstr("pool[0].backup: pool 'local' is http and this one https: a backup must have the same tls setting"));

  const std::string pinned = "[[pool]]\nnamespace = \"relay\"\nendpoint = \"relay.example:443\"\n[pool.tls]\n"
                             "pins = [\"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\n";
  const auto switched = refusals(pinned, {{"SCPOOL_RELAY_TLS", "false"}});
  ASSERT_EQ(switched.size(), 1u);
  EXPECT_THAT(switched[0], HasSubstr("SCPOOL_RELAY_TLS: TLS is switched on or off in the file"));
  const std::string plain = "[[pool]]\nnamespace = \"local\"\nendpoint = \"10.0.0.7:8080\"\ntls = false\n";
  const auto turned_back = refusals(plain, {{"SCPOOL_LOCAL_TLS_CA_FILE", "ca.pem"}});
  ASSERT_EQ(turned_back.size(), 1u);
  EXPECT_THAT(turned_back[0], HasSubstr("SCPOOL_LOCAL_TLS_CA_FILE: the pool has tls = false in the file"));
}

TEST_F(DaemonConfigTest, EndpointStillWorks) {
  const DaemonConfig config = parse("[[pool]]\nendpoint = \"127.0.0.1:8443\"\n");
  EXPECT_EQ(config.pools.at(0).pool.endpoint, "127.0.0.1:8443");
  EXPECT_EQ(config.monitor.port, 9090);
  EXPECT_EQ(config.log.format, LogFormat::text);
}

TEST_F(DaemonConfigTest, EveryMistakeOfAFileIsReportedAtOnce) {
  const auto lines = refusals(R"([monitor]
listen = "localhost:9090"
colour = "blue"
[log]
format = "xml"
[[pool]]
namespace = "relay"
endpoints = ["relay.example:443"]
max_conections = 5
connect_timeout = 5
metrics_port = 9100
[pool.tls]
ca_file = 42
[[pool.listener]]
mode = "tcp"
listen = "127.0.0.1:99999"
max_body_bytes = 10
[[pool]]
namespace = "other"
)");
  const std::vector<std::string> expected = {
      "monitor.listen: 'localhost' is not an IP address (a listener binds an address, not a name) (scpool.toml:2:10)",
      "monitor.colour: unknown key (scpool.toml:3:1)",
      "log.format: 'xml' is not one of \"text\", \"json\" (scpool.toml:5:10)",
      "pool[0].connect_timeout: needs a unit: write \"5ms\" or \"5s\" (scpool.toml:10:19)",
      "pool[0].tls.ca_file: must be a string, not an integer (scpool.toml:13:11)",
      "pool[0].metrics_port: the daemon serves every pool's metrics on one monitoring server: set it in [monitor] "
      "(scpool.toml:11:16)",
      "pool[0].listener[0].listen: '99999' is not a port from 0 to 65535 (scpool.toml:16:10)",
      "pool[0].listener[0].max_body_bytes: is for mode = \"http\" listeners: a tcp listener carries bytes, not "
      "requests (scpool.toml:17:18)",
      "pool[0].max_conections: unknown key (scpool.toml:9:1)",
      "pool[1].endpoints: is required: endpoints = [\"host:port\"] (or endpoint = \"host:port\") (scpool.toml:18:1)",
  };
  EXPECT_EQ(lines, expected);
}

TEST_F(DaemonConfigTest, ListenersAndPoolsAreCheckedAcrossTheFile) {
  const auto lines = refusals(R"([[pool]]
namespace = "a"
endpoint = "a.example:443"
endpoints = ["a.example:443", "a.example:443"]
backup = "nowhere"
[[pool.listener]]
listen = "127.0.0.1:7000"
[[pool]]
namespace = "b"
endpoint = "b.example:443"
[[pool.listener]]
mode = "http"
listen = "127.0.0.1:7000"
)");
  ASSERT_EQ(lines.size(), 5u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], HasSubstr("pool[0].endpoints: give either endpoint or endpoints, not both"));
  EXPECT_THAT(lines[1], HasSubstr("pool[0].endpoints[1]: a.example:443 is listed twice"));
  EXPECT_THAT(lines[2], HasSubstr("pool[0].listener[0].mode: is required"));
  EXPECT_THAT(lines[3], HasSubstr("pool[0].backup: names no pool: no [[pool]] has namespace 'nowhere'"));
  EXPECT_THAT(lines[4], HasSubstr("pool[1].listener[0].listen: 127.0.0.1:7000 is already the address of pool[0].listener[0]"));
}

TEST_F(DaemonConfigTest, AnEmptyEndpointIsNamed) {
  // Found by daemon_config_fuzzer: endpoints = [""] gave a pool with no host and no error.
  const auto lines = refusals(R"([[pool]]
namespace = "relay"
endpoints = ["", "b.example:443"]
)");
  ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], HasSubstr("pool[0].endpoints[0]: is empty: give \"host:port\""));
}

TEST_F(DaemonConfigTest, AnEmptyKeyIsNamedAsTheFileSpellsIt) {
  // Found by daemon_config_fuzzer: a table named [""] was refused with an empty field name.
  const auto lines = refusals(R"([[pool]]
namespace = "relay"
endpoint = "a.example:443"
[""]
)");
  ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], HasSubstr("\"\": unknown key"));
}

TEST_F(DaemonConfigTest, SeveralEndpointsABalancingPolicyAndABackup) {
  const DaemonConfig config = parse(R"([[pool]]
namespace = "relay"
endpoints = ["a.example:443", "b.example:443"]
balancing = "round_robin"
backup = "spare"
[pool.outlier_detection]
consecutive_failures = 2
base_ejection_time = "5s"
max_ejection_percent = 50
[[pool]]
namespace = "spare"
endpoint = "c.example:443"
)");
  const DaemonPoolConfig& relay = config.pools.at(0);
  EXPECT_EQ(relay.endpoints, (std::vector<std::string>{"a.example:443", "b.example:443"}));
  EXPECT_EQ(relay.pool.endpoint, "a.example:443");
  EXPECT_EQ(relay.balancing, BalancingPolicy::round_robin);
  EXPECT_EQ(relay.backup, "spare");
  EXPECT_EQ(relay.outlier_detection.consecutive_failures, 2u);
  EXPECT_EQ(relay.outlier_detection.base_ejection_time, 5s);
  EXPECT_EQ(relay.outlier_detection.max_ejection_percent, 50u);
  EXPECT_EQ(config.pools.at(1).balancing, BalancingPolicy::least_requests);
}

TEST_F(DaemonConfigTest, EnvironmentOverridesTheFile) {
  const DaemonConfig config = parse(relay_pool, {{"SCPOOL_MONITOR_ADDR", "127.0.0.2:0"},
                                                 {"SCPOOL_LOG_FORMAT", "json"},
                                                 {"SCPOOL_DRAIN_GRACE", "250ms"},
                                                 {"SCPOOL_RELAY_MAX_CONNECTIONS", "3"},
                                                 {"SCPOOL_RELAY_CONNECT_TIMEOUT", "2s"},
                                                 {"SCPOOL_RELAY_TLS_SERVER_NAME", "relay.internal"},
                                                 {"SCPOOL_CONFIG", "/etc/scpool.toml"},
                                                 {"PATH", "/usr/bin"}});
  EXPECT_EQ(config.monitor.host, "127.0.0.2");
  EXPECT_EQ(config.log.format, LogFormat::json);
  EXPECT_EQ(config.drain_grace, 250ms);
  const PoolConfig& pool = config.pools.at(0).pool;
  EXPECT_EQ(pool.max_connections, 3u);
  EXPECT_EQ(pool.connect_timeout, 2s);
  EXPECT_EQ(pool.tls.server_name, "relay.internal");
}

TEST_F(DaemonConfigTest, ABadOverrideIsNamedLikeAFileMistake) {
  const auto lines = refusals(relay_pool, {{"SCPOOL_RELAY_MAX_CONNECTIONS", "many"},
                                           {"SCPOOL_RELAY_MAX_CONECTIONS", "5"},
                                           {"SCPOOL_NOWHERE_MIN_IDLE", "1"}});
  const std::vector<std::string> expected = {
      "SCPOOL_NOWHERE_MIN_IDLE: names no setting: SCPOOL_MONITOR_LISTEN, SCPOOL_LOG_FORMAT, ... or "
      "SCPOOL_<POOL NAMESPACE>_<KEY> for a pool in the file (environment variable SCPOOL_NOWHERE_MIN_IDLE)",
      "pool[0].max_connections: must be an integer, not a string (environment variable SCPOOL_RELAY_MAX_CONNECTIONS)",
      "pool[0].max_conections: unknown key (environment variable SCPOOL_RELAY_MAX_CONECTIONS)",
  };
  EXPECT_EQ(lines, expected);
}

// Found by daemon_config_fuzzer: a NUL in a variable's name cut ConfigError::what() short, and
// bytes that are not UTF-8 escaped as a toml::parse_error instead of a ConfigError.
TEST_F(DaemonConfigTest, AnOverrideWithAStrangeNameOrValueIsRefusedByName) {
  const auto lines = refusals(relay_pool, {{std::string("SCPOOL_RELAY_MIN\0IDLE", 21), "1"},
                                           {"SCPOOL_RELAY_MAX_CONNECTIONS", "\xfe" "ots"}});
  ASSERT_EQ(lines.size(), 2u) << ::testing::PrintToString(lines);
  // In the variables' order: MAX_CONNECTIONS sorts before MIN.
  EXPECT_THAT(lines[0], HasSubstr("SCPOOL_RELAY_MAX_CONNECTIONS: is not a usable value"));
  EXPECT_EQ(lines[1], "SCPOOL_RELAY_MIN?IDLE: an SCPOOL_ environment variable's name has only letters, digits and _");
}

TEST_F(DaemonConfigTest, AMissingFileIsNamed) {
  try {
    load_daemon_config((directory.path() / "absent.toml").string(), {});
    FAIL() << "a missing file was accepted";
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("cannot read"));
    EXPECT_THAT(error.what(), HasSubstr("absent.toml: No such file or directory"));
  }
}

TEST_F(DaemonConfigTest, ASyntaxErrorStopsTheReading) {
  const auto lines = refusals("[monitor\nlisten = 1\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("(syntax)"));
  EXPECT_THAT(lines[0], HasSubstr("scpool.toml:1"));
}

TEST_F(DaemonConfigTest, MonitorTlsLoadsItsCertificateAndNamesTheKeyOfEachFailure) {
  auto authority = demo::CertificateAuthority::create();
  const auto issued = authority.issue("monitor");
  const std::string chain = issued.chain_file.string();
  const DaemonConfig config =
      parse("[monitor.tls]\ncertificate_file = \"" + chain + "\"\nkey_file = \"" + issued.key_file.string() + "\"\n" +
            relay_pool);
  ASSERT_TRUE(config.monitor.tls);
  EXPECT_THAT(config.monitor.tls->summary(), HasSubstr("CN=localhost, expires "));
  EXPECT_EQ(config.monitor.tls_certificate_file, chain);

  const auto other = authority.issue("other");
  auto lines = refusals("[monitor.tls]\ncertificate_file = \"" + chain + "\"\nkey_file = \"" +
                        other.key_file.string() + "\"\n" + relay_pool);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("monitor.tls.key_file: '" + other.key_file.string() + "' does not match"));
  EXPECT_THAT(lines[0], HasSubstr("(scpool.toml:3:12)"));

  lines = refusals("[monitor.tls]\nkey_file = \"monitor.key\"\ncolour = 1\n" + relay_pool);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("monitor.tls.colour: unknown key"));
  EXPECT_THAT(lines[1], HasSubstr("monitor.tls.certificate_file: required for TLS (scpool.toml:1"));
}

}  // namespace
}  // namespace securechannel::daemon

namespace securechannel::daemon {
namespace {

// docs/MONITORING.md, "Exposure": beyond loopback the monitoring server needs a token or TLS,
// a listener (which has no authentication) needs allow_insecure_bind; both said with the line.
TEST_F(DaemonConfigTest, ANonLoopbackMonitorNeedsATokenOrTls) {
  auto lines = refusals("[monitor]\nlisten = \"0.0.0.0:9090\"\n" + relay_pool);
  ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_EQ(lines[0],
            "monitor.listen: 0.0.0.0 is not a loopback address: beyond loopback the monitoring server needs "
            "token_file or [monitor.tls] (both, best), or allow_insecure_bind = true (scpool.toml:2:10)");
  // Through the environment too: the rule applies to the address the daemon will bind.
  lines = refusals(relay_pool, {{"SCPOOL_MONITOR_LISTEN", "192.0.2.1:9090"}});
  ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], HasSubstr("monitor.listen: 192.0.2.1 is not a loopback address"));

  std::ofstream(directory.path() / "monitor.token") << "s3cret\n";
  EXPECT_EQ(parse("[monitor]\nlisten = \"[::]:9090\"\ntoken_file = \"monitor.token\"\n" + relay_pool).monitor.host, "::");
  auto authority = demo::CertificateAuthority::create();
  const auto issued = authority.issue("monitor");
  const std::string tls = "[monitor.tls]\ncertificate_file = \"" + issued.chain_file.string() + "\"\nkey_file = \"" +
                          issued.key_file.string() + "\"\n";
  EXPECT_TRUE(parse("[monitor]\nlisten = \"0.0.0.0:9090\"\n" + tls + relay_pool).monitor.tls);
  // A token file that cannot be read is named under its own key, not as a missing token.
  lines = refusals("[monitor]\nlisten = \"0.0.0.0:9090\"\ntoken_file = \"absent.token\"\n" + relay_pool);
  ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], HasSubstr("monitor.token_file: "));

  const DaemonConfig allowed = parse("[monitor]\nlisten = \"0.0.0.0:9090\"\nallow_insecure_bind = true\n" + relay_pool);
  EXPECT_TRUE(allowed.monitor.allow_insecure_bind);
  // Loopback in every spelling needs nothing.
  for (const char* loopback : {"127.0.0.1", "127.3.2.1", "[::1]", "[::ffff:127.0.0.1]"}) {
    EXPECT_NO_THROW(parse(std::string("[monitor]\nlisten = \"") + loopback + ":0\"\n" + relay_pool)) << loopback;
  }
}

TEST_F(DaemonConfigTest, ANonLoopbackListenerNeedsAllowInsecureBind) {
  const std::string pool = "[[pool]]\nnamespace = \"relay\"\nendpoints = [\"relay.example:443\"]\n"
                           "[[pool.listener]]\nmode = \"tcp\"\nlisten = \"0.0.0.0:7000\"\n";
  const auto lines = refusals(pool);
  ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_EQ(lines[0],
            "pool[0].listener[0].listen: 0.0.0.0 is not a loopback address: a listener has no authentication, so "
            "anyone who reaches it would send through this pool with its TLS identity (set allow_insecure_bind = "
            "true if the network in front is trusted) (scpool.toml:6:10)");
  const DaemonConfig allowed = parse(pool + "allow_insecure_bind = true\n");
  EXPECT_TRUE(allowed.pools.at(0).listeners.at(0).allow_insecure_bind);
  EXPECT_FALSE(parse(relay_pool).pools.at(0).listeners.at(0).allow_insecure_bind);
}

}  // namespace
}  // namespace securechannel::daemon
