#include "securechannel/detail/pooled_connection.hpp"

#include "pool/pool_telemetry.hpp"

#include <boost/asio/error.hpp>

namespace securechannel::detail {

std::string_view to_string(ConnectionState state) noexcept {
  switch (state) {
    case ConnectionState::connecting: return "connecting";
    case ConnectionState::idle: return "idle";
    case ConnectionState::leased: return "leased";
    case ConnectionState::closing: return "closing";
    case ConnectionState::closed: return "closed";
  }
  return "unknown";
}

PooledConnection::PooledConnection(std::uint64_t id, boost::asio::any_io_executor executor,
                                   std::shared_ptr<const ClientTlsContext> context, Clock::time_point created,
                                   std::shared_ptr<PoolTelemetry> telemetry)
    : id_(id),
      channel_(std::move(executor), std::move(context)),
      telemetry_(std::move(telemetry)),
      created_(created),
      released_at_(created) {
  last_io_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

void PooledConnection::on_io_start(IoDirection direction) noexcept {
  operations_in_flight_.fetch_add(1, std::memory_order_relaxed);
  // A round trip is measured from the first write after the last response byte to the first
  // byte of the next response: request/response protocols' time to first byte.
  if (direction == IoDirection::write && !exchange_pending_.load(std::memory_order_relaxed)) {
    exchange_started_ = std::chrono::steady_clock::now();
    exchange_pending_.store(true, std::memory_order_release);
  }
}

void PooledConnection::on_io_complete(IoDirection direction, const boost::system::error_code& error,
                                      std::size_t bytes) noexcept {
  // Last, with release: whoever then sees no operation in flight (a lease coming back, on any
  // thread) sees this one's outcome and counts too.
  struct LastOfAll {
    std::atomic<int>& in_flight;
    ~LastOfAll() { in_flight.fetch_sub(1, std::memory_order_release); }
  } done{operations_in_flight_};
  const auto now = std::chrono::steady_clock::now();
  last_io_ns_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  if (error) {
    broken_.store(true, std::memory_order_relaxed);
    // A clean end of stream or our own cancellation is not an upstream fault.
    if (error != boost::asio::error::eof && error != boost::asio::error::operation_aborted) {
      stats_.add_error();
      try {
        telemetry_->record_error(error);
      } catch (...) {
        // Counting must never take the I/O path down; a lost count under OOM is acceptable.
      }
    }
  }
  if (direction == IoDirection::write) {
    stats_.add_bytes_sent(bytes);
    return;
  }
  stats_.add_bytes_received(bytes);
  if (bytes > 0 && exchange_pending_.load(std::memory_order_relaxed)) {
    exchange_pending_.store(false, std::memory_order_release);
    stats_.record_round_trip(now - exchange_started_);
    telemetry_->round_trips.record(now - exchange_started_);
  }
}

PooledConnection::Leftover PooledConnection::leftover_after_lease() noexcept {
  // A lease given back unused may leave an HTTP/2 server's preface buffered (a probe peeked at
  // it): that is for the next session, not a reply left unread.
  const bool unused = never_used();
  if (broken_.load(std::memory_order_relaxed) || operations_in_flight_.load(std::memory_order_acquire) != 0 ||
      !channel_.usable() || !channel_.is_open() || (channel_.has_buffered_input() && !unused)) {
    return Leftover::broken;
  }
  // The holder wrote and never read (a timeout, a cancel, an early return): the reply is on its
  // way or already here, and whoever leased the connection next would read it as its own
  // (another caller's reply). Whether it has arrived yet does not matter: never reuse it.
  if (exchange_pending_.load(std::memory_order_acquire)) return Leftover::abandoned;
  // Records read ahead with the last response (a ticket, a close_notify) are looked at now.
  if (!channel_.has_unprocessed_input()) return Leftover::nothing;
  return channel_.probe_idle(unused) == IdleHealth::healthy ? Leftover::nothing : Leftover::broken;
}

}  // namespace securechannel::detail
