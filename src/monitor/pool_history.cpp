#include "monitor/pool_history.hpp"

namespace securechannel::monitor {

namespace {

// A sample a little early (timer jitter) still counts: within a tenth of the interval.
constexpr auto minimum_gap = std::chrono::milliseconds(PoolHistory::interval) * 9 / 10;

}  // namespace

bool PoolHistory::due(std::chrono::system_clock::time_point now) const {
  std::lock_guard lock(mutex_);
  return due_locked(now);
}

bool PoolHistory::due_locked(std::chrono::system_clock::time_point now) const {
  return samples_.empty() || now < samples_.back().time || now - samples_.back().time >= minimum_gap;
}

bool PoolHistory::offer(PoolSample sample, const HistogramSnapshot& cumulative_round_trips) {
  std::lock_guard lock(mutex_);
  if (!due_locked(sample.time)) return false;
  if (!samples_.empty() && sample.time < samples_.back().time) samples_.clear();
  const HistogramSnapshot since_previous =
      previous_round_trips_ ? cumulative_round_trips.since(*previous_round_trips_) : cumulative_round_trips;
  previous_round_trips_ = cumulative_round_trips;
  sample.round_trips = since_previous.count();
  sample.p50_ms = since_previous.quantile(0.50) / 1'000.0;
  sample.p95_ms = since_previous.quantile(0.95) / 1'000.0;
  sample.p99_ms = since_previous.quantile(0.99) / 1'000.0;
  samples_.push_back(sample);
  while (sample.time - samples_.front().time > span) samples_.pop_front();
  return true;
}

std::vector<PoolSample> PoolHistory::samples() const {
  std::lock_guard lock(mutex_);
  return {samples_.begin(), samples_.end()};
}

}  // namespace securechannel::monitor
