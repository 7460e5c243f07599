// scpool: the securechannel command line. For now: `scpool demo`.
#include "demo_command.hpp"

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"scpool - warm, verified TLS connection pools"};
  app.require_subcommand(1);

  scpool::DemoOptions demo;
  CLI::App* demo_command = app.add_subcommand(
      "demo", "Run a pool against an embedded TLS echo upstream on loopback and report what it did");
  demo_command->add_option("--max-connections", demo.max_connections, "Pool size")->check(CLI::Range(1, 10'000));
  demo_command->add_option("--clients", demo.clients, "Concurrent callers")->check(CLI::Range(1, 100'000));
  demo_command->add_option("--exchanges", demo.exchanges, "Round trips per batch")->check(CLI::Range(1, 100'000'000));
  demo_command->add_option("--message-size", demo.message_size, "Bytes per message")->check(CLI::Range(1, 1 << 20));
  demo_command->add_flag("--forever", demo.forever, "Repeat batches until Ctrl-C");
  demo_command->add_option("--metrics-host", demo.metrics_host, "Address of the monitoring endpoints");
  demo_command->add_option("--metrics-port", demo.metrics_port, "Port of the monitoring endpoints (0: any free port)");
  demo_command->add_option("--metrics-token", demo.metrics_token, "X-Auth-Token required by all but /healthz, /readyz");

  CLI11_PARSE(app, argc, argv);
  if (demo_command->parsed()) return scpool::run_demo(demo);
  return 2;
}
