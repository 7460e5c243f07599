// Point-in-time copies of a pool's state, for status JSON, metrics and tests. Taking one costs a
// lock and a copy; nothing here refers back into the pool.
#pragma once

#include "securechannel/circuit_breaker.hpp"
#include "securechannel/latency_histogram.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace securechannel {

// A connection's health score and what it is made of (docs/POOL.md, "Health scores").
struct ConnectionHealth {
  int score = 100;  // 0 (worst) to 100
  // Its p95 round trip over the pool's median p95 (the lower median, over connections with at
  // least 16 round trips); 1 when either is not known, or when it is within 5 ms of the median.
  double latency_ratio = 1;
  // Round trips in its window over 4x the pool's median p95 and 5 ms over it.
  std::uint32_t stalls = 0;
  std::uint32_t recent_failures = 0;  // exchanges that failed and left it open, since the last pass
  double age_fraction = 0;            // its age over max_lifetime
};

struct ConnectionSnapshot {
  std::uint64_t connection_id = 0;
  std::string state;  // "connecting", "idle", "leased", "closing"
  std::chrono::system_clock::time_point created;
  std::chrono::system_clock::time_point last_activity;
  std::uint64_t reconnects = 0;  // connections this one's slot had before it
  std::uint64_t errors = 0;
  std::uint64_t leases = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t round_trips = 0;
  double p50_latency_ms = 0;
  double p95_latency_ms = 0;
  bool is_healthy = true;
  std::string alpn;         // negotiated by TLS; "h2c" on a plain pool speaking HTTP/2, else "" there
  std::string tls_version;  // "" on a plain pool
  bool tls_resumed = false;  // the handshake resumed an earlier connection's session
  // A leased connection that runs several exchanges at once (an HTTP/2 session): its slots taken
  // now (streams running and those about to start) and how many it takes at once (the peer's
  // SETTINGS_MAX_CONCURRENT_STREAMS; 100 until its SETTINGS arrive, 2^32-1 when it sets no
  // limit). Both 0 for a connection that runs one at a time (idle, a raw lease, HTTP/1.1).
  std::uint32_t streams_in_flight = 0;
  std::uint32_t max_concurrent_streams = 0;
  ConnectionHealth health;
  std::uint32_t affinity_keys = 0;  // affinity keys bound to it (docs/POOL.md, "Connection affinity")
};

struct PoolStats {
  std::string endpoint;
  // Gauges.
  std::size_t total_connections = 0;  // connecting + idle + leased
  std::size_t idle_connections = 0;
  std::size_t leased_connections = 0;
  std::size_t connecting_connections = 0;
  std::size_t pending_acquires = 0;
  CircuitState circuit_state = CircuitState::closed;
  // When the breaker last changed state; nullopt while it has stayed closed since the start.
  std::optional<std::chrono::system_clock::time_point> circuit_state_since;
  bool established = false;  // a connection has been established since the pool was last empty
  bool connect_failing = false;  // the most recent connection attempt failed
  // notAfter of the upstream's leaf certificate, from the latest full handshake (resumed ones
  // carry no certificate); nullopt until one happened.
  std::optional<std::chrono::system_clock::time_point> upstream_certificate_not_after;
  // Counters, each event counted once.
  std::uint64_t acquires = 0;             // successful acquires (requests_total)
  std::uint64_t reuses = 0;               // of those, served by an already used connection
  std::uint64_t connections_created = 0;  // successful handshakes
  std::uint64_t tls_resumed = 0;          // of those, resumed sessions (no certificate exchange)
  std::uint64_t connections_closed = 0;
  std::uint64_t reconnects = 0;           // connections created to replace a closed one
  std::uint64_t connect_failures = 0;
  std::uint64_t acquire_timeouts = 0;
  std::uint64_t acquires_cancelled = 0;  // callers that left the line (cancellation slot)
  std::uint64_t pool_exhausted = 0;
  std::uint64_t circuit_open_rejections = 0;
  std::uint64_t circuit_opened = 0;
  std::uint64_t stale_discarded = 0;      // idle connections found dead at checkout or cleanup
  std::uint64_t closed_idle_timeout = 0;
  std::uint64_t closed_max_lifetime = 0;
  std::uint64_t closed_max_requests = 0;  // carried max_requests_per_connection leases
  std::uint64_t closed_tls_reload = 0;    // made with TLS material reload_tls() replaced
  std::uint64_t closed_latency = 0;
  std::uint64_t closed_unhealthy = 0;     // health score below health_recycle_below, two passes in a row
  std::uint64_t closed_broken = 0;        // returned by a lease after an error
  std::uint64_t closed_abandoned = 0;     // returned with a request written and its reply unread
  std::uint64_t tls_reloads = 0;          // reload_tls() calls that swapped in new TLS material
  std::uint64_t tls_reload_failures = 0;  // reload_tls() calls that kept the old material
  std::uint64_t memory_releases = 0;      // free memory handed back to the OS (release_memory_at_rest)
  // Connection affinity: keys remembered now (a gauge, up to affinity_max_keys, including keys
  // whose connection closed and that move on their next use), keys that went to another
  // connection (its own closed, or was busy and the caller allowed it), keys forgotten to stay
  // within affinity_max_keys.
  std::size_t affinity_keys = 0;
  std::uint64_t affinity_moves = 0;
  std::uint64_t affinity_keys_evicted = 0;
  std::uint64_t total_errors = 0;
  std::map<std::string, std::uint64_t> errors_by_kind;
};

// A pool's latency distributions (copies: about 13 KB each). The cumulative ones only grow, as
// Prometheus histograms must; the recent one covers the last one to two rotation intervals
// (with_histogram_rotation_interval) and feeds the p50/p95/p99 in status JSON.
struct PoolHistograms {
  HistogramSnapshot round_trips;         // exchange round trips (`<ns>_latency_ms`)
  HistogramSnapshot recent_round_trips;  // the same, recent window only
  HistogramSnapshot acquire_waits;       // async_acquire until the lease is handed over
  HistogramSnapshot handshakes;          // TLS handshakes of new connections
};

}  // namespace securechannel
