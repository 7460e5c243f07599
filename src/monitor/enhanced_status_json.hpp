// GET /api/v1/secure-channel/status/enhanced: seed 002's "Enhanced Bitcoin Sprint Status", one
// document over every monitored pool, with the seed's field names (a contract with the Go
// services that embed it; fields may be added, never renamed):
//
//   {"service": "relay-gateway", "status": "ok", "version": "0.1.0",
//    "timestamp": "2026-12-04T07:00:00Z", "uptime": "2h30m15s",
//    "memory_protection": {"enabled": true, "self_check": true, "secure_buffers": true, "rust_integrity": true},
//    "secure_channel": {"status": "healthy", "pool_healthy": true, "active_connections": 5,
//                       "error_rate": 2.5, "avg_latency_ms": 45.2},
//    "performance": {"connection_pool_utilization": 83.3, "avg_response_time_ms": 45.2,
//                    "error_rate_percent": 2.5},
//    "pools": [...]}
#pragma once

#include "securechannel/secure_channel_pool.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <span>
#include <string>

namespace securechannel::monitor {

// Above this error rate (percent, since start) the service is `degraded` even with every pool healthy.
inline constexpr double degraded_error_rate_percent = 5.0;

struct ServiceIdentity {
  std::string name;
  std::chrono::system_clock::time_point started_at;
};

// `status`: "ok" when every pool is healthy and the error rate is at most
// degraded_error_rate_percent; "down" when no pool is monitored or none is healthy; else "degraded".
nlohmann::json enhanced_status_json(std::span<const std::shared_ptr<SecureChannelPool>> pools,
                                    const ServiceIdentity& service, std::chrono::system_clock::time_point now);

}  // namespace securechannel::monitor
