// `scpool demo`: a pool against an embedded TLS echo upstream on loopback, with a certificate
// authority made at start-up. Runs a bounded workload and reports what the pool did.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace scpool {

struct DemoOptions {
  std::size_t max_connections = 8;
  std::size_t clients = 32;        // concurrent callers
  std::size_t exchanges = 20'000;  // round trips per batch, over all callers
  std::size_t message_size = 64;
  bool forever = false;            // repeat batches until Ctrl-C
  // The monitoring endpoints (/metrics, /healthz, /api/v1/secure-channel/...) for the run.
  std::string metrics_host = "127.0.0.1";
  std::uint16_t metrics_port = 0;  // any free port: a demo must not fail on a busy 9090
  std::string metrics_token;       // empty: no authentication
};

// Returns the process exit code.
int run_demo(const DemoOptions& options);

}  // namespace scpool
