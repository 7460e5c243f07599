// Closed / open / half-open breaker over consecutive connect failures (ARCHITECTURE.md).
//
//   CircuitBreaker breaker(5, std::chrono::seconds(60), clock);
//   if (!breaker.allow_attempt()) return errc::circuit_open;   // fail fast
//   ... connect ...
//   ok ? breaker.record_success() : breaker.record_failure();
//
// Not thread-safe: the pool calls it under its own lock.
#pragma once

#include "securechannel/clock.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace securechannel {

// Values are the `<ns>_circuit_breaker_state` gauge.
enum class CircuitState {
  closed = 0,     // attempts allowed
  half_open = 1,  // cooldown passed; exactly one probe attempt is in flight
  open = 2,       // failing fast until the cooldown has passed
};

std::string_view to_string(CircuitState state) noexcept;

class CircuitBreaker {
 public:
  CircuitBreaker(unsigned failure_threshold, Clock::duration cooldown, std::shared_ptr<Clock> clock);

  // May a connection attempt start now? While open, the first call after the cooldown moves the
  // breaker to half-open and is the probe; other calls are refused until the probe reports.
  bool allow_attempt();
  // Open and inside its cooldown: no attempt would be allowed now. Changes nothing.
  bool failing_fast() const;
  void record_success() noexcept;
  void record_failure();

  CircuitState state() const noexcept { return state_; }
  unsigned consecutive_failures() const noexcept { return consecutive_failures_; }
  std::uint64_t times_opened() const noexcept { return times_opened_; }
  // Wall-clock time of the last change of state; nullopt while it has stayed closed since made.
  std::optional<std::chrono::system_clock::time_point> state_changed_at() const noexcept;

 private:
  void open();
  void enter(CircuitState state) noexcept;

  unsigned failure_threshold_;
  Clock::duration cooldown_;
  std::shared_ptr<Clock> clock_;
  CircuitState state_ = CircuitState::closed;
  unsigned consecutive_failures_ = 0;
  Clock::time_point opened_at_{};
  std::uint64_t times_opened_ = 0;
  std::chrono::system_clock::time_point state_changed_at_{};  // the epoch: never changed
};

}  // namespace securechannel
