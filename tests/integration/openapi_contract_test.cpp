// docs/openapi.yaml against the real server, both ways: real pools on our TLS echo server, pools
// whose HttpClients sent real requests to nginx (HTTP/2 and HTTP/1.1), and a real MonitoringServer answer every endpoint with every status the spec describes; the
// responses are recorded and tests/contract/check_openapi.py checks each body against the spec's
// schema, that nothing undescribed was answered, and that nothing described went unexercised.
#include "demo/certificate_authority.hpp"
#include "demo/loopback_port.hpp"
#include "demo/nginx_server.hpp"
#include "demo/tls_echo_server.hpp"
#include "echo_upstream.hpp"
#include "http_client_exchange.hpp"
#include "io_thread.hpp"
#include "pool_exchange.hpp"
#include "securechannel/monitored_pools.hpp"
#include "securechannel/monitoring_server.hpp"
#include "securechannel/securechannel.hpp"
#include "testing/process_info.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#ifndef SC_SOURCE_DIR
#error "SC_SOURCE_DIR must name the source tree (tests/CMakeLists.txt sets it)"
#endif

namespace securechannel {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace http = boost::beast::http;
using boost::asio::ip::tcp;

// Responses the spec describes but this test cannot provoke, passed to the checker's
// --allow-unexercised ("GET /path 503", or a property location "#/components/schemas/X/properties/y").
// Empty: every described response is exercised. Add an item only with a comment saying why.
const std::vector<std::string> not_exercised = {};

// Every path of the spec: the template the spec lists, and the concrete path requested
// ({id} is filled in once a connection id is known).
struct Endpoint {
  std::string path_template;
  bool per_pool;  // answers 404 when no pool matches the pool/endpoint query
};
const std::vector<Endpoint> endpoints = {
    {"/metrics", false},
    {"/status/connections", true},
    {"/healthz", false},
    {"/readyz", false},
    {"/api/v1/secure-channel/status", true},
    {"/api/v1/secure-channel/status/enhanced", false},
    {"/api/v1/secure-channel/health", true},
    {"/api/v1/secure-channel/connections", true},
    {"/api/v1/secure-channel/connections/{id}", true},
    {"/api/v1/secure-channel/stats", true},
    {"/api/v1/secure-channel/metrics", true},
    {"/api/v1/secure-channel/pools", false},
    {"/api/v1/secure-channel/dashboard", false},
};

struct RawReply {
  unsigned status = 0;
  std::string content_type;
  std::string body;
  json headers = json::object();
};

// A plain synchronous HTTP/1.1 client: sends `request` as given (complete or not), reads one
// response. The receive timeout keeps a misbehaving server from hanging the test.
RawReply raw_exchange(std::uint16_t port, const std::string& request) {
  boost::asio::io_context context;
  tcp::socket socket(context);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  const timeval timeout{10, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  boost::system::error_code write_error;  // the server may answer and close before taking it all
  boost::asio::write(socket, boost::asio::buffer(request), write_error);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);  // throws system_error on failure
  RawReply reply;
  reply.status = response.result_int();
  reply.content_type = std::string(response[http::field::content_type]);
  reply.body = response.body();
  for (const auto& field : response) reply.headers[std::string(field.name_string())] = std::string(field.value());
  return reply;
}

std::string plain_get(const std::string& path, const std::string& extra_headers = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers + "\r\n";
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

class OpenApiContractTest : public ::testing::Test {
 protected:

  std::string concrete(const Endpoint& endpoint) const {
    std::string path = endpoint.path_template;
    const auto id = path.find("{id}");
    if (id != std::string::npos) path.replace(id, 4, std::to_string(connection_id));
    return path;
  }

  // Through MonitoredPools::handle, as the server would call it.
  MonitoringResponse record(const std::string& method, const std::string& path_template, const std::string& target) {
    MonitoringResponse response = pools.handle({method, target});
    json headers = json::object();
    for (const auto& [name, value] : response.headers) headers[name] = value;
    exchanges.push_back({{"method", method},
                         {"path", path_template},
                         {"status", response.status},
                         {"content_type", response.content_type},
                         {"body", response.body},
                         {"headers", headers},
                         {"target", target}});
    return response;
  }

  // Through a real MonitoringServer, with the bytes of `request`.
  RawReply record_raw(std::uint16_t port, const std::string& path_template, const std::string& request) {
    RawReply reply = raw_exchange(port, request);
    exchanges.push_back({{"method", request.substr(0, request.find(' '))},
                         {"path", path_template},
                         {"status", reply.status},
                         {"content_type", reply.content_type},
                         {"body", reply.body},
                         {"headers", reply.headers},
                         {"target", "(transport) " + request.substr(0, request.find('\r'))}});
    return reply;
  }

  std::shared_ptr<MonitoringServer> start_server(MonitoringServerOptions options, MonitoringHandler handler) {
    options.host = "127.0.0.1";
    options.port = 0;
    boost::system::error_code error;
    auto monitoring = MonitoringServer::create(io.executor(), std::move(options), std::move(handler), error);
    if (!monitoring) throw std::runtime_error("monitoring server: " + error.message());
    monitoring->start();
    return monitoring;
  }

  // Runs a checker of tests/contract/ with the recorded exchanges; returns its exit status and output.
  static std::pair<int, std::string> run_checker(const std::string& script, const std::string& first_argument,
                                                 const std::filesystem::path& exchanges_file,
                                                 const std::vector<std::string>& options) {
    std::string command = "/usr/bin/python3 " + shell_quote(SC_SOURCE_DIR "/tests/contract/" + script) + " " +
                          shell_quote(first_argument) + " " + shell_quote(exchanges_file.string());
    for (const std::string& option : options) command += " " + shell_quote(option);
    command += " 2>&1";
    std::FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) return {-1, "popen failed for: " + command};
    std::string output;
    char chunk[4096];
    while (const std::size_t got = std::fread(chunk, 1, sizeof chunk, pipe)) output.append(chunk, got);
    const int status = ::pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
  }

  testing::EchoUpstream echo;
  demo::CertificateAuthority authority = demo::CertificateAuthority::create();  // nginx's
  testing::IoThread io;
  MonitoredPools pools;
  std::uint64_t connection_id = 1;
  json exchanges = json::array();
};

TEST_F(OpenApiContractTest, RealResponsesMatchDocsOpenapiYamlBothWays) {
  // 1. No pool monitored yet: probes 503 with `message`, per-pool endpoints 404.
  for (const Endpoint& endpoint : endpoints) {
    const MonitoringResponse response = record("GET", endpoint.path_template, concrete(endpoint));
    if (endpoint.per_pool) {
      EXPECT_EQ(response.status, 404u) << endpoint.path_template;
    }
  }
  EXPECT_EQ(record("GET", "/healthz", "/healthz").status, 503u);

  // 2. One healthy pool with traffic: three connections with a round trip each, one of them leased now.
  auto relay = echo.builder_for(echo.server.endpoint()).with_namespace("relay").build(io.executor());
  std::string problem;
  ASSERT_TRUE(pools.add(relay, problem)) << problem;
  {
    std::vector<Lease> leases;
    for (int i = 0; i < 3; ++i) leases.push_back(testing::acquire(*relay));
    for (Lease& lease : leases) ASSERT_EQ(testing::echo_exchange(lease, "ping"), "ping");
  }
  Lease held = testing::acquire(*relay);
  ASSERT_EQ(testing::echo_exchange(held, "pong"), "pong");
  const json list = json::parse(pools.handle({"GET", "/api/v1/secure-channel/connections"}).body);
  ASSERT_EQ(list["count"], 3);
  connection_id = list["connections"][2]["connection_id"].get<std::uint64_t>();

  const std::string select = "?pool=relay&endpoint=" + echo.server.endpoint();
  for (const Endpoint& endpoint : endpoints) {
    const std::string path = concrete(endpoint);
    EXPECT_EQ(record("GET", endpoint.path_template, path).status, 200u) << path;
    EXPECT_EQ(record("GET", endpoint.path_template, path + select).status, 200u) << path + select;
    EXPECT_EQ(record("POST", endpoint.path_template, path).status, 405u) << path;
    EXPECT_EQ(record("GET", endpoint.path_template, path + "?pool=%zz").status, 400u) << path;
    if (endpoint.per_pool) {
      EXPECT_EQ(record("GET", endpoint.path_template, path + "?pool=nope").status, 404u) << path;
      EXPECT_EQ(record("GET", endpoint.path_template, path + "?endpoint=127.0.0.1:1").status, 404u) << path;
    }
  }
  const std::string by_id = "/api/v1/secure-channel/connections/{id}";
  EXPECT_EQ(record("GET", by_id, "/api/v1/secure-channel/connections/999999").status, 404u);
  EXPECT_EQ(record("GET", by_id, "/api/v1/secure-channel/connections/abc").status, 400u);
  EXPECT_EQ(record("GET", by_id, "/api/v1/secure-channel/connections/-1").status, 400u);
  const std::string connections = "/api/v1/secure-channel/connections";
  EXPECT_EQ(record("GET", connections, connections + "?sort=leases&order=desc&offset=1&limit=2").status, 200u);
  EXPECT_EQ(record("GET", connections, connections + "?sort=nope").status, 400u);
  EXPECT_EQ(record("GET", connections, connections + "?limit=0").status, 400u);
  EXPECT_EQ(record("GET", "/no/such/endpoint", "/no/such/endpoint").status, 404u);
  EXPECT_EQ(record("DELETE", "/api/v1/secure-channel/nope", "/api/v1/secure-channel/nope").status, 404u);

  // 2b. Pools with an exported HttpClient that sent real requests to nginx, one per protocol:
  // their status and stats carry the `http` object; the echo pool's do not (no client, no zeros).
  ASSERT_TRUE(demo::NginxServer::available()) << "nginx is not installed (scripts/bootstrap installs it)";
  const demo::IssuedCertificate nginx_leaf = authority.issue("localhost");
  demo::NginxServer nginx({.certificate_file = nginx_leaf.certificate_file, .key_file = nginx_leaf.key_file});
  std::vector<std::shared_ptr<HttpClient>> clients;
  for (const auto& [name, alpn] : {std::pair{"web_h2", "h2"}, std::pair{"web_http1", "http/1.1"}}) {
    auto pool = PoolBuilder(nginx.endpoint())
                    .with_namespace(name)
                    .with_system_trust_store(false)
                    .with_ca_file(authority.ca_certificate_file().string())
                    .with_alpn({alpn})
                    .build(io.executor());
    ASSERT_TRUE(pools.add(pool, problem)) << problem;
    auto client = std::make_shared<HttpClient>(pool);
    ASSERT_TRUE(pools.export_http_client(client));
    EXPECT_FALSE(pools.export_http_client(client)) << "a client is exported once";
    for (int i = 0; i < 3; ++i) {
      const testing::HttpOutcome outcome = testing::send_request(*client, testing::make_request(http::verb::get, "/")).get();
      ASSERT_FALSE(outcome.error) << name << ": " << outcome.error.message();
    }
    const std::string query = std::string("?pool=") + name;
    for (const std::string path : {"/status/connections", "/api/v1/secure-channel/status", "/api/v1/secure-channel/stats"}) {
      const MonitoringResponse response = record("GET", path, path + query);
      ASSERT_EQ(response.status, 200u) << path + query;
      const json body = json::parse(response.body);
      ASSERT_TRUE(body.contains("http")) << body.dump();
      EXPECT_EQ(body["http"]["protocol"], alpn);
      EXPECT_EQ(body["http"]["requests"], 3);
      EXPECT_EQ(body["http"]["requests_on_reused_connections"], 2);
      EXPECT_EQ(body["http"]["http2_connections"].size(), std::string(alpn) == "h2" ? 1u : 0u);
    }
    clients.push_back(std::move(client));
  }
  for (const std::string path : {"/api/v1/secure-channel/status?pool=relay", "/api/v1/secure-channel/stats?pool=relay"}) {
    EXPECT_FALSE(json::parse(pools.handle({"GET", path}).body).contains("http")) << path;
  }

  // 3. A second pool whose upstream is down: its breaker opens, health and readiness turn 503.
  const std::uint16_t closed_port = demo::pick_free_tcp_port();
  auto backup = echo.builder_for("127.0.0.1:" + std::to_string(closed_port))
                    .with_namespace("backup")
                    .with_circuit_breaker_failure_threshold(2)
                    .build(io.executor());
  ASSERT_TRUE(pools.add(backup, problem)) << problem;
  EXPECT_EQ(testing::acquire_error(*backup), make_error_code(errc::connect_refused));
  EXPECT_EQ(record("GET", "/api/v1/secure-channel/health", "/api/v1/secure-channel/health?pool=backup").status, 503u);
  EXPECT_EQ(testing::acquire_error(*backup), make_error_code(errc::connect_refused));
  for (const std::string path : {"/healthz", "/readyz"}) EXPECT_EQ(record("GET", path, path).status, 503u) << path;
  for (const Endpoint& endpoint : endpoints) {
    if (endpoint.path_template.find("{id}") != std::string::npos) continue;  // backup has no connection
    const std::string path = concrete(endpoint) + "?pool=backup";
    const unsigned expected = endpoint.path_template.ends_with("health") || endpoint.path_template.ends_with("z") ? 503 : 200;
    EXPECT_EQ(record("GET", endpoint.path_template, path).status, expected) << path;
  }
  {
    const json health = json::parse(pools.handle({"GET", "/api/v1/secure-channel/health?pool=backup"}).body);
    EXPECT_EQ(health["circuit_breaker"], "open");
    EXPECT_NE(health.value("last_connect_error", "").find("connect_refused"), std::string::npos) << health.dump();
  }

  // 4. The transport's own answers, from real MonitoringServers over real sockets.
  MonitoringServerOptions guarded;
  guarded.auth_token = make_shared_secret("contract-test-token");
  guarded.unauthenticated_paths = {};  // probes too, to exercise their documented 401
  guarded.read_timeout = 300ms;
  guarded.max_header_bytes = 1024;
  guarded.auth_failures_allowed = 0;  // every wrong token here is a 401; the 429 has its own server below
  auto authenticated = start_server(guarded, [this](const MonitoringRequest& r) { return pools.handle(r); });
  const std::string token = "X-Auth-Token: contract-test-token\r\n";
  for (const Endpoint& endpoint : endpoints) {
    const std::string path = concrete(endpoint);
    const std::uint16_t port = authenticated->port();
    EXPECT_EQ(record_raw(port, endpoint.path_template, plain_get(path, "Connection: close\r\n")).status, 401u) << path;
    EXPECT_EQ(record_raw(port, endpoint.path_template, plain_get(path, "X-Auth-Token: wrong\r\nConnection: close\r\n")).status,
              401u);
    const unsigned via_transport = record_raw(port, endpoint.path_template, plain_get(path, token + "Connection: close\r\n")).status;
    EXPECT_TRUE(via_transport == 200u || via_transport == 503u) << path << ": " << via_transport;
    // Header never completed: 408 after read_timeout.
    EXPECT_EQ(record_raw(port, endpoint.path_template, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n").status, 408u)
        << path;
    EXPECT_EQ(record_raw(port, endpoint.path_template,
                         plain_get(path, token + "X-Padding: " + std::string(2000, 'p') + "\r\n"))
                  .status,
              431u)
        << path;
    EXPECT_EQ(record_raw(port, endpoint.path_template,
                         "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + token + "Content-Length: 2\r\n\r\nhi")
                  .status,
              400u)
        << path;
  }
  authenticated->stop();

  // An address over its allowance of wrong tokens: 429 with Retry-After (the first try is a 401).
  MonitoringServerOptions strict = guarded;
  strict.auth_failures_allowed = 1;
  strict.auth_failure_interval = std::chrono::minutes(1);
  auto limited = start_server(strict, [this](const MonitoringRequest& r) { return pools.handle(r); });
  const std::string wrong = "X-Auth-Token: wrong\r\nConnection: close\r\n";
  (void)record_raw(limited->port(), endpoints.front().path_template, plain_get(concrete(endpoints.front()), wrong));
  for (const Endpoint& endpoint : endpoints) {
    EXPECT_EQ(record_raw(limited->port(), endpoint.path_template, plain_get(concrete(endpoint), wrong)).status, 429u)
        << endpoint.path_template;
  }
  limited->stop();

  // A handler that fails: 500 from the transport (the handler is a stand-in; the answer is the server's).
  auto failing = start_server({}, [](const MonitoringRequest&) -> MonitoringResponse {
    throw std::runtime_error("deliberate handler failure");
  });
  for (const Endpoint& endpoint : endpoints) {
    EXPECT_EQ(record_raw(failing->port(), endpoint.path_template, plain_get(concrete(endpoint), "Connection: close\r\n"))
                  .status,
              500u)
        << endpoint.path_template;
  }
  failing->stop();

  // 5. The checker.
  const std::filesystem::path file = std::filesystem::temp_directory_path() /
                                     ("openapi_contract_exchanges_" + std::to_string(::getpid()) + ".json");
  std::ofstream(file) << exchanges.dump(1);
  std::vector<std::string> allowed;
  for (const std::string& item : not_exercised) allowed.insert(allowed.end(), {"--allow-unexercised", item});
  const auto [spec_status, spec_output] = run_checker("check_openapi.py", SC_SOURCE_DIR "/docs/openapi.yaml", file, allowed);
  EXPECT_EQ(spec_status, 0) << spec_output << "\n(recorded exchanges kept in " << file << ")";

  // 6. The golden bodies the Go module's tests decode (tests/golden/): the same fields as the
  // real responses. SC_WRITE_GOLDEN=1 rewrites them from these responses instead.
  const bool write_golden = std::getenv("SC_WRITE_GOLDEN") != nullptr;
  const auto [golden_status, golden_output] =
      run_checker("check_golden.py", SC_SOURCE_DIR "/tests/golden", file,
                  write_golden ? std::vector<std::string>{"--write"} : std::vector<std::string>{});
  EXPECT_EQ(golden_status, 0) << golden_output << "\n(recorded exchanges kept in " << file << ")";
  if (spec_status == 0 && golden_status == 0) std::filesystem::remove(file);
}

}  // namespace
}  // namespace securechannel
