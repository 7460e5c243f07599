// `scpool demo`: a pool against an embedded TLS echo upstream on loopback, with a certificate
// authority made at start-up. Runs a bounded workload and reports what the pool did.
#pragma once

#include <cstddef>

namespace scpool {

struct DemoOptions {
  std::size_t max_connections = 8;
  std::size_t clients = 32;        // concurrent callers
  std::size_t exchanges = 20'000;  // round trips per batch, over all callers
  std::size_t message_size = 64;
  bool forever = false;            // repeat batches until Ctrl-C
};

// Returns the process exit code.
int run_demo(const DemoOptions& options);

}  // namespace scpool
