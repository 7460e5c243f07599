// How an HTTP request ends early: at its deadline (every request's deadline on one timer, whatever
// its protocol) or when its caller cancels it through the handler's cancellation slot.
#include "http/http_client_core.hpp"

#include "http/pending_request.hpp"
#include "securechannel/error.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/error.hpp>

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

namespace securechannel::detail {

namespace asio = boost::asio;
using boost::system::error_code;

void HttpClientCore::watch_deadline(const PendingPointer& pending) {
  std::lock_guard lock(deadlines_mutex_);
  watched_.push_back(pending);
  pending->watch_index = watched_.size() - 1;
  // Requests with one timeout arrive in deadline order, so this rarely moves the timer.
  if (deadline_timer_at_ == std::chrono::steady_clock::time_point{} || pending->deadline < deadline_timer_at_) {
    arm_deadline_timer(pending->deadline);
  }
}

void HttpClientCore::unwatch_deadline(PendingRequest& pending) {
  std::lock_guard lock(deadlines_mutex_);
  if (watched_.empty() || watched_[pending.watch_index].get() != &pending) return;
  // Swap with the last: O(1), and the timer keeps its time (it re-reads the list when it fires).
  std::swap(watched_[pending.watch_index], watched_.back());
  watched_[pending.watch_index]->watch_index = pending.watch_index;
  watched_.pop_back();
  if (watched_.empty() && deadline_timer_at_ != std::chrono::steady_clock::time_point{}) {
    // Nothing left to time: a pending wait would keep the caller's io_context running.
    deadline_timer_at_ = {};
    deadline_timer_.cancel();
  }
}

void HttpClientCore::arm_deadline_timer(std::chrono::steady_clock::time_point at) {
  deadline_timer_at_ = at;
  deadline_timer_.expires_at(at);
  // Weakly held: the timer must not keep a client alive for a whole timeout after its owner left.
  deadline_timer_.async_wait([weak = weak_from_this(), at](error_code error) {
    const auto self = weak.lock();
    if (error || !self) return;  // cancelled
    self->on_deadline_timer(at);
  });
}

void HttpClientCore::on_deadline_timer(std::chrono::steady_clock::time_point fired_at) {
  std::vector<PendingPointer> expired;
  auto earliest = std::chrono::steady_clock::time_point::max();
  {
    std::lock_guard lock(deadlines_mutex_);
    if (deadline_timer_at_ != fired_at) return;  // re-armed earlier meanwhile
    deadline_timer_at_ = {};
    const auto now = std::chrono::steady_clock::now();
    for (const auto& pending : watched_) {
      if (pending->deadline <= now) {
        expired.push_back(pending);
      } else {
        earliest = std::min(earliest, pending->deadline);
      }
    }
  }
  for (const auto& pending : expired) on_deadline(pending);
  std::lock_guard lock(deadlines_mutex_);
  if (earliest == std::chrono::steady_clock::time_point::max() || watched_.empty()) return;
  // A request that began meanwhile armed the timer for its own deadline, which may be later
  // than `earliest` (a 50 ms request left waiting behind a new 20 s one): the earlier one wins.
  const bool armed_meanwhile = deadline_timer_at_ != std::chrono::steady_clock::time_point{};
  if (!armed_meanwhile || earliest < deadline_timer_at_) arm_deadline_timer(earliest);
}

void HttpClientCore::on_deadline(const PendingPointer& pending) {
  // An HTTP/2 stream has the same deadline inside its session, which resets it there and asks
  // the connection for a PING (a stalled stream may be a stalled connection).
  abandon(pending, errc::request_timeout);
}

void HttpClientCore::watch_cancellation(const PendingPointer& pending) {
  asio::cancellation_slot slot = asio::get_associated_cancellation_slot(pending->handler);
  if (!slot.is_connected()) return;
  // Weak references: the slot is never cleared (it belongs to the caller's signal, which may be
  // gone by the time the request completes), so a late emit must find nothing to do.
  slot.assign([core = weak_from_this(), weak_pending = std::weak_ptr<PendingRequest>(pending)](
                  asio::cancellation_type type) {
    if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial)) ==
        asio::cancellation_type::none) {
      return;
    }
    auto self = core.lock();
    auto cancelled = weak_pending.lock();
    if (!self || !cancelled) return;
    // From the emitting thread, whichever it is: the request's state lives on the strand.
    post_on_strand(self->strand_, [self, cancelled] { self->cancel(cancelled); });
  });
}

void HttpClientCore::cancel(const PendingPointer& pending) {
  if (pending->done) return;
  // Reset now: the stream's own deadline would reset it only at the request's deadline.
  if (auto session = pending->session.lock()) session->cancel_stream(pending->request());
  abandon(pending, asio::error::operation_aborted);
}

}  // namespace securechannel::detail
