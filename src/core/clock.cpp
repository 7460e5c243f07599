#include "securechannel/clock.hpp"

#include <time.h>

namespace securechannel {

Clock::time_point SteadyClock::now() const noexcept {
  timespec coarse{};
  if (::clock_gettime(CLOCK_MONOTONIC_COARSE, &coarse) != 0) return std::chrono::steady_clock::now();
  return time_point(std::chrono::duration_cast<duration>(std::chrono::seconds(coarse.tv_sec) +
                                                         std::chrono::nanoseconds(coarse.tv_nsec)));
}

ManualClock::ManualClock()
    : steady_start_(std::chrono::steady_clock::now()), wall_start_(std::chrono::system_clock::now()) {}

Clock::time_point ManualClock::now() const noexcept {
  return steady_start_ + std::chrono::nanoseconds(elapsed_ns_.load(std::memory_order_acquire));
}

std::chrono::system_clock::time_point ManualClock::wall_now() const noexcept {
  return wall_start_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                           std::chrono::nanoseconds(elapsed_ns_.load(std::memory_order_acquire)));
}

void ManualClock::advance(std::chrono::nanoseconds step) noexcept {
  elapsed_ns_.fetch_add(step.count(), std::memory_order_acq_rel);
}

std::shared_ptr<Clock> default_clock() {
  static const auto clock = std::make_shared<SteadyClock>();
  return clock;
}

DefaultRandomSource::DefaultRandomSource() : engine_(std::random_device{}()) {}

double DefaultRandomSource::uniform01() noexcept {
  std::lock_guard lock(mutex_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
}

SequenceRandomSource::SequenceRandomSource(std::initializer_list<double> values) : values_(values) {
  if (values_.empty()) values_.push_back(0.5);
}

double SequenceRandomSource::uniform01() noexcept {
  std::lock_guard lock(mutex_);
  const double value = values_[std::min(next_, values_.size() - 1)];
  if (next_ < values_.size()) ++next_;
  return value;
}

}  // namespace securechannel
