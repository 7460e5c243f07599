// The TOML pool file: every key lands in its PoolConfig field, and every mistake is refused with
// the key's path and its place in the file.
#include "demo/child_process.hpp"
#include "securechannel/pool_config_file.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <boost/asio/io_context.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace securechannel {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

class PoolConfigFileTest : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, const std::string& content) {
    const fs::path file = directory.path() / name;
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }

  std::vector<PoolConfig> parse(const std::string& text) {
    return parse_pool_config(text, "pools.toml", directory.path().string());
  }

  // The ConfigError that `text` must raise.
  ConfigError refusal(const std::string& text) {
    try {
      parse(text);
    } catch (const ConfigError& error) {
      return error;
    }
    ADD_FAILURE() << "accepted:\n" << text;
    return ConfigError("(none)", "accepted");
  }

  demo::TemporaryDirectory directory{"securechannel-config"};
};

TEST_F(PoolConfigFileTest, EveryKeyReachesItsField) {
  write("token", "metrics-s3cret\r\n");
  const auto pools = parse(R"(
[[pool]]
endpoint = "relay.example.com:8443"
namespace = "relay"
max_connections = 50
min_idle = 5
max_pending = 10
max_latency_ms = 40
cleanup_interval = "30s"
idle_timeout = "2m"
max_lifetime = "1h30m"
max_requests_per_connection = 1000
health_recycle_below = 40
connect_timeout = "1500ms"
acquire_timeout = "2s"
validate_after_inactivity = "0s"
circuit_breaker_failure_threshold = 3
circuit_breaker_cooldown = "10s"
reconnect_backoff_base = "50ms"
reconnect_backoff_max = "5s"
histogram_rotation_interval = "15m"
metrics_host = "10.0.0.2"
metrics_port = 9191
metrics_auth_token_file = "token"
metrics_allow_insecure_bind = true
certificate_expiry_warning = "30d"

[pool.tls]
system_trust_store = false
ca_file = "certs/ca.pem"
ca_directory = "/etc/relay/ca.d"
min_version = "1.2"
tls13_ciphersuites = "TLS_AES_256_GCM_SHA384"
alpn = ["h2", "http/1.1"]
session_resumption = false
pins = ["sha256//primary", "sha256//backup"]
server_name = "relay.internal"
client_certificate_file = "client.pem"
client_key_file = "./keys/../client.key"
client_key_passphrase_file = "client.pass"

[[pool]]
endpoint = "[::1]:443"
)");
  ASSERT_EQ(pools.size(), 2u);
  const PoolConfig& relay = pools[0];
  EXPECT_EQ(relay.endpoint, "relay.example.com:8443");
  EXPECT_EQ(relay.host, "relay.example.com") << "validated: host and port split";
  EXPECT_EQ(relay.port, "8443");
  EXPECT_EQ(relay.metric_namespace, "relay");
  EXPECT_EQ(relay.max_connections, 50u);
  EXPECT_EQ(relay.min_idle, 5u);
  EXPECT_EQ(relay.max_pending, 10u);
  EXPECT_EQ(relay.latency_threshold, 40ms);
  EXPECT_EQ(relay.cleanup_interval, 30s);
  EXPECT_EQ(relay.idle_timeout, 2min);
  EXPECT_EQ(relay.max_lifetime, 90min);
  EXPECT_EQ(relay.max_requests_per_connection, 1000u);
  EXPECT_EQ(relay.health_recycle_below, 40u);
  EXPECT_EQ(relay.connect_timeout, 1500ms);
  EXPECT_EQ(relay.acquire_timeout, 2s);
  EXPECT_EQ(relay.validate_after_inactivity, 0ms);
  EXPECT_EQ(relay.circuit_breaker_failure_threshold, 3u);
  EXPECT_EQ(relay.circuit_breaker_cooldown, 10s);
  EXPECT_EQ(relay.reconnect_backoff_base, 50ms);
  EXPECT_EQ(relay.reconnect_backoff_max, 5s);
  EXPECT_EQ(relay.histogram_rotation_interval, 15min);
  EXPECT_EQ(relay.metrics_host, "10.0.0.2");
  EXPECT_TRUE(relay.metrics_allow_insecure_bind);
  EXPECT_EQ(relay.metrics_port, 9191);
  ASSERT_TRUE(relay.metrics_auth_token);
  EXPECT_TRUE(relay.metrics_auth_token->equals("metrics-s3cret")) << "the file's line end is not part of it";
  EXPECT_TRUE(relay.metrics_auth_token->locked() || !memory_protection_status().enabled);
  EXPECT_EQ(relay.certificate_expiry_warning, 30 * 24h);

  const TlsOptions& tls = relay.tls;
  const std::string base = directory.path().string();
  EXPECT_FALSE(tls.use_system_trust_store);
  EXPECT_EQ(tls.ca_file, base + "/certs/ca.pem") << "relative to the config file's folder";
  EXPECT_EQ(tls.ca_directory, "/etc/relay/ca.d");
  EXPECT_EQ(tls.min_version, TlsVersion::tls1_2);
  EXPECT_EQ(tls.tls13_ciphersuites, "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(tls.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_FALSE(tls.session_resumption);
  EXPECT_EQ(tls.pins, (std::vector<std::string>{"sha256//primary", "sha256//backup"}));
  EXPECT_EQ(tls.server_name, "relay.internal");
  EXPECT_EQ(tls.client_certificate_file, base + "/client.pem");
  EXPECT_EQ(tls.client_key_file, base + "/client.key");
  EXPECT_EQ(tls.client_key_passphrase_file, base + "/client.pass") << "read when the key is loaded, not kept";
  EXPECT_FALSE(tls.client_key_passphrase);

  const PoolConfig defaults;
  const PoolConfig& plain = pools[1];
  EXPECT_EQ(plain.host, "::1");
  EXPECT_EQ(plain.metric_namespace, defaults.metric_namespace);
  EXPECT_EQ(plain.max_connections, defaults.max_connections);
  EXPECT_EQ(plain.connect_timeout, defaults.connect_timeout);
  EXPECT_EQ(plain.certificate_expiry_warning, defaults.certificate_expiry_warning);
  EXPECT_FALSE(plain.metrics_auth_token);
  EXPECT_TRUE(plain.tls.use_system_trust_store);
  EXPECT_EQ(plain.tls.min_version, TlsVersion::tls1_3);
  EXPECT_TRUE(plain.tls.pins.empty());
}

struct Mistake {
  std::string name;
  std::string text;
  std::string field;
  std::string problem;  // part of the message
  std::string where;    // "pools.toml:<line>:<column>"
};
void PrintTo(const Mistake& mistake, std::ostream* out) { *out << mistake.name; }

class PoolConfigFileMistakeTest : public PoolConfigFileTest, public ::testing::WithParamInterface<Mistake> {};

TEST_P(PoolConfigFileMistakeTest, IsRefusedNamingTheKeyAndWhereItIs) {
  const Mistake& mistake = GetParam();
  const ConfigError error = refusal(mistake.text);
  EXPECT_EQ(error.field(), mistake.field) << error.what();
  EXPECT_THAT(error.what(), HasSubstr(mistake.problem));
  EXPECT_THAT(error.what(), HasSubstr("(" + mistake.where + ")"));
}

INSTANTIATE_TEST_SUITE_P(
    Mistakes, PoolConfigFileMistakeTest,
    ::testing::Values(
        Mistake{"MisspeltKey", "[[pool]]\nendpoint = \"a:1\"\nmax_conections = 5\n", "pool[0].max_conections",
                "unknown key", "pools.toml:3:1"},
        Mistake{"MisspeltTlsKey", "[[pool]]\nendpoint = \"a:1\"\n[pool.tls]\nca_fil = \"ca.pem\"\n",
                "pool[0].tls.ca_fil", "unknown key", "pools.toml:4:1"},
        Mistake{"StringForAnInteger", "[[pool]]\nendpoint = \"a:1\"\nmax_connections = \"50\"\n",
                "pool[0].max_connections", "must be an integer, not a string", "pools.toml:3:19"},
        Mistake{"NegativeCount", "[[pool]]\nendpoint = \"a:1\"\nmin_idle = -1\n", "pool[0].min_idle",
                "must be from 0 to", "pools.toml:3:12"},
        Mistake{"ScoreAbove100", "[[pool]]\nendpoint = \"a:1\"\nhealth_recycle_below = 101\n",
                "pool[0].health_recycle_below", "must be from 0 to 100, not 101", "pools.toml:3:24"},
        Mistake{"PortOutOfRange", "[[pool]]\nendpoint = \"a:1\"\nmetrics_port = 70000\n", "pool[0].metrics_port",
                "must be from 0 to 65535, not 70000", "pools.toml:3:16"},
        Mistake{"DurationWithoutUnit", "[[pool]]\nendpoint = \"a:1\"\nconnect_timeout = 5\n",
                "pool[0].connect_timeout", "needs a unit: write \"5ms\" or \"5s\"", "pools.toml:3:19"},
        Mistake{"DurationWithAnUnknownUnit", "[[pool]]\nendpoint = \"a:1\"\nidle_timeout = \"5 minutes\"\n",
                "pool[0].idle_timeout", "needs a unit", "pools.toml:3:16"},
        Mistake{"ArrayOfNumbersForPins", "[[pool]]\nendpoint = \"a:1\"\n[pool.tls]\npins = [\"sha256//x\", 7]\n",
                "pool[0].tls.pins[1]", "must be a string, not an integer", "pools.toml:4:22"},
        Mistake{"OldTlsVersion", "[[pool]]\nendpoint = \"a:1\"\n[pool.tls]\nmin_version = \"1.0\"\n",
                "pool[0].tls.min_version", "'1.0' is not one of \"1.3\", \"1.2\"", "pools.toml:4:15"},
        Mistake{"InlinePassphrase", "[[pool]]\nendpoint = \"a:1\"\n[pool.tls]\nclient_key_passphrase = \"hunter2\"\n",
                "pool[0].tls.client_key_passphrase", "name that file in pool[0].tls.client_key_passphrase_file",
                "pools.toml:4:25"},
        Mistake{"InlineToken", "[[pool]]\nendpoint = \"a:1\"\nmetrics_auth_token = \"hunter2\"\n",
                "pool[0].metrics_auth_token", "secrets are not written in the config file", "pools.toml:3:22"},
        Mistake{"MissingSecretFile", "[[pool]]\nendpoint = \"a:1\"\nmetrics_auth_token_file = \"/nonexistent/token\"\n",
                "pool[0].metrics_auth_token_file", "cannot read /nonexistent/token", "pools.toml:3:27"},
        Mistake{"MissingEndpoint", "[[pool]]\nendpoint = \"a:1\"\n[[pool]]\nnamespace = \"b\"\n", "pool[1].endpoint",
                "is required", "pools.toml:3:1"},
        Mistake{"ValidationAcrossKeys", "[[pool]]\nendpoint = \"a:1\"\nmax_connections = 2\nmin_idle = 3\n",
                "pool[0].min_idle", "must not exceed max_connections (2)", "pools.toml:1:1"},
        Mistake{"BadEndpoint", "[[pool]]\nendpoint = \"a\"\n", "pool[0].endpoint", "has no port", "pools.toml:1:1"},
        Mistake{"SamePoolTwice", "[[pool]]\nendpoint = \"a:1\"\n[[pool]]\nendpoint = \"a:1\"\n", "pool[1].namespace",
                "give one of them its own namespace", "pools.toml:3:1"},
        Mistake{"TlsNeitherFalseNorATable", "[[pool]]\nendpoint = \"a:1\"\ntls = \"on\"\n", "pool[0].tls",
                "must be false (plain TCP) or a table of TLS settings, not a string", "pools.toml:3:7"},
        Mistake{"PoolNotAnArrayOfTables", "[pool]\nendpoint = \"a:1\"\n", "pool",
                "write each pool as [[pool]]", "pools.toml:1:1"},
        Mistake{"UnknownTopLevelKey", "listen = 1\n[[pool]]\nendpoint = \"a:1\"\n", "listen", "unknown key",
                "pools.toml:1:1"},
        Mistake{"SyntaxError", "[[pool]]\nendpoint = \"a:1\n", "(syntax)", "Error while parsing string",
                "pools.toml:2:16"}),
    [](const ::testing::TestParamInfo<Mistake>& mistake) { return mistake.param.name; });

TEST_F(PoolConfigFileTest, AFileWithoutPoolsIsRefused) {
  EXPECT_EQ(refusal("# nothing here\n").field(), "pool");
}

TEST_F(PoolConfigFileTest, AnInlineSecretIsWipedFromTheParsedTextToo) {
  // load_pool_config_file wipes the text it read however parsing ends; here the observable part:
  // the refusal's message never carries the secret.
  const ConfigError error = refusal("[[pool]]\nendpoint = \"a:1\"\nmetrics_auth_token = \"hunter2\"\n");
  EXPECT_THAT(error.what(), ::testing::Not(HasSubstr("hunter2")));
}

TEST_F(PoolConfigFileTest, LoadsAFileAndResolvesPathsFromItsFolder) {
  fs::create_directories(directory.path() / "etc");
  const fs::path file = write("etc/pools.toml", "[[pool]]\nendpoint = \"127.0.0.1:8443\"\n[pool.tls]\nca_file = \"ca.pem\"\n");
  const auto pools = load_pool_config_file(file.string());
  ASSERT_EQ(pools.size(), 1u);
  EXPECT_EQ(pools[0].tls.ca_file, (directory.path() / "etc" / "ca.pem").string());

  try {
    load_pool_config_file((directory.path() / "missing.toml").string());
    ADD_FAILURE() << "a missing file must be refused";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.field(), "config file");
    EXPECT_THAT(error.what(), HasSubstr("missing.toml: No such file or directory"));
  }
  EXPECT_THROW(load_pool_config_file(directory.path().string()), ConfigError) << "a directory is no config file";
}

TEST_F(PoolConfigFileTest, ALoadedConfigBuildsAPoolAndItsTlsProblemsNameTheField) {
  boost::asio::io_context io;
  auto pools = parse("[[pool]]\nendpoint = \"127.0.0.1:8443\"\n[pool.tls]\npins = [\"sha256//not-base64\"]\n");
  try {
    SecureChannelPool::create(io.get_executor(), pools.at(0));
    ADD_FAILURE() << "a malformed pin must not build";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.field(), "tls.pins[0]");
  }
  pools = parse("[[pool]]\nendpoint = \"127.0.0.1:8443\"\nmax_connections = 3\n");
  const auto pool = SecureChannelPool::create(io.get_executor(), pools.at(0));
  EXPECT_EQ(pool->config().max_connections, 3u);
}

}  // namespace
}  // namespace securechannel
