#include "daemon/forward_context.hpp"

#include "daemon/http_forward_session.hpp"
#include "daemon/local_acceptor.hpp"
#include "securechannel/pool_config.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <chrono>
#include <limits>
#include <utility>

namespace securechannel::daemon {
namespace {

// "host" or "host:port" as a Host header carries it; the pool's config has both parts. A group
// of several endpoints serves one site: the first endpoint's name stands for it.
std::string pool_authority(const UpstreamGroup& group) {
  const PoolConfig& config = group.members().front().pool->config();
  const bool v6 = config.host.find(':') != std::string::npos;
  const std::string host = v6 ? "[" + config.host + "]" : config.host;
  // The scheme's default port goes unsaid, as browsers send it.
  return config.port == (config.tls.enabled ? "443" : "80") ? host : host + ":" + config.port;
}

}  // namespace

ForwardContext::ForwardContext(HttpForwardOptions listener_options, std::shared_ptr<UpstreamGroup> group)
    : settings(listener_options),
      upstreams(std::move(group)),
      upstream_authority(listener_options.upstream_authority.empty() ? pool_authority(*upstreams)
                                                                     : listener_options.upstream_authority),
      pool_name(upstreams->name()) {}

void ForwardContext::drain_all() {
  sessions.for_each_alive([](HttpForwardSession& session) { session.drain(); });
}

void ForwardContext::close_all() {
  sessions.for_each_alive([](HttpForwardSession& session) { session.close(); });
}

void ForwardContext::release_slot() {
  if (auto live = acceptor.lock()) live->connection_closed();
}

void ForwardContext::count_response(unsigned status) noexcept {
  constexpr auto relaxed = std::memory_order_relaxed;
  if (status >= 500) {
    responses_5xx.fetch_add(1, relaxed);
  } else if (status >= 400) {
    responses_4xx.fetch_add(1, relaxed);
  } else if (status >= 300) {
    responses_3xx.fetch_add(1, relaxed);
  } else if (status >= 200) {
    responses_2xx.fetch_add(1, relaxed);
  }
}

bool ForwardContext::may_log_upstream_error(std::uint64_t& suppressed) noexcept {
  constexpr std::int64_t interval_ns = 1'000'000'000;
  const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t last = last_upstream_log_ns_.load(std::memory_order_relaxed);
  // Only the thread that moves the mark forward logs; the others count themselves as suppressed.
  if (last != std::numeric_limits<std::int64_t>::min() && now - last < interval_ns) {
    unlogged_upstream_errors_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (!last_upstream_log_ns_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    unlogged_upstream_errors_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  suppressed = unlogged_upstream_errors_.exchange(0, std::memory_order_relaxed);
  return true;
}

}  // namespace securechannel::daemon
