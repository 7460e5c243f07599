// How an HttpForwardSession ends: its one deadline timer (header, idle, body, write and linger
// deadlines, whichever is in force), the lingering close after a final response, and the close.
#include "daemon/http_forward_session.hpp"

#include <boost/asio/buffer.hpp>

#include <chrono>

namespace securechannel::daemon {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// After a final response that closes the connection we shut down our side and read (and drop)
// until the client closes: closing with its unread bytes (a pipelined request) still queued
// would make the kernel send a reset, which can destroy our response before the client reads
// it. A client that never closes gets this long.
constexpr std::chrono::seconds linger_limit{2};

// After the header deadline cancelled the read, how long the 408 may take to get under way.
constexpr std::chrono::seconds header_timeout_grace{1};

}  // namespace

void HttpForwardSession::linger() {
  transition(State::Lingering);
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  expire_after(linger_limit);
  discard_until_closed();
}

void HttpForwardSession::discard_until_closed() {
  buffer_.clear();
  socket_.async_read_some(buffer_.prepare(1024), [self = shared_from_this()](error_code error, std::size_t) {
    if (self->state_ == State::Closed) return;
    if (error) return self->close_now();  // the client closed, or linger_limit passed
    self->discard_until_closed();
  });
}

void HttpForwardSession::close_now() {
  if (state_ == State::Closed) return;
  timer_at_ = {};
  deadline_timer_.cancel();
  error_code ignored;
  socket_.close(ignored);
  // After the close, so that open_connections == 0 means every socket is closed.
  transition(State::Closed);
}

void HttpForwardSession::expire_after(std::chrono::steady_clock::duration limit) {
  deadline_ = std::chrono::steady_clock::now() + limit;
  // A timer set for this time or earlier re-arms itself for deadline_ when it fires.
  if (timer_at_ == std::chrono::steady_clock::time_point{} || deadline_ < timer_at_) arm_deadline_timer(deadline_);
}

void HttpForwardSession::arm_deadline_timer(std::chrono::steady_clock::time_point at) {
  timer_at_ = at;
  deadline_timer_.expires_at(at);  // a wait already pending completes with operation_aborted
  deadline_timer_.async_wait(
      [self = shared_from_this(), at](error_code error) { self->on_deadline_timer(error, at); });
}

void HttpForwardSession::on_deadline_timer(const error_code& error, std::chrono::steady_clock::time_point armed_for) {
  // Cancelled, or re-armed meanwhile (a completion already queued cannot be cancelled).
  if (error || armed_for != timer_at_ || state_ == State::Closed) return;
  timer_at_ = {};
  if (deadline_ == std::chrono::steady_clock::time_point::max()) return;  // forwarding: no deadline now
  if (std::chrono::steady_clock::now() < deadline_) return arm_deadline_timer(deadline_);
  if (state_ == State::ReadingHeader && !header_timed_out_) {
    header_timed_out_ = true;
    error_code ignored;
    socket_.cancel(ignored);  // the read completes with operation_aborted; on_header answers 408
    // The cancel misses a read whose completion is already queued: Beast's read_header may then
    // start another, which nothing else would bound. If the 408 is not under way by then, close.
    expire_after(header_timeout_grace);
    return;
  }
  close_now();  // idle, body, write or linger deadline
}

}  // namespace securechannel::daemon
