// `scpool serve` as a user runs it: a config file, the real binary, real upstreams (our TLS echo
// server behind a tcp listener, nginx behind an http listener), local clients on loopback.
// Start-up summary, traffic through both listener kinds, monitoring, SIGHUP reloads (good and
// bad files), SIGTERM drains in-flight responses and exits 0, and config errors all at once.
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

#include <fstream>
#include <future>
#include <optional>
#include <sstream>
#include <thread>

namespace securechannel {
namespace {

namespace fs = std::filesystem;
namespace sct = securechannel::testing;
using namespace std::chrono_literals;

using demo::port_of;

// The daemon run by these tests: the scpool binary of this build.
class ScpoolServeProcess : public demo::ServeProcess {
 public:
  ScpoolServeProcess(const fs::path& directory, const std::string& config)
      : demo::ServeProcess(SC_SCPOOL_BINARY, directory, config) {}
};

std::string echo_through(const std::string& address, const std::string& message) {
  return sct::echo_through(port_of(address), message);
}

class ScpoolServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    demo::TlsEchoServerOptions echo_options;
    echo_options.certificate_file = leaf.certificate_file;
    echo_options.key_file = leaf.key_file;
    echo = std::make_unique<demo::TlsEchoServer>(echo_options);
  }

  std::string echo_pool(const std::string& extra = "") const {
    return "[[pool]]\nnamespace = \"echo\"\nendpoints = [\"" + echo->endpoint() + "\"]\nmax_connections = 8\n" + extra +
           "[pool.tls]\nsystem_trust_store = false\nca_file = \"" + authority.ca_certificate_file().string() +
           "\"\n[[pool.listener]]\nmode = \"tcp\"\nlisten = \"127.0.0.1:0\"\n";
  }

  std::string nginx_pool(const std::string& endpoint) const {
    return "[[pool]]\nnamespace = \"web\"\nendpoints = [\"" + endpoint +
           "\"]\nmax_connections = 4\n[pool.tls]\nsystem_trust_store = false\nca_file = \"" +
           authority.ca_certificate_file().string() +
           "\"\nalpn = [\"h2\", \"http/1.1\"]\n[[pool.listener]]\nmode = \"http\"\nlisten = \"127.0.0.1:0\"\n";
  }

  static std::string monitor(const std::string& extra = "") {
    return "[monitor]\nlisten = \"127.0.0.1:0\"\n" + extra + "[daemon]\ndrain_grace = \"10s\"\n";
  }

  demo::TemporaryDirectory directory{"securechannel-serve"};
  demo::CertificateAuthority authority = demo::CertificateAuthority::create("serve test CA");
  demo::IssuedCertificate leaf = authority.issue("localhost");
  std::unique_ptr<demo::TlsEchoServer> echo;
};

TEST_F(ScpoolServeTest, CarriesTcpAndHttpTrafficAndStopsCleanly) {
  // nginx is one of the test peers scripts/bootstrap installs: its absence fails, never skips.
  ASSERT_TRUE(demo::NginxServer::available()) << "nginx is not installed (scripts/bootstrap installs it)";
  demo::NginxOptions nginx_options;
  nginx_options.certificate_file = leaf.certificate_file;
  nginx_options.key_file = leaf.key_file;
  demo::NginxServer nginx(nginx_options);

  ScpoolServeProcess serve(directory.path(), monitor() + echo_pool() + nginx_pool(nginx.endpoint()));
  ASSERT_TRUE(serve.started()) << serve.diagnostics();
  const std::string tcp = serve.listener("tcp");
  const std::string http = serve.listener("http");
  ASSERT_FALSE(tcp.empty()) << serve.diagnostics();
  ASSERT_FALSE(http.empty()) << serve.diagnostics();
  ASSERT_FALSE(serve.monitoring_url().empty()) << serve.diagnostics();

  const std::string message(100'000, 'm');
  EXPECT_EQ(echo_through(tcp, message), message) << serve.diagnostics();

  sct::HttpTestConnection local(port_of(http));
  for (int i = 0; i < 3; ++i) {  // keep-alive: one local connection, several requests
    const sct::HttpTestReply reply = local.get("/", {{"Host", "localhost"}});
    EXPECT_EQ(reply.result_int(), 200) << serve.diagnostics();
    EXPECT_EQ(reply.body(), "hello\n");
  }

  sct::HttpTestConnection monitoring(port_of(serve.monitoring_url()));
  const sct::HttpTestReply health = monitoring.get("/healthz");
  EXPECT_EQ(health.result_int(), 200) << health.body();
  const sct::HttpTestReply metrics = monitoring.get("/metrics");
  EXPECT_NE(metrics.body().find("echo_listener_connections_accepted_total"), std::string::npos) << metrics.body();
  EXPECT_NE(metrics.body().find("web_listener_requests_total"), std::string::npos) << metrics.body();

  ASSERT_TRUE(serve.signal(SIGTERM));
  EXPECT_EQ(serve.wait_for_exit(20s), "exited with status 0") << serve.diagnostics();
}

TEST_F(ScpoolServeTest, SigtermLetsAResponseInFlightFinish) {
  // nginx is one of the test peers scripts/bootstrap installs: its absence fails, never skips.
  ASSERT_TRUE(demo::NginxServer::available()) << "nginx is not installed (scripts/bootstrap installs it)";
  demo::NginxOptions nginx_options;
  nginx_options.certificate_file = leaf.certificate_file;
  nginx_options.key_file = leaf.key_file;
  nginx_options.generated_file_bytes = 3000;  // /slow sends it at 1 KiB/s: about 2 s
  demo::NginxServer nginx(nginx_options);
  ScpoolServeProcess serve(directory.path(), monitor() + nginx_pool(nginx.endpoint()));
  ASSERT_TRUE(serve.started()) << serve.diagnostics();

  auto slow = std::async(std::launch::async, [port = port_of(serve.listener("http"))] {
    sct::HttpTestConnection local(port, 20s);
    return local.get("/slow", {{"Host", "localhost"}});
  });
  std::this_thread::sleep_for(500ms);  // the request is on its way; the response takes ~2 s more
  ASSERT_TRUE(serve.signal(SIGTERM));
  const sct::HttpTestReply reply = slow.get();
  EXPECT_EQ(reply.result_int(), 200);
  EXPECT_EQ(reply.body().size(), 3000u) << "a response cut by the stop";
  EXPECT_EQ(serve.wait_for_exit(20s), "exited with status 0") << serve.diagnostics();
}

TEST_F(ScpoolServeTest, SighupAppliesANewCaFileAndKeepsTheOldConfigOnABadOne) {
  const fs::path ca_file = directory.path() / "ca.pem";
  fs::copy_file(authority.ca_certificate_file(), ca_file);
  std::string config = monitor() + echo_pool();
  config.replace(config.find(authority.ca_certificate_file().string()), authority.ca_certificate_file().string().size(),
                 ca_file.string());
  ScpoolServeProcess serve(directory.path(), config);
  ASSERT_TRUE(serve.started()) << serve.diagnostics();
  const std::string tcp = serve.listener("tcp");
  ASSERT_EQ(echo_through(tcp, "before"), "before") << serve.diagnostics();

  // A file with a mistake: refused, named, and the daemon goes on as it was.
  std::ofstream(serve.config_file(), std::ios::trunc) << config << "max_conections = 3\n";
  ASSERT_TRUE(serve.signal(SIGHUP));
  EXPECT_TRUE(serve.wait_for_error_text("reload refused, the running configuration stays")) << serve.diagnostics();
  EXPECT_TRUE(serve.wait_for_error_text("max_conections: unknown key")) << serve.diagnostics();
  EXPECT_EQ(echo_through(tcp, "still"), "still") << serve.diagnostics();

  // Another CA in the CA file: new connections verify against it, and this upstream fails that.
  const demo::CertificateAuthority other = demo::CertificateAuthority::create("another CA");
  fs::copy_file(other.ca_certificate_file(), ca_file, fs::copy_options::overwrite_existing);
  std::ofstream(serve.config_file(), std::ios::trunc) << config;
  ASSERT_TRUE(serve.signal(SIGHUP));
  ASSERT_TRUE(serve.wait_for_error_text("TLS material read again")) << serve.diagnostics();
  EXPECT_EQ(echo_through(tcp, "after"), "") << "a connection verified with the old CA";
  EXPECT_TRUE(serve.wait_for_error_text("certificate")) << serve.diagnostics();

  // And back: the right CA again, and traffic flows again.
  fs::copy_file(authority.ca_certificate_file(), ca_file, fs::copy_options::overwrite_existing);
  ASSERT_TRUE(serve.signal(SIGHUP));
  EXPECT_TRUE(sct::eventually([&] { return echo_through(tcp, "again") == "again"; }, 20s)) << serve.diagnostics();
  ASSERT_TRUE(serve.signal(SIGTERM));
  EXPECT_EQ(serve.wait_for_exit(20s), "exited with status 0") << serve.diagnostics();
}

// A plain pool (tls = false) through SIGHUP: the same file says nothing of TLS material; a file
// that turns TLS on, or HTTP/2 by prior knowledge, has that change refused by name, and the pool
// goes on carrying plain HTTP/1.1. No log line speaks of TLS reloads for it.
TEST_F(ScpoolServeTest, SighupOnAPlainPoolKeepsItPlainAndRefusesAProtocolChange) {
  ASSERT_TRUE(demo::NginxServer::available()) << "nginx is not installed (scripts/bootstrap installs it)";
  demo::NginxOptions nginx_options;
  nginx_options.certificate_file = leaf.certificate_file;
  nginx_options.key_file = leaf.key_file;
  nginx_options.plain = true;
  nginx_options.http2 = false;  // plain HTTP/1.1 (with it, nginx's plain port speaks only h2c)
  demo::NginxServer nginx(nginx_options);
  const auto plain_pool = [&](const std::string& tls_lines) {
    return "[[pool]]\nnamespace = \"web\"\nendpoints = [\"" + nginx.endpoint() + "\"]\n" + tls_lines +
           "[[pool.listener]]\nmode = \"http\"\nlisten = \"127.0.0.1:0\"\n";
  };
  const std::string config = monitor() + plain_pool("tls = false\n");
  ScpoolServeProcess serve(directory.path(), config);
  ASSERT_TRUE(serve.started()) << serve.diagnostics();
  EXPECT_NE(serve.output().find("-> http://" + nginx.endpoint()), std::string::npos) << serve.output();
  const auto get = [&] {
    sct::HttpTestConnection local(port_of(serve.listener("http")));
    return local.get("/", {{"Host", "localhost"}});
  };
  EXPECT_EQ(get().result_int(), 200) << serve.diagnostics();

  ASSERT_TRUE(serve.signal(SIGHUP));
  ASSERT_TRUE(serve.wait_for_error_text("reload: " + serve.config_file().string() + " read again"))
      << serve.diagnostics();
  EXPECT_EQ(serve.errors().find("TLS material"), std::string::npos) << serve.errors();
  EXPECT_EQ(get().result_int(), 200) << serve.diagnostics();

  std::ofstream(serve.config_file(), std::ios::trunc) << monitor() + plain_pool("");  // TLS, the default
  ASSERT_TRUE(serve.signal(SIGHUP));
  EXPECT_TRUE(serve.wait_for_error_text("refused, the plain pool keeps its protocol: tls: a running pool cannot "
                                        "switch between TLS and plain TCP"))
      << serve.diagnostics();
  EXPECT_EQ(get().result_int(), 200) << serve.diagnostics();

  std::ofstream(serve.config_file(), std::ios::trunc)
      << monitor() + plain_pool("tls = false\nhttp2_prior_knowledge = true\n");
  ASSERT_TRUE(serve.signal(SIGHUP));
  EXPECT_TRUE(serve.wait_for_error_text("refused, the plain pool keeps its protocol: http2_prior_knowledge: a "
                                        "running plain pool keeps its protocol"))
      << serve.diagnostics();
  EXPECT_TRUE(serve.wait_for_error_text("read again; some changes were refused")) << serve.diagnostics();
  for (const char* tls_wording : {"TLS reload", "TLS material", "TLS options"}) {
    EXPECT_EQ(serve.errors().find(tls_wording), std::string::npos) << tls_wording << " about a plain pool:\n"
                                                                    << serve.errors();
  }
  EXPECT_EQ(get().result_int(), 200) << serve.diagnostics();
  ASSERT_TRUE(serve.signal(SIGTERM));
  EXPECT_EQ(serve.wait_for_exit(20s), "exited with status 0") << serve.diagnostics();
}

TEST_F(ScpoolServeTest, MonitorServesHttpsAndSighupRenewsItsCertificate) {
  const fs::path certificate = directory.path() / "monitor.pem";
  const fs::path key = directory.path() / "monitor.key";
  const auto install = [&](const std::string& common_name) {
    const demo::IssuedCertificate issued = authority.issue(common_name, {.common_name = common_name});
    fs::copy_file(issued.chain_file, certificate, fs::copy_options::overwrite_existing);
    fs::copy_file(issued.key_file, key, fs::copy_options::overwrite_existing);
  };
  install("monitor-first");
  ScpoolServeProcess serve(directory.path(), monitor("[monitor.tls]\ncertificate_file = \"" + certificate.string() +
                                                     "\"\nkey_file = \"" + key.string() + "\"\n") +
                                                 echo_pool());
  ASSERT_TRUE(serve.started()) << serve.diagnostics();
  const std::string url = serve.monitoring_url();
  ASSERT_TRUE(url.starts_with("https://127.0.0.1:")) << serve.diagnostics();
  EXPECT_NE(serve.output().find("certificate CN=monitor-first, expires "), std::string::npos) << serve.output();

  const std::string ca_file = authority.ca_certificate_file().string();
  const auto health = demo::run_to_completion({SC_SCPOOL_BINARY, "health", "--url", url, "--ca-file", ca_file}, "", 30s);
  EXPECT_EQ(health.exit_code(), 0) << health.description() << "\n" << health.standard_error;

  // The certificate a new connection gets, as openssl s_client shows it.
  const auto presented_subject = [&] {
    const auto client = demo::run_to_completion(
        {"/usr/bin/openssl", "s_client", "-connect", url.substr(std::string_view("https://").size()), "-CAfile", ca_file,
         "-verify_return_error"},
        "", 30s);
    return client.standard_output;
  };
  const std::string first_subject = presented_subject();
  EXPECT_NE(first_subject.find("subject=CN = monitor-first"), std::string::npos) << first_subject;

  install("monitor-second");
  ASSERT_TRUE(serve.signal(SIGHUP));
  ASSERT_TRUE(serve.wait_for_error_text("monitoring server: certificate read again (CN=monitor-second"))
      << serve.diagnostics();
  EXPECT_NE(presented_subject().find("subject=CN = monitor-second"), std::string::npos);

  // Switching to plain HTTP needs a restart: reported, and HTTPS stays.
  std::ofstream(serve.config_file(), std::ios::trunc) << monitor() + echo_pool();
  ASSERT_TRUE(serve.signal(SIGHUP));
  EXPECT_TRUE(serve.wait_for_error_text("monitor.tls")) << serve.diagnostics();
  EXPECT_TRUE(serve.wait_for_error_text("needs a restart")) << serve.diagnostics();
  EXPECT_NE(presented_subject().find("subject=CN = monitor-second"), std::string::npos);

  ASSERT_TRUE(serve.signal(SIGTERM));
  EXPECT_EQ(serve.wait_for_exit(20s), "exited with status 0") << serve.diagnostics();
}

// The value of the first sample of `name` in a Prometheus text page; -1 when there is none.
double gauge_value(const std::string& page, const std::string& name) {
  std::istringstream lines(page);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name, 0) != 0 || line.size() <= name.size() || (line[name.size()] != ' ' && line[name.size()] != '{')) {
      continue;
    }
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

TEST_F(ScpoolServeTest, SighupAppliesNewLimitsLiveAndNamesWhatNeedsARestart) {
  ScpoolServeProcess serve(directory.path(), monitor() + echo_pool());
  ASSERT_TRUE(serve.started()) << serve.diagnostics();
  const std::string tcp = serve.listener("tcp");
  ASSERT_EQ(echo_through(tcp, "before"), "before") << serve.diagnostics();
  const auto metric = [&](const std::string& name) {
    sct::HttpTestConnection monitoring(port_of(serve.monitoring_url()));
    return gauge_value(monitoring.get("/metrics").body(), name);
  };
  EXPECT_EQ(metric("echo_max_connections"), 8);

  // The file ends inside the tcp listener's table: the last line is one of its limits.
  std::string next = monitor() + echo_pool("min_idle = 2\nconnect_timeout = \"3s\"\n") + "idle_timeout = \"5s\"\n";
  next.replace(next.find("max_connections = 8"), 19, "max_connections = 3");
  std::ofstream(serve.config_file(), std::ios::trunc) << next;
  ASSERT_TRUE(serve.signal(SIGHUP));
  EXPECT_TRUE(serve.wait_for_error_text("applied live: pool echo: max_connections 8 -> 3")) << serve.diagnostics();
  EXPECT_TRUE(serve.wait_for_error_text("applied live: pool echo: min_idle 0 -> 2")) << serve.diagnostics();
  EXPECT_TRUE(serve.wait_for_error_text("connect_timeout 5000ms -> 3000ms needs a restart")) << serve.diagnostics();
  EXPECT_TRUE(serve.wait_for_error_text("applied live: pool echo listener[0]: idle_timeout 60000ms -> 5000ms"))
      << serve.diagnostics();
  EXPECT_EQ(metric("echo_max_connections"), 3);
  // min_idle 2 opens the warm connections at once, not at the next cleanup pass.
  EXPECT_TRUE(sct::eventually([&] { return metric("echo_idle_connections") >= 2; }, 20s)) << serve.diagnostics();
  EXPECT_EQ(echo_through(tcp, "after"), "after") << serve.diagnostics();

  // A limit that contradicts another is refused whole, like any mistake in the file.
  std::string wrong = next;
  wrong.replace(wrong.find("min_idle = 2"), 12, "min_idle = 9");
  std::ofstream(serve.config_file(), std::ios::trunc) << wrong;
  ASSERT_TRUE(serve.signal(SIGHUP));
  EXPECT_TRUE(serve.wait_for_error_text("reload refused, the running configuration stays")) << serve.diagnostics();
  EXPECT_TRUE(serve.wait_for_error_text("must not exceed max_connections")) << serve.diagnostics();
  EXPECT_EQ(metric("echo_max_connections"), 3);
  ASSERT_TRUE(serve.signal(SIGTERM));
  EXPECT_EQ(serve.wait_for_exit(20s), "exited with status 0") << serve.diagnostics();
}

// JSON logs: the pool library's own lines (a failed connect) carry the pool and the connection
// as fields, like the daemon's.
TEST_F(ScpoolServeTest, JsonLogLinesNameThePoolAndTheConnection) {
  const std::string pool = echo_pool("min_idle = 1\n");
  echo.reset();  // nothing listens at the endpoint any more: min_idle's connects fail
  ScpoolServeProcess serve(directory.path(), monitor() + "[log]\nformat = \"json\"\n" + pool);
  ASSERT_TRUE(serve.started()) << serve.diagnostics();
  ASSERT_TRUE(serve.wait_for_error_text("connect to ")) << serve.diagnostics();
  std::istringstream lines(serve.errors());
  std::optional<nlohmann::json> connect_line;
  for (std::string line; std::getline(lines, line) && !connect_line;) {
    if (line.find("connect to ") == std::string::npos) continue;
    connect_line = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(connect_line->is_discarded()) << "not one JSON object: " << line;
  }
  ASSERT_TRUE(connect_line) << serve.diagnostics();
  EXPECT_EQ(connect_line->value("pool", ""), "echo") << connect_line->dump();
  EXPECT_GT(connect_line->value("connection_id", 0u), 0u) << connect_line->dump();
  EXPECT_EQ(connect_line->value("level", ""), "warning") << connect_line->dump();
  EXPECT_EQ(connect_line->value("message", "").rfind("connect to 127.0.0.1:", 0), 0u) << connect_line->dump();
}

TEST_F(ScpoolServeTest, EveryConfigMistakeIsReportedAtOnceWithItsLine) {
  std::ofstream(directory.path() / "scpool.toml") << R"([monitor]
listen = "127.0.0.1:0"
[[pool]]
namespace = "relay"
endpoints = ["relay.example:443"]
max_conections = 5
min_idle = "two"
connect_timeout = "5 seconds"
[pool.tls]
ca_file = "missing-ca.pem"
)";
  const demo::CompletedProcess run = demo::run_to_completion(
      {SC_SCPOOL_BINARY, "serve", "--config", (directory.path() / "scpool.toml").string()}, "", 30s);
  EXPECT_EQ(run.exit_code(), 2) << run.description();
  for (const char* expected : {"pool[0].min_idle: must be an integer, not a string", "scpool.toml:7:",
                               "pool[0].connect_timeout:", "scpool.toml:8:", "pool[0].max_conections: unknown key",
                               "scpool.toml:6:"}) {
    EXPECT_NE(run.standard_error.find(expected), std::string::npos) << expected << " in:\n" << run.standard_error;
  }
}

TEST_F(ScpoolServeTest, AMissingCaFileAndABadOverrideAreNamed) {
  std::ofstream(directory.path() / "scpool.toml")
      << "[[pool]]\nnamespace = \"relay\"\nendpoint = \"127.0.0.1:1\"\n[pool.tls]\nca_file = \"missing-ca.pem\"\n";
  const fs::path env = "/usr/bin/env";
  const demo::CompletedProcess run = demo::run_to_completion(
      {env.string(), "SCPOOL_RELAY_MAX_CONNECTIONS=lots", SC_SCPOOL_BINARY, "serve", "--config",
       (directory.path() / "scpool.toml").string()},
      "", 30s);
  EXPECT_EQ(run.exit_code(), 2) << run.description();
  EXPECT_NE(run.standard_error.find("(environment variable SCPOOL_RELAY_MAX_CONNECTIONS)"), std::string::npos)
      << run.standard_error;

  const demo::CompletedProcess missing = demo::run_to_completion(
      {SC_SCPOOL_BINARY, "serve", "--config", (directory.path() / "scpool.toml").string()}, "", 30s);
  EXPECT_EQ(missing.exit_code(), 2) << missing.description();
  EXPECT_NE(missing.standard_error.find("pool[0].tls.ca_file"), std::string::npos) << missing.standard_error;
  EXPECT_NE(missing.standard_error.find("missing-ca.pem"), std::string::npos) << missing.standard_error;
}

}  // namespace
}  // namespace securechannel
