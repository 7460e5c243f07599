// Lightweight per-connection statistics: a few relaxed atomic counters and the last 32 round-trip
// samples. Written by the connection's own I/O, read at any time by status and metrics code,
// which aggregate them on demand (nothing is registered per connection).
//
//   stats.record_round_trip(std::chrono::microseconds(850));
//   double p95 = stats.latency_quantile_ms(0.95);
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace securechannel {

class ConnectionStats {
 public:
  static constexpr std::size_t latency_sample_capacity = 32;

  void add_bytes_sent(std::size_t bytes) noexcept { bytes_sent_.fetch_add(bytes, std::memory_order_relaxed); }
  void add_bytes_received(std::size_t bytes) noexcept {
    bytes_received_.fetch_add(bytes, std::memory_order_relaxed);
  }
  void add_error() noexcept { errors_.fetch_add(1, std::memory_order_relaxed); }
  // Only the pool counts leases, under its lock: a plain store is enough for a single writer and
  // saves a locked instruction on the acquire path.
  void add_lease_locked() noexcept {
    leases_.store(leases_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void record_round_trip(std::chrono::nanoseconds round_trip) noexcept;

  std::uint64_t bytes_sent() const noexcept { return bytes_sent_.load(std::memory_order_relaxed); }
  std::uint64_t bytes_received() const noexcept { return bytes_received_.load(std::memory_order_relaxed); }
  std::uint64_t errors() const noexcept { return errors_.load(std::memory_order_relaxed); }
  std::uint64_t leases() const noexcept { return leases_.load(std::memory_order_relaxed); }
  std::uint64_t round_trips() const noexcept { return round_trips_.load(std::memory_order_relaxed); }

  // Quantile (0..1) of the retained samples in milliseconds; 0 when there are none.
  double latency_quantile_ms(double quantile) const noexcept;
  // The latest round trip in microseconds; 0 when none was recorded (or its writer is mid-store).
  std::uint32_t last_round_trip_us() const noexcept;
  // Copies the retained samples (microseconds) into `out`; returns how many.
  std::size_t copy_latency_samples_us(std::array<std::uint32_t, latency_sample_capacity>& out) const noexcept;

 private:
  std::atomic<std::uint64_t> bytes_sent_{0};
  std::atomic<std::uint64_t> bytes_received_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::atomic<std::uint64_t> leases_{0};
  std::atomic<std::uint64_t> round_trips_{0};
  // A ring: a bounded window, so per-connection memory never grows with traffic. Samples are
  // 16-bit floating-point microseconds (11-bit mantissa, within 0.05 % of the value): half the
  // bytes of plain 32-bit microseconds, which matters at tens of thousands of idle connections.
  std::array<std::atomic<std::uint16_t>, latency_sample_capacity> latency_codes_{};
};

}  // namespace securechannel
