// PoolHistory: the last 15 minutes of one pool's figures, one sample every few seconds, for the
// dashboard's charts. A page opened now shows the quarter of an hour before it, not an empty
// chart that fills while the operator waits.
//
// Each sample's latency quantiles are those of the round trips since the previous sample (the
// difference of the pool's cumulative histogram between the two), not of the pool's rotating
// "recent" window, which spans up to two rotation intervals (an hour by default).
//
// Thread-safe: the daemon's timer records, monitoring requests read and record.
#pragma once

#include "securechannel/latency_histogram.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

namespace securechannel::monitor {

struct PoolSample {
  std::chrono::system_clock::time_point time;
  // Round trips since the previous sample (the first: since the pool started), and their
  // quantiles in milliseconds; the quantiles mean nothing when round_trips is 0.
  std::uint64_t round_trips = 0;
  double p50_ms = 0;
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

  // A sample is due at `now`: none yet, or the previous one is at least 0.9 interval old (timer
  // jitter), or the clock went back. Lets a caller skip copying the pool's histogram otherwise.
  bool due(std::chrono::system_clock::time_point now) const;
  // Records `counters` (time and the count fields) with the quantiles of the round trips in
  // `cumulative_round_trips` since the previous offer, if a sample is due; drops samples older
  // than `span`. A clock that went back clears the history (its times would no longer order).
  // False when no sample was due.
  bool offer(PoolSample counters, const HistogramSnapshot& cumulative_round_trips);
  std::vector<PoolSample> samples() const;

 private:
  bool due_locked(std::chrono::system_clock::time_point now) const;

  mutable std::mutex mutex_;
  std::deque<PoolSample> samples_;
  std::optional<HistogramSnapshot> previous_round_trips_;  // 13 KB: the histogram at the last sample
};

}  // namespace securechannel::monitor
