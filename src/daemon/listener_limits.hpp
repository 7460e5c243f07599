// What one sidecar listener allows its local clients (docs/DAEMON.md, "Listeners"). Local
// clients are not trusted to be kind: every buffer they can fill has a byte limit here, and
// every wait on them a deadline.
#pragma once

#include <chrono>
#include <cstddef>

namespace securechannel::daemon {

struct ListenerLimits {
  // Local connections open at once. At the cap the listener stops accepting; more clients wait
  // in the kernel's backlog, as the monitoring server's do.
  std::size_t max_connections = 1024;
  // A local connection with nothing to carry in either direction for this long is closed.
  std::chrono::milliseconds idle_timeout{60'000};
  // TCP listeners: once the local client has sent its FIN (or closed), the upstream's reply is
  // still carried to it, until the upstream has been silent this long; then both close. TLS on a
  // pooled connection cannot pass the FIN on, and an upstream that keeps its connections alive
  // (most do) would otherwise hold the connection until idle_timeout.
  std::chrono::milliseconds half_close_timeout{1'000};
  // HTTP listeners: request line plus header fields, and one request body; larger gets 431 / 413.
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 8 * 1024 * 1024;
  // HTTP listeners: from a request's first byte until its header is complete; then 408.
  std::chrono::milliseconds header_timeout{10'000};
};

}  // namespace securechannel::daemon
