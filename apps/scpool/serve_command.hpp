// `scpool serve --config FILE`: the daemon (docs/DAEMON.md). Runs until SIGTERM or SIGINT, then
// drains and exits 0; SIGHUP re-reads the file.
#pragma once

#include <string>

namespace scpool {

struct ServeOptions {
  std::string config_file;     // --config, else $SCPOOL_CONFIG
  std::string monitor_listen;  // --monitor-listen: over [monitor] listen and SCPOOL_MONITOR_LISTEN
  std::string log_format;      // --log-format
  std::string log_level;       // --log-level
};

int run_serve(const ServeOptions& options);

}  // namespace scpool
