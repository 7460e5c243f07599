// MonitoredPools::handle: which endpoint answers what (ARCHITECTURE.md "Observability
// contract", docs/openapi.yaml). Transport concerns (authentication, limits, timeouts) belong to
// MonitoringServer; this file only maps paths to content.
#include "securechannel/monitored_pools.hpp"

#include "monitor/connection_page.hpp"
#include "monitor/dashboard_assets.hpp"
#include "monitor/dashboard_json.hpp"
#include "monitor/enhanced_status_json.hpp"
#include "monitor/json_error.hpp"
#include "monitor/request_target.hpp"
#include "monitor/status_json.hpp"
#include "securechannel/pool_metrics.hpp"

#include <charconv>

namespace securechannel {

using monitor::json_error;
using nlohmann::json;

namespace {

constexpr std::string_view api_prefix = "/api/v1/secure-channel/";

MonitoringResponse json_response(unsigned status, const json& body) {
  MonitoringResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = body.dump();
  return response;
}

MonitoringResponse metrics_response(std::string text) {
  MonitoringResponse response;
  response.content_type = std::string(prometheus_content_type);
  response.body = std::move(text);
  return response;
}

bool is_known_path(std::string_view path) {
  static constexpr std::string_view fixed[] = {"/metrics", "/status/connections", "/healthz", "/readyz"};
  for (std::string_view known : fixed) {
    if (path == known) return true;
  }
  if (!path.starts_with(api_prefix)) return false;
  const std::string_view rest = path.substr(api_prefix.size());
  return rest == "status" || rest == "status/enhanced" || rest == "health" || rest == "connections" || rest == "stats" || rest == "metrics" ||
         rest == "pools" || rest == "dashboard" || rest.starts_with("connections/");
}

// The page's files carry no data, and say where the page may load from: only this server. (The
// server adds Cache-Control: no-store to every answer, so an upgraded binary's page is never stale.)
MonitoringResponse asset_response(const monitor::DashboardAsset& asset) {
  MonitoringResponse response;
  response.content_type = std::string(asset.content_type);
  response.body = std::string(asset.body);
  response.headers = {{"Content-Security-Policy",
                       "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                       "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
                      {"X-Content-Type-Options", "nosniff"},
                      {"Referrer-Policy", "no-referrer"}};
  return response;
}

bool is_read(std::string_view method) { return method == "GET" || method == "HEAD"; }

MonitoringResponse method_not_allowed(std::string_view method, const std::string& path) {
  MonitoringResponse response = json_error(405, "method_not_allowed", std::string(method) + " is not allowed on " + path);
  response.headers.emplace_back("Allow", "GET, HEAD");
  return response;
}

}  // namespace

MonitoringResponse MonitoredPools::handle(const MonitoringRequest& request) const {
  const auto target = monitor::parse_request_target(request.target);
  if (!target) return json_error(400, "bad_request", "malformed request target");
  const std::string& path = target->path;
  if (const monitor::DashboardAsset* asset = monitor::find_dashboard_asset(path)) {
    return is_read(request.method) ? asset_response(*asset) : method_not_allowed(request.method, path);
  }
  if (!is_known_path(path)) return json_error(404, "not_found", "no endpoint at " + path);
  if (!is_read(request.method)) return method_not_allowed(request.method, path);

  const auto now = std::chrono::system_clock::now();
  const std::vector<std::shared_ptr<SecureChannelPool>> pools = live_pools();

  if (path == "/metrics") return metrics_response(metrics_text());
  if (path == "/healthz" || path == "/readyz") {
    const bool readiness = path == "/readyz";
    bool all_healthy = !pools.empty();
    bool all_ready = !pools.empty();
    std::size_t active = 0;
    json each = json::array();
    for (const auto& pool : pools) {
      json health = monitor::pool_health_json(*pool, now);
      all_healthy = all_healthy && health["pool_healthy"].get<bool>();
      all_ready = all_ready && health["ready"].get<bool>();
      active += health["active_connections"].get<std::size_t>();
      each.push_back(std::move(health));
    }
    const bool all_good = readiness ? all_ready : all_healthy;
    json body = {{"status", readiness ? (all_good ? "ready" : "not_ready") : (all_good ? "healthy" : "unhealthy")},
                 {"timestamp", monitor::rfc3339_utc(now)},
                 {"pool_healthy", all_healthy},
                 {"ready", all_ready},
                 {"active_connections", active},
                 {"pools", std::move(each)}};
    if (pools.empty()) body["message"] = "no pool is monitored";
    return json_response(all_good ? 200 : 503, body);
  }
  if (path == std::string(api_prefix) + "status/enhanced") {
    monitor::ServiceIdentity service;
    {
      std::lock_guard lock(mutex_);
      service = {service_name_, started_at_};
    }
    json body = monitor::enhanced_status_json(pools, service, now);
    // As the seed's Go handler: anything but "down" still serves, so it answers 200.
    return json_response(body["status"] == "down" ? 503 : 200, body);
  }
  if (path == std::string(api_prefix) + "dashboard") return dashboard_response(now);
  if (path == std::string(api_prefix) + "pools") {
    json list = json::array();
    for (const auto& pool : pools) {
      list.push_back({{"namespace", pool->config().metric_namespace},
                      {"endpoint", pool->config().endpoint},
                      {"scheme", std::string(scheme_of(pool->config()))}});
    }
    return json_response(200, {{"pools", std::move(list)}});
  }

  // Everything below reports on one pool.
  const auto wanted_namespace = target->parameter("pool");
  const auto wanted_endpoint = target->parameter("endpoint");
  std::shared_ptr<SecureChannelPool> pool;
  for (const auto& candidate : pools) {
    if (wanted_namespace && candidate->config().metric_namespace != *wanted_namespace) continue;
    if (wanted_endpoint && candidate->config().endpoint != *wanted_endpoint) continue;
    pool = candidate;
    break;
  }
  if (!pool) {
    if (pools.empty()) return json_error(404, "not_found", "no pool is monitored");
    return json_error(404, "not_found", "no monitored pool matches the pool/endpoint query");
  }

  const std::string_view rest = std::string_view(path).substr(path.starts_with(api_prefix) ? api_prefix.size() : 0);
  // Only a pool with an exported HttpClient has an `http` object: no made-up zeros for the others.
  const auto with_http = [&](json body) {
    if (const auto http = http_client_stats(*pool)) body["http"] = monitor::http_client_json(*http);
    return body;
  };
  if (path == "/status/connections" || rest == "status") {
    return json_response(200, with_http(monitor::pool_status_json(*pool, now)));
  }
  if (rest == "health") {
    json health = monitor::pool_health_json(*pool, now);
    return json_response(health["pool_healthy"].get<bool>() ? 200 : 503, health);
  }
  if (rest == "stats") return json_response(200, with_http(monitor::pool_stats_json(*pool, now)));
  if (rest == "metrics") {
    MetricFamilies families;
    collect_pool_metrics(*pool, families);
    return metrics_response(families.render());
  }
  if (rest == "connections") {
    std::string problem;
    const auto page = monitor::ConnectionPage::from_query(*target, problem);
    if (!page) return json_error(400, "bad_request", problem);
    std::vector<ConnectionSnapshot> snapshots = pool->connection_snapshots();
    const std::size_t count = snapshots.size();
    json connections = json::array();
    for (const ConnectionSnapshot& connection : page->select(std::move(snapshots))) {
      connections.push_back(monitor::connection_json(connection));
    }
    json body = {{"endpoint", pool->config().endpoint},
                 {"scheme", std::string(scheme_of(pool->config()))},
                 {"count", count},
                 {"connections", std::move(connections)},
                 {"last_updated", monitor::rfc3339_utc(now)}};
    if (page->paged()) {
      body["offset"] = page->offset;
      body["limit"] = page->limit;
    }
    return json_response(200, body);
  }
  // connections/{id}
  const std::string_view id_text = rest.substr(std::string_view("connections/").size());
  std::uint64_t id = 0;
  const auto [end, parse_error] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (parse_error != std::errc{} || end != id_text.data() + id_text.size()) {
    return json_error(400, "bad_request", "connection id must be a non-negative integer, got '" +
                                              std::string(id_text) + "'");
  }
  for (const ConnectionSnapshot& connection : pool->connection_snapshots()) {
    if (connection.connection_id == id) return json_response(200, monitor::connection_json(connection));
  }
  return json_error(404, "not_found", "no connection " + std::to_string(id) + " in the pool for " +
                                          pool->config().endpoint);
}

MonitoringResponse MonitoredPools::dashboard_response(std::chrono::system_clock::time_point now) const {
  // A page that is open keeps the history going even where nobody calls record_history().
  record_history(now);
  monitor::ServiceIdentity service;
  {
    std::lock_guard lock(mutex_);
    service = {service_name_, started_at_};
  }
  json pools = json::array();
  for (const LivePool& live : live_pools_with_history()) {
    pools.push_back(monitor::dashboard_pool_json(*live.pool, *live.history, http_client_stats(*live.pool), now));
  }
  return json_response(200, monitor::dashboard_json(service, std::move(pools), now));
}

}  // namespace securechannel
