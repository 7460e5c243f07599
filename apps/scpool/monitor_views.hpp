// The tables `scpool status | health | connections | stats | endpoints` print: each takes the
// JSON a monitoring endpoint answered (docs/openapi.yaml) and returns text for a terminal.
// Missing fields print as "-": a newer or older server still gets a readable table.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace scpool {

std::string status_view(const nlohmann::json& enhanced_status);        // /api/v1/secure-channel/status/enhanced
std::string health_view(const nlohmann::json& health);                 // /healthz
std::string connections_view(const nlohmann::json& connection_list);   // .../connections
std::string connection_view(const nlohmann::json& connection);         // .../connections/{id}
std::string stats_view(const nlohmann::json& stats_of_each_pool);      // [.../stats?pool=..., ...]
// .../pools, /healthz, and scpool serve's .../endpoints (an empty object from other servers).
std::string endpoints_view(const nlohmann::json& pools, const nlohmann::json& health, const nlohmann::json& groups);

}  // namespace scpool
