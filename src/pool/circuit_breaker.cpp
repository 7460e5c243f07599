#include "securechannel/circuit_breaker.hpp"

namespace securechannel {

std::string_view to_string(CircuitState state) noexcept {
  switch (state) {
    case CircuitState::closed: return "closed";
    case CircuitState::half_open: return "half_open";
    case CircuitState::open: return "open";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(unsigned failure_threshold, Clock::duration cooldown, std::shared_ptr<Clock> clock)
    : failure_threshold_(failure_threshold), cooldown_(cooldown), clock_(std::move(clock)) {}

bool CircuitBreaker::allow_attempt() {
  switch (state_) {
    case CircuitState::closed: return true;
    case CircuitState::half_open: return false;  // the probe is still out
    case CircuitState::open:
      if (clock_->now() - opened_at_ < cooldown_) return false;
      enter(CircuitState::half_open);
      return true;
  }
  return false;
}

bool CircuitBreaker::failing_fast() const {
  return state_ == CircuitState::open && clock_->now() - opened_at_ < cooldown_;
}

void CircuitBreaker::record_success() noexcept {
  if (state_ != CircuitState::closed) enter(CircuitState::closed);
  consecutive_failures_ = 0;
}

void CircuitBreaker::record_failure() {
  ++consecutive_failures_;
  if (state_ == CircuitState::half_open || (state_ == CircuitState::closed && consecutive_failures_ >= failure_threshold_)) {
    open();
  }
}

void CircuitBreaker::open() {
  enter(CircuitState::open);
  opened_at_ = clock_->now();
  ++times_opened_;
}

void CircuitBreaker::enter(CircuitState state) noexcept {
  state_ = state;
  state_changed_at_ = clock_->wall_now();
}

std::optional<std::chrono::system_clock::time_point> CircuitBreaker::state_changed_at() const noexcept {
  if (state_changed_at_ == std::chrono::system_clock::time_point{}) return std::nullopt;
  return state_changed_at_;
}

}  // namespace securechannel
