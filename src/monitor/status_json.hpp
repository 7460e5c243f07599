// The JSON bodies of the monitoring endpoints. Field names and types are a contract with the Go
// clients (ARCHITECTURE.md "Observability contract", docs/openapi.yaml): fields may be added,
// never renamed or removed. The contract's latency fields are whole milliseconds (the Go structs
// may hold them in an int); the precise values are in the added `latency_ms` objects
// (fractional milliseconds).
#pragma once

#include "core/rfc3339.hpp"
#include "securechannel/http_client_stats.hpp"
#include "securechannel/secure_buffer.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

namespace securechannel::monitor {

// "2025-08-25T11:00:00Z": RFC 3339, UTC, whole seconds (one formatter for the library).
using detail::rfc3339_utc;

// A pool is healthy when its breaker is closed and its latest connection attempt succeeded
// (or none was needed yet): a pool whose connects fail is not, even with no connection open and
// no caller waiting; a min_idle = 0 pool nobody has used yet is.
bool pool_is_healthy(const PoolStats& stats) noexcept;
// Ready: healthy, and when min_idle asks for warm connections, at least one is established.
bool pool_is_ready(const SecureChannelPool& pool, const PoolStats& stats) noexcept;

// Established connections, idle or leased.
std::size_t active_connections(const PoolStats& stats) noexcept;
// Errors of every kind / (successful acquires + errors) x 100; 0 before any work.
double error_rate_percent(const PoolStats& stats) noexcept;
// Acquires served by a connection that had served before / all acquires; 0 before any.
double reuse_ratio(const PoolStats& stats) noexcept;
// {"p50","p95","p99","max","samples"} of a latency histogram, in fractional milliseconds.
nlohmann::json latency_quantiles_ms(const HistogramSnapshot& snapshot);
// Mean of a latency histogram in milliseconds; 0 when empty.
double mean_ms(const HistogramSnapshot& snapshot) noexcept;

// The process-wide SecureBuffer status (memory_protection_status()).
nlohmann::json memory_protection_json(const MemoryProtectionStatus& status);

nlohmann::json connection_json(const ConnectionSnapshot& connection);
// /api/v1/secure-channel/status and /status/connections: the pool and every connection.
nlohmann::json pool_status_json(const SecureChannelPool& pool, std::chrono::system_clock::time_point now);
// /healthz, /api/v1/secure-channel/health (one pool).
nlohmann::json pool_health_json(const SecureChannelPool& pool, std::chrono::system_clock::time_point now);
// /api/v1/secure-channel/stats: utilisation, error rate, latency, reuse.
nlohmann::json pool_stats_json(const SecureChannelPool& pool, std::chrono::system_clock::time_point now);

// The `http` object of a pool's status and stats: what the HttpClients exported for the pool did
// (MonitoredPools::export_http_client). Absent for a pool without one, never a zero object.
nlohmann::json http_client_json(const HttpClientStats& stats);

}  // namespace securechannel::monitor
