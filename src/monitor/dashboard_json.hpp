// The body of /api/v1/secure-channel/dashboard: what the dashboard page shows of each pool, in
// one request per refresh (docs/DASHBOARD.md). Aggregates only: the connection table pages
// through /api/v1/secure-channel/connections, so a pool of 10,000 connections costs a refresh
// no more than a pool of ten.
#pragma once

#include "monitor/enhanced_status_json.hpp"
#include "monitor/pool_history.hpp"
#include "securechannel/http_client_stats.hpp"
#include "securechannel/secure_channel_pool.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>

namespace securechannel::monitor {

// The whole body: the service, when it started, and `pools` (dashboard_pool_json of each).
nlohmann::json dashboard_json(const ServiceIdentity& service, nlohmann::json pools,
                              std::chrono::system_clock::time_point now);
// One pool (one endpoint of a multi-endpoint pool).
nlohmann::json dashboard_pool_json(const SecureChannelPool& pool, const PoolHistory& history,
                                   const std::optional<HttpClientStats>& http,
                                   std::chrono::system_clock::time_point now);

}  // namespace securechannel::monitor
