// scpool: the securechannel command line: `scpool serve` (the daemon), `scpool demo`,
// `scpool request URL`, `scpool check-config FILE`.
#include "check_config_command.hpp"
#include "demo_command.hpp"
#include "monitor_commands.hpp"
#include "request_command.hpp"
#include "serve_command.hpp"

#include <CLI/CLI.hpp>
#include <openssl/crypto.h>
#include <securechannel/affinity.hpp>
#include <securechannel/securechannel.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

int main(int argc, char** argv) {
  // Log lines (the library's warnings) go to stderr: stdout carries what a command prints,
  // e.g. a response body that may be piped on, as curl does.
  spdlog::set_default_logger(spdlog::stderr_color_mt("scpool"));
  CLI::App app{"scpool - warm, verified TLS connection pools"};
  app.require_subcommand(1);
  // The library's version, and the OpenSSL it runs with (a security fix is often the question).
  app.set_version_flag("--version", std::string("scpool ") + sc_version() + " (" + OpenSSL_version(OPENSSL_VERSION) + ")");

  scpool::ServeOptions serve;
  CLI::App* serve_command = app.add_subcommand(
      "serve", "Run the daemon: the pools, sidecar listeners and monitoring server of a config file (docs/DAEMON.md)");
  serve_command->add_option("-c,--config", serve.config_file, "The daemon's TOML file (default: $SCPOOL_CONFIG)");
  serve_command->add_option("--monitor-listen", serve.monitor_listen,
                            "Address of the monitoring server, over [monitor] listen (port 0: any free port)");
  serve_command->add_option("--log-format", serve.log_format, "Log lines on stderr: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  serve_command->add_option("--log-level", serve.log_level, "trace, debug, info, warn, error or off");

  scpool::DemoOptions demo;
  CLI::App* demo_command = app.add_subcommand(
      "demo", "Run scpool serve on a generated example against embedded upstreams on loopback, with traffic");
  demo_command->add_option("--max-connections", demo.max_connections, "Pool size per upstream")->check(CLI::Range(1, 10'000));
  demo_command->add_option("--clients", demo.clients, "Local clients per listener")->check(CLI::Range(1, 1'000));
  demo_command->add_option("--exchanges", demo.exchanges, "Round trips per batch and listener")->check(CLI::Range(1, 100'000'000));
  demo_command->add_option("--message-size", demo.message_size, "Bytes per message")->check(CLI::Range(1, 1 << 20));
  demo_command->add_flag("--forever", demo.forever, "Repeat batches until Ctrl-C");
  demo_command->add_option("--metrics-host", demo.metrics_host, "Address of the monitoring endpoints");
  demo_command->add_option("--metrics-port", demo.metrics_port, "Port of the monitoring endpoints (0: any free port)");
  demo_command->add_option("--metrics-token", demo.metrics_token, "X-Auth-Token required by all but /healthz, /readyz and the dashboard page");

  scpool::RequestOptions request;
  CLI::App* request_command =
      app.add_subcommand("request", "curl-like requests through a pool (HTTPS: HTTP/1.1 or HTTP/2 by ALPN; plain http:// too)");
  request_command->add_option("url", request.url, "https://host[:port]/path, or http:// for a plain upstream")->required();
  request_command->add_option("-X,--request", request.method, "Method (default GET, or POST with -d)");
  request_command->add_option("-H,--header", request.headers, "Extra header 'Name: value' (repeatable)");
  request_command->add_option("-d,--data", request.body, "Request body");
  request_command->add_option("--ca", request.ca_file, "PEM file of CA certificates trusted besides the system store");
  request_command->add_option("--pin", request.pins, "SPKI pin sha256//<base64> (repeatable: backup pins)");
  request_command->add_flag("--http1.1", request.http1_only, "Offer only HTTP/1.1");
  request_command->add_flag("--http2", request.http2_only, "Offer only HTTP/2 (over http://: HTTP/2 with prior knowledge, h2c)");
  request_command->add_option("-n", request.count, "Requests in total")->check(CLI::Range(1, 100'000'000));
  request_command->add_option("-c", request.concurrency, "Requests in flight at once")->check(CLI::Range(1, 10'000));
  // Bounded so the conversion to milliseconds is defined: CLI11 reads "inf" and "1e300" as numbers.
  request_command->add_option("--timeout", request.timeout_seconds, "Seconds per request (0.001 to 1 year)")
      ->check(CLI::Range(0.001, 365.0 * 24 * 3600));
  request_command->add_flag("-i,--include", request.print_headers, "Print the status line and headers too");
  request_command->add_flag("-v,--verbose", request.verbose,
                            "On stderr: the connection, its reuse and the times to connection and first byte");
  request_command->add_option("--affinity", request.affinity_key,
                              "Affinity key: every request over that key's connection (docs/POOL.md)")
      ->check(CLI::Validator(
          [](const std::string& key) {
            return key.size() <= securechannel::max_affinity_key_bytes ? std::string() : "at most 256 bytes";
          },
          "KEY"));
  request_command->add_option("--config", request.config_file,
                              "Pool file (TOML): the settings of its pool for the URL's host:port (docs/CONFIG.md)");

  std::string config_file;
  CLI::App* check_config_command =
      app.add_subcommand("check-config", "Read a pool file and build its pools without connecting (docs/CONFIG.md)");
  check_config_command->add_option("file", config_file, "The TOML pool file")->required();

  scpool::MonitorCommandOptions monitor;
  scpool::add_monitor_client_commands(app, monitor);

  CLI11_PARSE(app, argc, argv);
  if (auto code = scpool::run_monitor_command(app, monitor)) return *code;
  if (serve_command->parsed()) return scpool::run_serve(serve);
  if (demo_command->parsed()) return scpool::run_demo(demo);
  if (request_command->parsed()) return scpool::run_request(request);
  if (check_config_command->parsed()) return scpool::run_check_config(config_file);
  return 2;
}
