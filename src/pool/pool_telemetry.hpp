// What a pool measures about its traffic: errors, once each, by kind (`<ns>_errors_total{kind}`),
// whether they happen while connecting or during a lease's I/O; and the latency histograms behind
// `<ns>_latency_ms`, `<ns>_acquire_wait_seconds` and `<ns>_tls_handshake_seconds`. Shared with
// the connections because their last operations may complete after the pool is gone.
#pragma once

#include "securechannel/error.hpp"
#include "securechannel/latency_histogram.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace securechannel::detail {

struct PoolTelemetry {
  void record_error(const boost::system::error_code& error) {
    const std::string kind(error_kind(error));
    std::lock_guard lock(errors_mutex);
    ++errors_by_kind[kind];
    ++errors_total;
  }

  // Errors are rare: a lock and a map keep the set of kinds open-ended.
  mutable std::mutex errors_mutex;
  std::map<std::string, std::uint64_t> errors_by_kind;
  std::uint64_t errors_total = 0;

  // Each one fixed-size and lock-free to record; rotated by the cleanup task.
  RotatingLatencyHistogram round_trips;    // first write after a response .. first byte of the next
  RotatingLatencyHistogram acquire_waits;  // async_acquire call .. lease handed over
  RotatingLatencyHistogram handshakes;     // TLS handshake of each new connection
};

}  // namespace securechannel::detail
