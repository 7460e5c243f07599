// The general line of callers waiting for a connection: joining it with a deadline, leaving it
// when a caller cancels, the timer that fails those whose deadline passed, and failing the whole
// line at once when the circuit opens. Callers waiting for their affinity key's connection are
// in pool_affinity.cpp; shutdown fails both lines itself (pool_maintenance.cpp).
#include "securechannel/secure_channel_pool.hpp"

#include "core/deadline.hpp"
#include "pool/acquire_waiters.hpp"
#include "pool/deferred_actions.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>

namespace securechannel {

using boost::system::error_code;

void SecureChannelPool::fail_waiters_locked(errc reason, Deferred& deferred) {
  // The general line only: a caller waiting for its key's connection waits for a connection
  // that is up, and its deadline, or that connection's close, ends the wait.
  waiters_->take_all([&](auto&& waiter) {
    if (reason == errc::circuit_open) ++counters_.circuit_open_rejections;
    deferred.complete(std::move(waiter.handler.complete), reason);
  });
}

void SecureChannelPool::enqueue_waiter_locked(std::uint64_t id, AcquireHandler handler, std::string affinity_key) {
  const auto now = std::chrono::steady_clock::now();
  waiters_->push(id, detail::QueuedAcquire{std::move(handler), std::move(affinity_key)}, now,
                 detail::deadline_after(now, limits_.acquire_timeout));
  arm_waiter_timer_locked();
}

std::uint64_t SecureChannelPool::watch_cancellation(AcquireHandler& handler) {
  boost::asio::cancellation_slot slot = boost::asio::get_associated_cancellation_slot(handler);
  if (!slot.is_connected()) return 0;
  const std::uint64_t id = waiters_->new_id();
  // Assigned before the acquire can complete, on the caller's thread (where it emits). Never
  // cleared: an emit after the caller was served finds no waiter with this id and does nothing.
  slot.assign([weak = weak_from_this(), id](boost::asio::cancellation_type type) {
    if (type == boost::asio::cancellation_type::none) return;
    if (auto self = weak.lock()) self->cancel_waiter(id);
  });
  return id;
}

void SecureChannelPool::cancel_waiter(std::uint64_t id) {
  Deferred deferred;
  {
    std::lock_guard lock(mutex_);
    auto waiter = waiters_->remove(id);
    if (!waiter) waiter = waiters_->for_connection.remove(id);
    if (!waiter) return;
    ++counters_.acquires_cancelled;
    deferred.complete(std::move(waiter->handler.complete), boost::asio::error::operation_aborted);
    // Its place in line may have been all a connect on the way was for: the connect goes on and
    // its connection joins the idle ones (or the next waiter).
  }
  run(deferred);
}

void SecureChannelPool::arm_waiter_timer_locked() {
  const auto earliest = waiters_->earliest_deadline_of_all();
  if (!earliest) return;
  // Armed already for that time or earlier: an early wake-up re-arms for what is left.
  if (waiters_->timer_at != std::chrono::steady_clock::time_point{} && waiters_->timer_at <= *earliest) return;
  waiters_->timer_at = *earliest;
  waiters_->timer.expires_at(*earliest);  // cancels a later wait, whose handler then does nothing
  waiters_->timer.async_wait([weak = weak_from_this(), at = *earliest](error_code error) {
    if (auto self = weak.lock()) self->on_waiter_timer(error, at);
  });
}

void SecureChannelPool::on_waiter_timer(error_code error, std::chrono::steady_clock::time_point armed_at) {
  if (error == boost::asio::error::operation_aborted) return;  // re-armed earlier, or shutdown
  Deferred deferred;
  {
    std::lock_guard lock(mutex_);
    if (armed_at != waiters_->timer_at) return;  // a wait that was replaced but had already fired
    waiters_->timer_at = {};
    const auto now = std::chrono::steady_clock::now();
    waiters_->take_expired(now, [&](auto&& waiter) {
      ++counters_.acquire_timeouts;
      deferred.complete(std::move(waiter.handler.complete), errc::acquire_timeout);
    });
    arm_waiter_timer_locked();
  }
  run(deferred);
}

}  // namespace securechannel
