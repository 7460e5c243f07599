// What a SecureChannelPool's connects have learned about its upstream: the last failure and why,
// whether a connection got through since the pool was last empty, the reconnect counts carried
// from closed connections to their replacements, and which certificate expiry was warned
// about. The pool's lock guards it.
#pragma once

#include "securechannel/secure_channel_pool.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace securechannel::detail {

struct ConnectHistory {
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
