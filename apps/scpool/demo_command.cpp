#include "demo_command.hpp"

#include "demo/certificate_authority.hpp"
#include "demo/child_process.hpp"
#include "demo/loopback_port.hpp"
#include "demo/nginx_server.hpp"
#include "demo/serve_process.hpp"
#include "demo/tls_echo_server.hpp"
#include "demo_traffic.hpp"

#include <fmt/core.h>

#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <exception>
#include <fstream>
#include <memory>
#include <optional>

namespace scpool {
namespace {

namespace demo = securechannel::demo;
using namespace std::chrono_literals;

std::atomic<bool> stop_requested{false};

void request_stop(int) { stop_requested = true; }

std::string self_binary() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

std::string pool_text(const std::string& name, const std::string& endpoint, std::size_t max_connections,
                      const std::string& ca_file, const std::string& listener, const std::string& extra_tls) {
  return fmt::format(R"(
[[pool]]
namespace = "{}"
endpoints = ["{}"]
max_connections = {}
min_idle = {}
[pool.tls]
system_trust_store = false
ca_file = "{}"
{}[[pool.listener]]
mode = "{}"
listen = "127.0.0.1:0"
)",
                     name, endpoint, max_connections, std::min<std::size_t>(2, max_connections), ca_file, extra_tls,
                     listener);
}

// The status table, as `scpool status` prints it to anyone watching the daemon.
void print_status(const demo::ServeProcess& serve, const std::filesystem::path& token_file) {
  std::vector<std::string> arguments = {self_binary(), "status", "--url", serve.monitoring_url()};
  if (!token_file.empty()) {
    arguments.push_back("--token-file");
    arguments.push_back(token_file.string());
  }
  const demo::CompletedProcess status = demo::run_to_completion(arguments, "", 15s);
  fmt::print("\n$ scpool status --url {}\n{}{}", serve.monitoring_url(), status.standard_output, status.standard_error);
}

}  // namespace

int run_demo(const DemoOptions& options) {
  try {
    struct sigaction action{};
    action.sa_handler = request_stop;
    action.sa_flags = SA_RESTART;  // the traffic's blocking reads and writes carry on
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);

    auto authority = demo::CertificateAuthority::create("scpool demo CA");
    const auto leaf = authority.issue("localhost");
    demo::TlsEchoServer echo({.certificate_file = leaf.certificate_file, .key_file = leaf.key_file});
    std::optional<demo::NginxServer> nginx;
    if (demo::NginxServer::available()) {
      nginx.emplace(demo::NginxOptions{.certificate_file = leaf.certificate_file, .key_file = leaf.key_file});
    }
    fmt::print("embedded upstreams (CA made at start-up): TLS echo on {}{}\n", echo.endpoint(),
               nginx ? ", nginx (HTTPS, HTTP/2) on " + nginx->endpoint() : ", no nginx installed: no http listener");

    demo::TemporaryDirectory directory("scpool-demo");
    std::filesystem::path token_file;
    std::string monitor = fmt::format("[monitor]\nlisten = \"{}:{}\"\n", options.metrics_host, options.metrics_port);
    if (!options.metrics_token.empty()) {
      token_file = directory.path() / "monitor.token";
      std::ofstream(token_file) << options.metrics_token << "\n";
      ::chmod(token_file.c_str(), 0600);
      monitor += "token_file = \"monitor.token\"\n";
    }
    const std::string ca_file = authority.ca_certificate_file().string();
    std::string config = monitor + "[log]\nformat = \"text\"\n[daemon]\ndrain_grace = \"5s\"\n" +
                         pool_text("demo_echo", echo.endpoint(), options.max_connections, ca_file, "tcp", "");
    if (nginx) {
      config += pool_text("demo_web", nginx->endpoint(), options.max_connections, ca_file, "http",
                          "alpn = [\"h2\", \"http/1.1\"]\n");
    }
    fmt::print("config {}:{}\n", (directory.path() / "scpool.toml").string(), config);
    std::fflush(stdout);

    demo::ServeProcess serve(self_binary(), directory.path(), config);
    if (!serve.started()) {
      fmt::print(stderr, "scpool demo: scpool serve did not start\n{}\n", serve.diagnostics());
      return 1;
    }
    fmt::print("$ scpool serve --config {}\n{}\n", serve.config_file().string(), serve.output());
    std::fflush(stdout);

    std::size_t failures = 0;
    do {
      TrafficResult tcp = drive_tcp_echo(demo::port_of(serve.listener("tcp")), options.clients, options.exchanges,
                                         options.message_size);
      fmt::print("tcp listener {}: {}\n", serve.listener("tcp"), tcp.summary());
      failures += tcp.failed;
      if (nginx) {
        TrafficResult http = drive_http_gets(demo::port_of(serve.listener("http")), options.clients, options.exchanges, "/");
        fmt::print("http listener {}: {}\n", serve.listener("http"), http.summary());
        failures += http.failed;
      }
      std::fflush(stdout);
    } while (options.forever && !stop_requested);

    print_status(serve, token_file);
    serve.signal(SIGTERM);
    const std::string ended = serve.wait_for_exit(20s);
    fmt::print("\nscpool serve stopped by SIGTERM: {}\n", ended);
    if (ended != "exited with status 0") fmt::print(stderr, "{}\n", serve.diagnostics());
    return failures == 0 && ended == "exited with status 0" ? 0 : 1;
  } catch (const std::exception& failure) {
    fmt::print(stderr, "scpool demo: {}\n", failure.what());
    return 1;
  }
}

}  // namespace scpool
