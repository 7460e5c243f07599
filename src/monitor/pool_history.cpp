#include "monitor/pool_history.hpp"

namespace securechannel::monitor {

bool PoolHistory::offer(const PoolSample& sample) {
  std::lock_guard lock(mutex_);
  // A sample a little early (timer jitter) still counts: within a tenth of the interval.
  constexpr auto minimum_gap = std::chrono::milliseconds(interval) * 9 / 10;
  if (!samples_.empty() && sample.time - samples_.back().time < minimum_gap) return false;
  samples_.push_back(sample);
  while (sample.time - samples_.front().time > span) samples_.pop_front();
  return true;
}

std::vector<PoolSample> PoolHistory::samples() const {
  std::lock_guard lock(mutex_);
  return {samples_.begin(), samples_.end()};
}

}  // namespace securechannel::monitor
