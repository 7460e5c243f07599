// The pool's marks for connections whose health score (pool/health_score.hpp) is below
// `marked_below`: few in a healthy pool, so a list beside the connections, and a checkout that
// finds it empty pays nothing for health. The cleanup pass scores every connection and keeps the
// marks; a release whose round trip stalled lowers a mark until the next pass; checkout takes
// the healthiest of the warmest idle connections.
//
//   marks.stall_us = stall_threshold_us(median_p95_us);           // each pass
//   if (marks.record_pass(connection, score, 25, round_trips) >= 2) recycle(connection);
//   const std::size_t chosen = marks.healthiest(top_of_idle_stack);  // 0: the warmest
//
// Threads: guarded by the pool's lock.
#pragma once

#include "securechannel/detail/pooled_connection.hpp"

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace securechannel::detail {

class HealthMarks {
 public:
  // Scores from here up count as healthy, and as equal to each other: checkout keeps LIFO among
  // them, so the warm set stays small.
  static constexpr int marked_below = 90;
  // Points a stalled round trip takes off a connection's mark until the next pass scores it.
  static constexpr int stall_mark_points = 25;
  // Idle connections from the top of the stack that checkout compares.
  static constexpr std::size_t checkout_candidates = 4;
  // Points a marked connection gets back on a pass when it carried no round trip since the last
  // one (checkout passed it over): it is tried again within a few passes and judged afresh.
  static constexpr int recovery_points = 15;

  bool empty() const noexcept { return marks_.empty(); }

  // 100 for a connection without a mark.
  int score_of(const PooledConnection& connection) const noexcept {
    const Mark* mark = find(connection);
    return mark ? mark->score : 100;
  }

  // The pass's score for the connection, which has carried `round_trips` so far. Returns the
  // passes in a row it scored below `recycle_below` (0 when it did not; never counted with
  // recycle_below 0): a connection that low twice is replaced, whether or not it carried
  // anything in between. One above it that carried nothing since the last pass recovers
  // recovery_points.
  unsigned record_pass(const PooledConnection& connection, int score, unsigned recycle_below,
                       std::uint64_t round_trips) {
    Mark* mark = find(connection);
    const bool low = static_cast<unsigned>(std::max(score, 0)) < recycle_below;
    if (mark && !low && round_trips == mark->round_trips_seen) score = std::max(score, mark->score + recovery_points);
    if (score >= marked_below && !low) {
      if (mark) forget(connection);
      return 0;
    }
    if (!mark) mark = &marks_.emplace_back(Mark{.connection = &connection});
    mark->score = static_cast<std::uint8_t>(std::clamp(score, 0, 100));
    mark->round_trips_seen = round_trips;
    mark->low_passes = low ? static_cast<std::uint8_t>(std::min(mark->low_passes + 1, 255)) : 0;
    return mark->low_passes;
  }

  // A round trip of the lease that just ended was over stall_us.
  void mark_stall(const PooledConnection& connection) {
    Mark* mark = find(connection);
    if (!mark) mark = &marks_.emplace_back(Mark{.connection = &connection, .score = 100, .low_passes = 0});
    mark->score = static_cast<std::uint8_t>(std::max(0, mark->score - stall_mark_points));
  }

  void forget(const PooledConnection& connection) noexcept {
    std::erase_if(marks_, [&](const Mark& mark) { return mark.connection == &connection; });
  }

  // Of `candidates` (the warmest first), the index of the one with the best score; the first
  // among equals (every score from marked_below up is equal).
  std::size_t healthiest(std::span<PooledConnection* const> candidates) const noexcept {
    std::size_t best = 0;
    int best_score = -1;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      const int score = std::min(score_of(*candidates[i]), marked_below);
      if (score > best_score) {
        best = i;
        best_score = score;
      }
    }
    return best;
  }

  // Round trips over this many microseconds are stalls (stall_threshold_us of the pool's median
  // p95 at the last pass); 0 until a pass could tell.
  std::uint32_t stall_us = 0;

 private:
  struct Mark {
    const PooledConnection* connection = nullptr;
    std::uint8_t score = 100;
    std::uint8_t low_passes = 0;        // passes in a row below recycle_below
    std::uint64_t round_trips_seen = 0;  // at the last pass that scored it
  };

  Mark* find(const PooledConnection& connection) noexcept {
    const auto found =
        std::find_if(marks_.begin(), marks_.end(), [&](const Mark& mark) { return mark.connection == &connection; });
    return found == marks_.end() ? nullptr : &*found;
  }
  const Mark* find(const PooledConnection& connection) const noexcept {
    return const_cast<HealthMarks*>(this)->find(connection);
  }

  std::vector<Mark> marks_;
};

}  // namespace securechannel::detail
