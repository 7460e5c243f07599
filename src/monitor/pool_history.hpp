// PoolHistory: the last 15 minutes of one pool's figures, one sample every few seconds, for the
// dashboard's charts. A page opened now shows the quarter of an hour before it, not an empty
// chart that fills while the operator waits.
//
// Thread-safe: the daemon's timer records, monitoring requests read.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

namespace securechannel::monitor {

struct PoolSample {
  std::chrono::system_clock::time_point time;
  double p50_ms = 0;  // of the pool's recent round trips (PoolHistograms::recent_round_trips)
  double p95_ms = 0;
  double p99_ms = 0;
  std::uint64_t requests_total = 0;  // successful acquires so far
  std::uint64_t errors_total = 0;
  std::size_t in_use = 0;
  std::size_t idle = 0;
};

class PoolHistory {
 public:
  static constexpr std::chrono::seconds interval{5};
  static constexpr std::chrono::minutes span{15};

  // Keeps `sample` unless the previous one is less than `interval` old (several callers may
  // offer one); drops what is older than `span`. False when the sample was not kept.
  bool offer(const PoolSample& sample);
  std::vector<PoolSample> samples() const;

 private:
  mutable std::mutex mutex_;
  std::deque<PoolSample> samples_;
};

}  // namespace securechannel::monitor
