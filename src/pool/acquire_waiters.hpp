// AcquireWaiters: the callers waiting for a connection of a SecureChannelPool, oldest first
// (WaiterQueue), the ids that let a cancelled caller leave the line, and the one timer that
// fails them at their deadlines. Callers waiting for their affinity key's connection wait in a
// line of their own (`for_connection`): only that connection's return serves them, and they
// start no connect. The pool's lock guards all but the id counter.
#pragma once

#include "core/waiter_queue.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace securechannel::detail {

// A caller in line: its handler, and the affinity key to bind to the connection it gets.
struct QueuedAcquire {
  SecureChannelPool::AcquireHandler complete;
  std::string affinity_key;
  std::uint64_t connection_id = 0;  // in `for_connection`: the one connection it waits for
};

struct AcquireWaiters : WaiterQueue<QueuedAcquire> {
  explicit AcquireWaiters(const boost::asio::any_io_executor& executor) : timer(executor) {}

  // Taken on the caller's thread, before the pool's lock: atomic.
  std::uint64_t new_id() noexcept { return next_id.fetch_add(1, std::memory_order_relaxed); }

  // Both lines: what max_pending bounds and pending_acquires shows.
  std::size_t everyone() const noexcept { return size() + for_connection.size(); }

  std::optional<TimePoint> earliest_deadline_of_all() const {
    const auto general = earliest_deadline();
    const auto bound = for_connection.earliest_deadline();
    if (!general || !bound) return general ? general : bound;
    return std::min(*general, *bound);
  }

  // The oldest caller waiting for this connection, if any.
  std::optional<Waiter> take_waiting_for(std::uint64_t connection_id) {
    if (for_connection.empty()) return std::nullopt;
    return for_connection.take_first_if(
        [connection_id](const Waiter& waiter) { return waiter.handler.connection_id == connection_id; });
  }

  // Every caller of both lines whose deadline is at or before `now`.
  template <class Take>
  void take_expired(TimePoint now, Take&& take) {
    while (has_expired(now)) take(pop_expired(now));
    while (for_connection.has_expired(now)) take(for_connection.pop_expired(now));
  }

  // Every caller of both lines, the general one first, oldest first.
  template <class Take>
  void take_everyone(Take&& take) {
    take_all(take);
    for_connection.take_all(take);
  }

  WaiterQueue<QueuedAcquire> for_connection;
  std::atomic<std::uint64_t> next_id{1};
  boost::asio::steady_timer timer;
  // When the timer fires; time_point{} when it is not armed.
  std::chrono::steady_clock::time_point timer_at{};
};

}  // namespace securechannel::detail
