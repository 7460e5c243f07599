// WarmPolicy: what a pool keeps ready beyond the connections it has open.
//   - Warm idle connections: the idle ones at the top of the pool's LIFO stack keep their TLS
//     record buffers (SecureChannel::set_warm, about 34 KB each), so that a busy client's
//     connections come and go without reallocating them; those below give them back (cool).
//   - Memory release: once enough connections cooled and the pool is at rest, the freed memory
//     goes back to the OS after a quiet period (the pool arms the timer this holds).
//   - Warm-up pacing: after a connect failure the warm-up that keeps min_idle connections open
//     waits out the reconnect backoff.
// Counts and times only, no connection: the pool's lock guards it, and the pool does the
// cooling, connecting and releasing it decides (tests/unit/warm_policy_test.cpp).
#pragma once

#include "securechannel/clock.hpp"
#include "securechannel/reconnect_backoff.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>

namespace securechannel::detail {

class WarmPolicy {
 public:
  // Enough warm idle connections for a client's requests to come and go, few enough that a pool
  // at rest holds at most this many times ~34 KB beyond each connection's ~15 KB.
  static constexpr std::size_t warm_idle_connections = 8;
  // A memory release is due at rest once this many connections cooled since the last one.
  static constexpr std::size_t memory_release_after_cooling = 32;
  // A pool comes to rest for an instant in the middle of a burst (its last lease back, a waiter
  // about to take it): the release waits until no acquire happened for this long.
  static constexpr std::chrono::milliseconds memory_release_quiet_period{250};

  explicit WarmPolicy(const boost::asio::any_io_executor& executor) : memory_release_timer_(executor) {}

  // How many idle connections, from the top of the stack, stay warm now. While the pool is busy,
  // as many as were leased at once since it was last at rest or since the last maintenance
  // pass: a client whose requests come in batches (all 32 HTTP/1.1 connections released by
  // one batch of responses, leased again by the next) would otherwise cool and re-warm most
  // of them every round. At rest it falls back to warm_idle_connections.
  std::size_t warm_idle_limit() const noexcept { return warm_idle_limit_; }
  // A connection was leased; `leased` are out now.
  void on_leased(std::size_t leased) noexcept { warm_idle_limit_ = std::max(warm_idle_limit_, leased); }
  // A connection became idle with `leased` still out. True when that brought the pool to rest
  // after a busy period raised the limit: the limit is back to warm_idle_connections and the
  // pool cools every idle connection beyond it. Otherwise at most the one that just sank below
  // the warm ones cools.
  bool on_idle_came_to_rest(std::size_t leased) noexcept {
    if (leased != 0 || warm_idle_limit_ <= warm_idle_connections) return false;
    warm_idle_limit_ = warm_idle_connections;
    return true;
  }
  // The maintenance pass judges the busy period over: as many stay warm as are leased now.
  void on_maintenance(std::size_t leased) noexcept { warm_idle_limit_ = std::max(warm_idle_connections, leased); }

  void on_cooled() noexcept { ++cooled_since_memory_release_; }
  // Whether enough cooled for a release, and none is waiting for its quiet period already.
  bool memory_release_due() const noexcept {
    return !memory_release_armed_ && cooled_since_memory_release_ >= memory_release_after_cooling;
  }
  // The pool arms the timer for the quiet period, and disarms it when it fires.
  boost::asio::steady_timer& arm_memory_release() noexcept {
    memory_release_armed_ = true;
    memory_release_timer_.expires_after(memory_release_quiet_period);
    return memory_release_timer_;
  }
  void memory_release_fired() noexcept { memory_release_armed_ = false; }
  void on_memory_released() noexcept { cooled_since_memory_release_ = 0; }
  void stop() { memory_release_timer_.cancel(); }

  // Warm-up pacing. A failed connect puts the next warm-up off by the backoff for the failures
  // in a row; an established one ends the run.
  bool top_up_allowed(Clock::time_point now) const noexcept { return now >= next_top_up_at_; }
  void on_connect_failed(Clock::time_point now, const ReconnectBackoff& backoff) noexcept {
    ++connect_failures_in_a_row_;
    next_top_up_at_ = now + backoff.delay_after(connect_failures_in_a_row_);
  }
  void on_connected() noexcept { connect_failures_in_a_row_ = 0; }
  // Whether a warm-up the caller started is still short of min_idle (it goes on as its
  // connects complete).
  bool topping_up() const noexcept { return topping_up_; }
  void set_topping_up(bool short_of_min_idle) noexcept { topping_up_ = short_of_min_idle; }

 private:
  std::size_t warm_idle_limit_ = warm_idle_connections;
  std::size_t cooled_since_memory_release_ = 0;
  boost::asio::steady_timer memory_release_timer_;
  bool memory_release_armed_ = false;
  unsigned connect_failures_in_a_row_ = 0;
  bool topping_up_ = false;
  Clock::time_point next_top_up_at_{};
};

}  // namespace securechannel::detail
