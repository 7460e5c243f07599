// WaiterQueue: callers waiting in line, oldest first, each with a deadline and an id by which
// it can leave the line early (its operation was cancelled).
//
//   WaiterQueue<Handler> line;
//   line.push(id, std::move(handler), now, now + timeout);
//   while (line.has_expired(now)) fail(line.pop_expired(now));   // the timer's pass
//   if (auto waiter = line.remove(id)) cancel(std::move(*waiter)); // the caller gave up
//   serve(line.pop_front());                                      // a connection came free
//
// Deadlines usually come in the order the waiters do (one timeout for all), and then expiry
// looks at the front only. A timeout lowered while callers wait (SecureChannelPool::
// update_limits) puts a later waiter's deadline before an earlier one's; from then until the
// line empties, expiry and the earliest deadline scan the line instead, so no waiter waits past
// its own deadline behind one that may wait longer. Not thread-safe: the owner's lock guards it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <list>
#include <optional>
#include <utility>

namespace securechannel::detail {

template <class Handler>
class WaiterQueue {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  struct Waiter {
    std::uint64_t id;  // 0: cannot be removed by id
    Handler handler;
    TimePoint enqueued;
    TimePoint deadline;
  };

  void push(std::uint64_t id, Handler handler, TimePoint enqueued, TimePoint deadline) {
    if (!waiters_.empty() && deadline < waiters_.back().deadline) deadlines_in_order_ = false;
    waiters_.push_back(Waiter{id, std::move(handler), enqueued, deadline});
  }

  // At the head of the line, ahead of everyone: one that waited elsewhere first (a caller whose
  // connection closed while it waited for that one).
  void push_front(std::uint64_t id, Handler handler, TimePoint enqueued, TimePoint deadline) {
    if (!waiters_.empty() && deadline > waiters_.front().deadline) deadlines_in_order_ = false;
    waiters_.push_front(Waiter{id, std::move(handler), enqueued, deadline});
  }

  bool empty() const noexcept { return waiters_.empty(); }
  std::size_t size() const noexcept { return waiters_.size(); }

  // The oldest waiter. Precondition: not empty.
  const Waiter& front() const { return waiters_.front(); }
  Waiter pop_front() { return take(waiters_.begin()); }

  // Takes out the waiter with this id, if it is still in line.
  std::optional<Waiter> remove(std::uint64_t id) {
    if (id == 0) return std::nullopt;
    const auto found = std::find_if(waiters_.begin(), waiters_.end(), [id](const Waiter& w) { return w.id == id; });
    if (found == waiters_.end()) return std::nullopt;
    return take(found);
  }

  // Takes out the oldest waiter `matches` accepts, if any.
  template <class Predicate>
  std::optional<Waiter> take_first_if(Predicate&& matches) {
    const auto found = std::find_if(waiters_.begin(), waiters_.end(), [&](const Waiter& w) { return matches(w); });
    if (found == waiters_.end()) return std::nullopt;
    return take(found);
  }

  // Whether some waiter's deadline is at or before `now`.
  bool has_expired(TimePoint now) const {
    const auto earliest = earliest_deadline();
    return earliest && *earliest <= now;
  }

  // The oldest waiter whose deadline is at or before `now`. Precondition: has_expired(now).
  Waiter pop_expired(TimePoint now) {
    if (deadlines_in_order_) return pop_front();
    return take(std::find_if(waiters_.begin(), waiters_.end(), [now](const Waiter& w) { return w.deadline <= now; }));
  }

  std::optional<TimePoint> earliest_deadline() const {
    if (waiters_.empty()) return std::nullopt;
    if (deadlines_in_order_) return waiters_.front().deadline;
    return std::min_element(waiters_.begin(), waiters_.end(),
                            [](const Waiter& a, const Waiter& b) { return a.deadline < b.deadline; })
        ->deadline;
  }

  // Every waiter, oldest first, handed to `take` and taken out of the line.
  template <class Take>
  void take_all(Take&& take) {
    std::list<Waiter> all;
    all.swap(waiters_);
    deadlines_in_order_ = true;
    for (Waiter& waiter : all) take(std::move(waiter));
  }

 private:
  // Out of the line; an empty line is in deadline order again.
  Waiter take(typename std::list<Waiter>::iterator position) {
    Waiter waiter = std::move(*position);
    waiters_.erase(position);
    if (waiters_.empty()) deadlines_in_order_ = true;
    return waiter;
  }

  // A list: taking a waiter out of the middle moves no other waiter. (Asio 1.81's
  // any_completion_handler, the pool's handler type, breaks when move-assigned: it wraps itself
  // until the stack overflows, which a deque's erase would trigger.)
  std::list<Waiter> waiters_;
  bool deadlines_in_order_ = true;
};

}  // namespace securechannel::detail
