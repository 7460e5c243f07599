// Http2Session's clocks: the deadlines of its streams, cooling an idle session's record
// buffers, and the idle PING that tells a live peer from a vanished one. All on the strand.
#include "http/http2_session.hpp"

#include "http/http2_session_stream.hpp"
#include "pool/lease_internals.hpp"
#include "securechannel/error.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <vector>

namespace securechannel::detail {

using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// --- Stream deadlines ---

void Http2Session::watch_deadline(Clock::time_point deadline) {
  // Streams with one timeout arrive in deadline order, so this rarely moves the timer.
  if (deadline_timer_at_ != Clock::time_point{} && deadline_timer_at_ <= deadline) return;
  deadline_timer_at_ = deadline;
  deadline_timer_.expires_at(deadline);
  deadline_timer_.async_wait([self = shared_from_this(), deadline](const error_code& error) {
    if (error || self->deadline_timer_at_ != deadline) return;  // cancelled, or re-armed earlier
    self->on_deadline_timer();
  });
}

void Http2Session::on_deadline_timer() {
  deadline_timer_at_ = {};
  if (!codec_.session()) return;
  const auto now = Clock::now();
  std::vector<std::int32_t> expired;
  auto earliest = Clock::time_point::max();
  for (const auto& [id, stream] : codec_.streams()) {
    if (!stream->handler || stream->deadline == Clock::time_point::max()) continue;
    if (stream->deadline <= now) {
      expired.push_back(id);
    } else {
      earliest = std::min(earliest, stream->deadline);
    }
  }
  for (const std::int32_t id : expired) reset_stream(id, errc::request_timeout);
  if (earliest != Clock::time_point::max()) watch_deadline(earliest);
  if (expired.empty()) return;
  // A stream that timed out may be the first sign of a connection that stopped delivering (a
  // wedged peer whose kernel still acknowledges, a one-way blackhole): ask now, rather than
  // after idle_ping_after of silence, so that new streams are not sent into it all that while
  // (Go's HTTP/2 transport does the same, golang/go#59690).
  if (options_.idle_ping_after.count() > 0 && !ping_outstanding_) send_ping(now);
  if (codec_.session()) after_io();
}

// --- Cooling: an idle session's record buffers go back ---

void Http2Session::note_idle() {
  if (options_.cool_after.count() <= 0 || !warm_.load(std::memory_order_relaxed)) return;
  idle_since_ = Clock::now();
  if (!cool_timer_armed_) arm_cool_timer(idle_since_ + options_.cool_after);
}

void Http2Session::arm_cool_timer(Clock::time_point at) {
  cool_timer_armed_ = true;
  cool_timer_.expires_at(at);
  cool_timer_.async_wait([self = shared_from_this()](const error_code& error) {
    self->cool_timer_armed_ = false;
    if (!error) self->on_cool_timer();
  });
}

void Http2Session::on_cool_timer() {
  if (!codec_.session() || state_.load(std::memory_order_relaxed) != State::open) return;
  // Busy again: the end of its last stream arms the timer anew. (A stream submitted from
  // another thread counts here before it reaches the strand, and warms the buffers when it does.)
  if (streams_in_flight_.load(std::memory_order_acquire) > 0) return;
  const Clock::time_point cool_at = idle_since_ + options_.cool_after;
  if (Clock::now() < cool_at) return arm_cool_timer(cool_at);  // busy and idle again meanwhile
  // Freed only when empty: a partial record, or a write still under way, keeps them (and the
  // block a pending read receives into stays until that read completes).
  LeaseInternals::channel(lease_).set_warm(false);
  warm_.store(false, std::memory_order_relaxed);
  // The coalescing buffer keeps the capacity of the largest write (up to 256 KB after an upload).
  if (!writing_) std::vector<std::uint8_t>().swap(write_buffer_);
  // The read pending since the last stream holds the read buffer and a receive block. A PING
  // ends it (the ACK is the bytes it waits for); a cold session between streams then waits for
  // readability instead, holding neither (Http2Session::read). Not the liveness PING: nothing
  // fails if this one goes unanswered.
  if (read_pending_ && !ping_outstanding_) {
    if (nghttp2_submit_ping(codec_.session(), NGHTTP2_FLAG_NONE, nullptr) != 0) {
      return fail(make_error_code(errc::http_protocol_error));
    }
    after_io();
  } else if (!read_pending_) {
    read_buffer_.reset();
  }
}

// --- Idle PING ---

void Http2Session::arm_ping_timer(Clock::time_point at) {
  ping_timer_.expires_at(at);
  ping_timer_.async_wait([self = shared_from_this()](const error_code& error) {
    if (!error) self->on_ping_timer();
  });
}

void Http2Session::on_ping_timer() {
  if (!codec_.session()) return;
  const auto now = Clock::now();
  if (ping_outstanding_) {
    if (now >= ping_deadline_) return fail(make_error_code(errc::connection_closed));  // the peer is gone
    return arm_ping_timer(ping_deadline_);
  }
  if (now - last_received_ < options_.idle_ping_after) return arm_ping_timer(last_received_ + options_.idle_ping_after);
  send_ping(now);
  after_io();
}

void Http2Session::send_ping(Clock::time_point now) {
  if (nghttp2_submit_ping(codec_.session(), NGHTTP2_FLAG_NONE, nullptr) != 0) {
    return fail(make_error_code(errc::http_protocol_error));
  }
  ping_outstanding_ = true;
  ping_deadline_ = now + options_.ping_timeout;
  arm_ping_timer(ping_deadline_);
}

void Http2Session::on_ping_ack() {
  if (!ping_outstanding_) return;
  ping_outstanding_ = false;
  ping_answered_ = true;
}

}  // namespace securechannel::detail
