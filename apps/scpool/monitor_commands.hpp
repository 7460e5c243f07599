// The monitoring client in scpool: `scpool status | health | connections [ID] | stats |
// endpoints`, which ask a running monitoring server (MonitoringServer with MonitoredPools,
// docs/MONITORING.md) over HTTP and print readable tables, or the JSON as received (--json).
//
//   scpool::MonitorCommandOptions monitor;
//   scpool::add_monitor_client_commands(app, monitor);      // before CLI11_PARSE
//   ...
//   if (auto code = scpool::run_monitor_command(app, monitor)) return *code;
//
// Exit codes: 0 healthy, 1 unhealthy (a pool is not healthy), 2 the server could not be reached,
// refused the token (401) or gave an answer that is not what it should be; the reason goes to
// stderr as one line ("scpool status: cannot reach http://127.0.0.1:9090: Connection refused").
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace scpool {

struct MonitorCommandOptions {
  std::string url = "http://127.0.0.1:9090";
  std::string token_file;
  std::string ca_file;  // https: the CAs to trust (default: the system's)        // the X-Auth-Token, read from a file: never on the command line
  bool json = false;             // the JSON as received, pretty-printed
  double watch_seconds = 0;      // > 0: redraw every so often until Ctrl-C
  double timeout_seconds = 5;    // per request
  std::string pool;              // namespace of the pool to report on (connections, stats)
  std::string connection_id;     // connections ID
};

// Registers the five subcommands on `app`; every one of them writes into `options`.
void add_monitor_client_commands(CLI::App& app, MonitorCommandOptions& options);
// Runs whichever of them was parsed and returns its exit code; nullopt when none was.
std::optional<int> run_monitor_command(const CLI::App& app, const MonitorCommandOptions& options);

}  // namespace scpool
