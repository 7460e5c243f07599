// Time and randomness as the pool sees them, injectable so that the circuit breaker, the cleanup
// pass and reconnect backoff can be tested without sleeping:
//
//   auto clock = std::make_shared<securechannel::ManualClock>();
//   auto pool = SecureChannelPool::builder("127.0.0.1:8443").with_clock(clock).build(ex).value();
//   clock->advance(std::chrono::seconds(61));   // the breaker's cooldown has now passed
//
// Asio timers (acquire_timeout, connect_timeout) keep real time: they bound waits, not policy.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

namespace securechannel {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;
  virtual ~Clock() = default;
  virtual time_point now() const noexcept = 0;
  // Wall-clock time matching now(), for timestamps shown to people (RFC 3339 in status JSON).
  virtual std::chrono::system_clock::time_point wall_now() const noexcept = 0;
};

// The default: CLOCK_MONOTONIC_COARSE, the same time base as std::chrono::steady_clock read at
// the kernel tick (a few milliseconds) for a fraction of the cost. Pool policy (lifetimes,
// idle timeouts, cooldowns, validate_after_inactivity) needs no finer time, and the pool reads
// the clock on every acquire and release.
class SteadyClock final : public Clock {
 public:
  time_point now() const noexcept override;
  std::chrono::system_clock::time_point wall_now() const noexcept override {
    return std::chrono::system_clock::now();
  }
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  ManualClock();
  time_point now() const noexcept override;
  std::chrono::system_clock::time_point wall_now() const noexcept override;
  void advance(std::chrono::nanoseconds step) noexcept;

 private:
  std::chrono::steady_clock::time_point steady_start_;
  std::chrono::system_clock::time_point wall_start_;
  std::atomic<std::int64_t> elapsed_ns_{0};
};

std::shared_ptr<Clock> default_clock();

// Uniform random numbers in [0, 1), for backoff jitter. Thread-safe.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual double uniform01() noexcept = 0;
};

class DefaultRandomSource final : public RandomSource {
 public:
  DefaultRandomSource();
  double uniform01() noexcept override;

 private:
  std::mutex mutex_;
  std::mt19937_64 engine_;
};

// Returns the values it was given, in order, repeating the last one: deterministic jitter.
class SequenceRandomSource final : public RandomSource {
 public:
  explicit SequenceRandomSource(std::initializer_list<double> values);
  double uniform01() noexcept override;

 private:
  std::mutex mutex_;
  std::vector<double> values_;
  std::size_t next_ = 0;
};

}  // namespace securechannel
