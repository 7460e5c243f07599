// A SecureChannel as the pool keeps it: its state, timestamps and statistics. Shared ownership
// on purpose: the pool and every pending operation on the connection each hold a reference, so a
// lease destroyed while a read is pending cannot free the socket under it. (A Lease itself holds
// the pool, which lists the connection until the lease gives it back.)
#pragma once

#include "securechannel/clock.hpp"
#include "securechannel/connection_stats.hpp"
#include "securechannel/secure_channel.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace securechannel {
class SecureChannelPool;
}

namespace securechannel::detail {

struct PoolTelemetry;

enum class ConnectionState : std::uint8_t {
  connecting,  // TCP/TLS being established; counts against max_connections
  idle,        // on the idle stack, ready to be handed out
  leased,      // owned by exactly one Lease
  closing,     // out of the pool, close_notify being sent
  closed,      // socket closed; only pending operations still hold the object
};

std::string_view to_string(ConnectionState state) noexcept;

// Why the pool wants a leased connection back (Lease::on_retire).
enum class RetireReason : std::uint8_t {
  none,
  max_lifetime,  // past its max_lifetime
  tls_reload,    // made with TLS material that reload_tls() has replaced
  latency,       // its recent p95 round trip is over the pool's latency threshold
  idle,          // a multiplexed holder ran no exchange for idle_timeout (above min_idle)
  unhealthy,     // its health score stayed below health_recycle_below
  max_requests,  // a multiplexed holder carried max_requests_per_connection exchanges on it
  shutdown,      // the pool is shutting down (told to the holder; never kept as the mark)
};

class PooledConnection : public std::enable_shared_from_this<PooledConnection> {
 public:
  PooledConnection(std::uint64_t id, boost::asio::any_io_executor executor,
                   std::shared_ptr<const ClientTlsContext> context, Clock::time_point created,
                   std::shared_ptr<PoolTelemetry> telemetry);

  SecureChannel& channel() noexcept { return channel_; }
  const SecureChannel& channel() const noexcept { return channel_; }
  ConnectionStats& stats() noexcept { return stats_; }
  const ConnectionStats& stats() const noexcept { return stats_; }
  // Nothing was ever written or read on it (the probes only peek): bytes the peer sent may be
  // its greeting (an HTTP/2 server's preface), not a reply to anything, and nobody took part of it.
  bool never_used() const noexcept { return stats_.bytes_sent() == 0 && stats_.bytes_received() == 0; }
  std::uint64_t id() const noexcept { return id_; }
  ConnectionState state() const noexcept { return state_; }

  // Hooks of the composed I/O operation (TlsIoOp).
  void on_io_start(IoDirection direction) noexcept;
  void on_io_complete(IoDirection direction, const boost::system::error_code& error, std::size_t bytes) noexcept;

  // What a lease that ends leaves behind.
  enum class Leftover {
    nothing,    // clean: no error, no operation pending, nothing unread; reusable
    broken,     // an I/O error, a pending operation, bytes unread, or marked broken
    abandoned,  // a request written and its reply never read: it may still arrive, and the
                // next lease would read it as its own, so the connection is never reused
  };
  // Called on release. Thread-safe against the lease's last I/O having completed on another
  // thread (the flags it reads are atomic).
  Leftover leftover_after_lease() noexcept;
  void mark_broken() noexcept { broken_.store(true, std::memory_order_relaxed); }
  std::chrono::steady_clock::time_point last_io() const noexcept {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(last_io_ns_.load(std::memory_order_relaxed)));
  }

 private:
  friend class securechannel::SecureChannelPool;
  friend class ConnectionBooks;  // the state and index_in_pool_

  const std::uint64_t id_;
  SecureChannel channel_;
  ConnectionStats stats_;
  std::shared_ptr<PoolTelemetry> telemetry_;
  // Pool bookkeeping, changed only under the pool's lock (the state only by ConnectionBooks::move).
  // (Wall-clock creation time is derived from created_ when a snapshot is taken: 8 bytes less.)
  Clock::time_point created_;
  Clock::time_point released_at_;          // when it last became idle (pool clock)
  // Written by I/O (the lease's strand), read by the pool and by snapshots.
  std::atomic<std::int64_t> last_io_ns_{0};
  std::chrono::steady_clock::time_point exchange_started_{};
  // The small fields together, so that padding does not cost 8 bytes each (thousands of idle
  // connections): pool bookkeeping first, then the I/O side's.
  std::uint32_t index_in_pool_ = 0;        // position in the pool's list of live connections
  std::uint32_t reconnects_ = 0;           // connections its slot had before it
  // Its stats' round_trips() (low 32 bits) when its current lease began: whether the lease that
  // ends carried one (the health score's stall marks).
  std::uint32_t round_trips_at_lease_ = 0;
  ConnectionState state_ = ConnectionState::connecting;
  // Why the pool wants it back while it is leased: closed for that reason when its lease ends,
  // never under it.
  RetireReason retire_reason_ = RetireReason::none;
  std::atomic<bool> broken_{false};
  // Written and not yet answered: set by the first write after a response, cleared by the first
  // bytes read. Read by release() on whatever thread gives the lease back.
  std::atomic<bool> exchange_pending_{false};
  std::atomic<int> operations_in_flight_{0};
};

}  // namespace securechannel::detail
