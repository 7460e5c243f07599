// AcquireWaiters: the callers waiting for a connection of a SecureChannelPool, oldest first
// (WaiterQueue), the ids that let a cancelled caller leave the line, and the one timer that
// fails them at their deadlines. The pool's lock guards all but the id counter.
#pragma once

#include "core/waiter_queue.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>

namespace securechannel::detail {

struct AcquireWaiters : WaiterQueue<SecureChannelPool::AcquireHandler> {
  explicit AcquireWaiters(const boost::asio::any_io_executor& executor) : timer(executor) {}

  // Taken on the caller's thread, before the pool's lock: atomic.
  std::uint64_t new_id() noexcept { return next_id.fetch_add(1, std::memory_order_relaxed); }

  std::atomic<std::uint64_t> next_id{1};
  boost::asio::steady_timer timer;
  // When the timer fires; time_point{} when it is not armed.
  std::chrono::steady_clock::time_point timer_at{};
};

}  // namespace securechannel::detail
