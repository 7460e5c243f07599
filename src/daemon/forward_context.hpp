// ForwardContext: what the connections of one http listener share: its settings (replaced by a
// reload for connections accepted after it), the upstream group, the open sessions (so that a
// drain reaches them), the response counters and the pacing of upstream-error log lines.
#pragma once

#include "core/weak_registry.hpp"
#include "daemon/http_forward_listener.hpp"
#include "daemon/live_settings.hpp"
#include "daemon/upstream_group.hpp"

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

namespace securechannel::daemon {

class HttpForwardSession;

// What the connections of one listener share. Lives as long as the listener or its last connection.
struct ForwardContext {
  ForwardContext(HttpForwardOptions listener_options, std::shared_ptr<UpstreamGroup> group);

  // Calls drain() or close() on every open session.
  void drain_all();
  void close_all();

  // A session's socket closed: its slot is free. Tells the acceptor, which resumes accepting
  // (or finishes a drain).
  void release_slot();
  void count_response(unsigned status) noexcept;
  // At most one warning a second for failed upstream exchanges: a down upstream fails every
  // request, and thousands of identical lines a second would bury everything else. Returns
  // whether to log now, and in `suppressed` how many failures went unlogged since the last line.
  bool may_log_upstream_error(std::uint64_t& suppressed) noexcept;

  // Limits and timeouts; a reload replaces them for connections accepted after it.
  LiveSettings<HttpForwardOptions> settings;
  const std::shared_ptr<UpstreamGroup> upstreams;
  const std::string upstream_authority;  // the options' upstream_authority or the first endpoint
  const std::string pool_name;           // the pool's metric namespace, for the log
  std::weak_ptr<LocalAcceptor> acceptor;  // set before anything is accepted
  // Each session adds itself when accepted and removes itself when destroyed.
  detail::WeakRegistry<HttpForwardSession> sessions;

  std::atomic<std::uint64_t> connections_accepted{0};  // numbers the connections for the log
  std::atomic<std::uint64_t> retries{0};  // idempotent requests sent again to another endpoint
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> responses_2xx{0};
  std::atomic<std::uint64_t> responses_3xx{0};
  std::atomic<std::uint64_t> responses_4xx{0};
  std::atomic<std::uint64_t> responses_5xx{0};
  std::atomic<std::uint64_t> upstream_errors{0};
  std::atomic<std::uint64_t> rejected{0};

 private:
  std::atomic<std::int64_t> last_upstream_log_ns_{std::numeric_limits<std::int64_t>::min()};
  std::atomic<std::uint64_t> unlogged_upstream_errors_{0};
};

}  // namespace securechannel::daemon
