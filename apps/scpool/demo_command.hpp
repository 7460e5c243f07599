// `scpool demo`: the daemon on a generated example, with no internet. Starts embedded upstreams
// on loopback (our TLS echo server, and nginx for HTTPS when it is installed) under a
// certificate authority made at start-up, writes a config with a tcp and an http listener,
// runs `scpool serve` on it, drives local traffic through both listeners, prints the monitoring
// URLs and `scpool status`, and stops the daemon with SIGTERM (--forever: traffic in batches
// until Ctrl-C).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace scpool {

struct DemoOptions {
  std::size_t max_connections = 8;  // per pool
  std::size_t clients = 8;          // local clients per listener
  std::size_t exchanges = 20'000;   // round trips per batch and listener, over all clients
  std::size_t message_size = 64;    // bytes per tcp round trip
  bool forever = false;             // repeat batches until Ctrl-C
  // The daemon's monitoring server (/metrics, /healthz, /api/v1/secure-channel/...).
  std::string metrics_host = "127.0.0.1";
  std::uint16_t metrics_port = 0;  // any free port: a demo must not fail on a busy 9090
  std::string metrics_token;       // empty: no authentication; else written to a 0600 token file
};

// Returns the process exit code: 0 when every exchange succeeded and the daemon exited 0.
int run_demo(const DemoOptions& options);

}  // namespace scpool
