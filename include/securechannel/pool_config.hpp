// Every knob of a SecureChannelPool with its default (names from the seeds, ARCHITECTURE.md
// "Pool semantics"). Usually filled through PoolBuilder; validate() names the first bad field.
#pragma once

#include "securechannel/clock.hpp"
#include "securechannel/config_error.hpp"
#include "securechannel/pool_log.hpp"
#include "securechannel/tls_options.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace securechannel {

using Milliseconds = std::chrono::milliseconds;

struct PoolConfig {
  std::string endpoint;            // "host:port", "[v6]:port"
  std::string metric_namespace = "securechannel";
  std::size_t max_connections = 100;
  std::size_t min_idle = 0;
  std::size_t max_pending = 1024;  // callers allowed to wait; 0 = never wait
  Milliseconds latency_threshold{300};     // connections whose p95 round trip exceeds it are recycled
  Milliseconds cleanup_interval{60'000};
  Milliseconds idle_timeout{300'000};
  Milliseconds max_lifetime{3'600'000};    // "key rotation": reconnect after this long
  // Each connection's lifetime is max_lifetime times (1 ± this), spread by connection, so that a
  // pool built at once does not rotate all its connections at once. 0 to 0.5.
  double max_lifetime_jitter = 0.10;
  // A connection carries this many leases at most (HTTP/1.1: requests; HTTP/2: streams; a raw
  // lease: one use each), then closes and is replaced, as nginx's keepalive_requests and Envoy's
  // max_requests_per_connection do. 0: no limit.
  std::size_t max_requests_per_connection = 0;
  // A connection whose health score (0-100: its p95 round trip against the pool's median, its
  // stalls and failures, its age; docs/POOL.md, "Health scores") is below this on two cleanup
  // passes in a row is recycled. 0: never; 0 to 100.
  unsigned health_recycle_below = 25;
  // Affinity keys remembered (securechannel/affinity.hpp), at most; beyond it the least recently
  // used is forgotten, and its next acquire counts as new_key. 1 to 10,000,000.
  std::size_t affinity_max_keys = 10'000;
  // Connects (TCP + TLS handshake) in flight at once, at most: after an outage or a breaker's
  // half-open success, a pool of max_connections does not start them all in one burst.
  std::size_t max_connecting = 8;
  Milliseconds connect_timeout{5'000};     // name lookup + TCP connect + TLS handshake
  // A host name's addresses are reused for this long, then asked again (a moved endpoint is
  // followed); 0 asks on every connect. docs/POOL.md, "Names".
  Milliseconds dns_refresh_interval{30'000};
  Milliseconds acquire_timeout{5'000};
  // An idle connection released longer ago than this is probed (one non-blocking recv) before
  // it is handed out; a connection used more recently is handed out directly. Apache
  // HttpClient's validateAfterInactivity; 0 probes every time.
  Milliseconds validate_after_inactivity{1'000};
  // Liveness: a peer that vanishes without a FIN (a blackhole, a crashed host, a cut cable) is
  // found in seconds, not by the OS's retransmission timeout (~15 minutes). ARCHITECTURE.md,
  // "Failure model"; docs/FAILURES.md.
  Milliseconds http2_ping_after{15'000};   // HTTP/2: PING after this long without a frame; 0: never
  Milliseconds http2_ping_timeout{5'000};  // ...and close the connection when no ACK came within this
  Milliseconds tcp_user_timeout{15'000};   // TCP_USER_TIMEOUT: data unacknowledged this long fails
                                           // the socket; 0 leaves the OS default
  Milliseconds tcp_keepalive_idle{30'000};      // TCP keep-alive probes after this much silence; 0: off
  Milliseconds tcp_keepalive_interval{10'000};  // between probes
  unsigned tcp_keepalive_count = 3;             // unanswered probes that fail the socket
  unsigned circuit_breaker_failure_threshold = 5;
  Milliseconds circuit_breaker_cooldown{60'000};
  Milliseconds reconnect_backoff_base{100};
  Milliseconds reconnect_backoff_max{30'000};
  Milliseconds histogram_rotation_interval{1'800'000};
  std::string metrics_host = "127.0.0.1";
  std::uint16_t metrics_port = 9090;       // 0: any free port (tests)
  SharedSecret metrics_auth_token;         // null: no authentication; locked memory (secure_buffer.hpp)
  // A metrics_host beyond loopback needs metrics_auth_token or this (docs/MONITORING.md, "Exposure").
  bool metrics_allow_insecure_bind = false;
  TlsOptions tls;
  // Logs a warning when the upstream's certificate (the leaf of the latest full handshake)
  // expires sooner than this; 0 turns the warning off. The expiry itself is always exported
  // (<ns>_upstream_cert_expiry_timestamp_seconds, status JSON upstream_certificate_not_after).
  Milliseconds certificate_expiry_warning{14LL * 24 * 3600 * 1000};
  // After a burst: when the pool has been at rest (nothing leased, no acquire) for 250 ms having
  // cooled at least 32 connections since it last did this (~1.5 MB of TLS buffers), it asks the
  // C allocator to hand its free pages back to the OS (glibc's malloc_trim), at most once per
  // 10 s in the process. Without it a burst's buffers, freed, stay in the process's RSS.
  // docs/POOL.md.
  bool release_memory_at_rest = true;
  std::shared_ptr<Clock> clock;            // null: the steady clock
  std::shared_ptr<RandomSource> random;    // null: a seeded Mersenne twister
  PoolLogSink log_sink;                    // null: log_to_spdlog (pool_log.hpp)

  // Filled by validate(): the endpoint split in two.
  std::string host;
  std::string port;
};

// Checks every field; fills host/port and the clock/random defaults. The first problem found is
// returned (and nothing is thrown).
std::optional<ConfigError> validate(PoolConfig& config);

// The limits a running pool can change (SecureChannelPool::update_limits, the daemon's SIGHUP);
// the rest of a PoolConfig is fixed when the pool is built.
struct PoolLimits {
  std::size_t max_connections = 0;
  std::size_t min_idle = 0;
  std::size_t max_pending = 0;
  Milliseconds acquire_timeout{};
  Milliseconds idle_timeout{};
  Milliseconds max_lifetime{};
  Milliseconds latency_threshold{};

  bool operator==(const PoolLimits&) const = default;
};
PoolLimits limits_of(const PoolConfig& config);
void apply_limits(const PoolLimits& limits, PoolConfig& config);

// The scheme of the pool's upstream URLs: "https", or "http" when TLS is off (TlsOptions::enabled).
std::string_view scheme_of(const PoolConfig& config) noexcept;

// Splits "host:port" / "[::1]:port"; false with a reason when malformed or the port is not 1..65535.
bool parse_endpoint(const std::string& endpoint, std::string& host, std::string& port, std::string& problem);

}  // namespace securechannel
