// Limits changed while the pool runs: SecureChannelPool::update_limits and limits().
#include "securechannel/secure_channel_pool.hpp"

#include "pool/connection_books.hpp"
#include "pool/deferred_actions.hpp"
#include "pool/shutdown_state.hpp"

#include <optional>
#include <string>
#include <utility>

namespace securechannel {

std::optional<ConfigError> SecureChannelPool::update_limits(const PoolLimits& limits) {
  PoolConfig checked = config_;
  apply_limits(limits, checked);
  if (auto problem = validate(checked)) return problem;
  Deferred deferred;
  PoolLimits previous;
  {
    std::lock_guard lock(mutex_);
    if (shutdown_->started) return ConfigError("pool", "is shutting down");
    previous = std::exchange(limits_, limits);
    // Above a lowered max_connections: idle connections go now, coldest first; leased ones as
    // they come back (release()).
    while (books_->live().size() > limits_.max_connections && !books_->idle().empty()) {
      remove_locked(*books_->idle().front(), CloseReason::over_limit, deferred);
    }
    connect_for_waiters_locked(deferred);
    top_up_locked(deferred);
  }
  run(deferred);
  if (previous != limits) {
    const auto ms = [](Milliseconds value) { return std::to_string(value.count()) + "ms"; };
    log(LogLevel::info, 0,
        "limits for " + config_.endpoint + " now max_connections " + std::to_string(limits.max_connections) +
            ", min_idle " + std::to_string(limits.min_idle) + ", max_pending " + std::to_string(limits.max_pending) +
            ", acquire_timeout " + ms(limits.acquire_timeout) + ", idle_timeout " + ms(limits.idle_timeout) +
            ", max_lifetime " + ms(limits.max_lifetime) + ", latency_threshold " + ms(limits.latency_threshold));
  }
  return std::nullopt;
}

PoolLimits SecureChannelPool::limits() const {
  std::lock_guard lock(mutex_);
  return limits_;
}

}  // namespace securechannel
