// What a SecureChannelPool's connects have learned about its upstream, and what that decides for
// the next ones: the circuit breaker (whether to try), the backoff (when the warm-up tries
// again), the last failure and why, whether a connection got through since the pool was last
// empty, the reconnect counts carried from closed connections to their replacements, and which
// certificate expiry was warned about. The pool's lock guards it.
#pragma once

#include "securechannel/circuit_breaker.hpp"
#include "securechannel/pool_config.hpp"
#include "securechannel/reconnect_backoff.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace securechannel::detail {

struct ConnectHistory {
  explicit ConnectHistory(const PoolConfig& config)
      : breaker(config.circuit_breaker_failure_threshold, config.circuit_breaker_cooldown, config.clock),
        backoff(config.reconnect_backoff_base, config.reconnect_backoff_max, config.random) {}

  CircuitBreaker breaker;
  ReconnectBackoff backoff;
  ConnectFailure last_failure;
  // A connection was established since the pool was last empty (seed 001 bug #1: it must fall
  // back): a cold pool warms up one connect at a time.
  bool established = false;
  // Reconnect counts of closed connections whose replacement has not come yet.
  std::vector<std::uint32_t> lineage;
  // The notAfter the latest expiry warning was about: one warning per certificate, not per
  // connect.
  std::optional<std::chrono::system_clock::time_point> expiry_warned_for;
};

}  // namespace securechannel::detail
