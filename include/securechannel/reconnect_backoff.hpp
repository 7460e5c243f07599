// Exponential backoff with full jitter for background reconnects: the n-th consecutive failure
// waits uniform(0, min(max, base * 2^n)), so that many pools losing one upstream at once do not
// come back in lock-step (the "thundering herd").
//
//   ReconnectBackoff backoff(100ms, 30s, random);
//   auto wait = backoff.delay_after(consecutive_failures);
#pragma once

#include "securechannel/clock.hpp"

#include <chrono>
#include <memory>

namespace securechannel {

class ReconnectBackoff {
 public:
  ReconnectBackoff(std::chrono::milliseconds base, std::chrono::milliseconds max, std::shared_ptr<RandomSource> random);

  // The ceiling for the given number of consecutive failures (>= 1), before jitter.
  std::chrono::milliseconds ceiling(unsigned failures) const noexcept;
  // A random delay in [0, ceiling(failures)].
  std::chrono::milliseconds delay_after(unsigned failures) const noexcept;

 private:
  std::chrono::milliseconds base_;
  std::chrono::milliseconds max_;
  std::shared_ptr<RandomSource> random_;
};

}  // namespace securechannel
